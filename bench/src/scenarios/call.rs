//! `call`: calls between agents (SPEC §12). `callers` sockets each keep `inflight` calls to
//! one callee agent outstanding for `duration`; the callee's `callees` sockets answer every
//! `rpc:request` at once with its params. With `--cross-node` (Redis and PostgreSQL) the
//! callee's sockets are on a second node. Reported: calls a second, round-trip latency
//! (`rpc:call` → its ack), refused calls, and the nodes' CPU.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::now_micros;
use crate::client::{Socket, ack_id, number_after};
use crate::rest::Rest;
use crate::server::{Server, ServerSpec};
use crate::stats::Latencies;

pub struct CallArgs {
    pub callers: usize,
    pub inflight: usize,
    pub callees: usize,
    pub duration: Duration,
    pub cross_node: bool,
}

/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;
const CALLEE: &str = "callee-0";

/// A callee socket: answers `42<id>["rpc:request",{…,"params":P,…}]` with `3<id>[{"ok":true,"result":P}]`.
async fn callee(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<Socket> {
    let me: Arc<OnceLock<Socket>> = Arc::default();
    let socket_of = me.clone();
    let socket = Socket::connect(addr, key, move |frame| {
        let Some(rest) = frame.strip_prefix("42") else {
            return;
        };
        let Some(open) = rest.find('[') else { return };
        let Ok(id) = rest[..open].parse::<u64>() else {
            return;
        };
        if !rest[open..].starts_with(r#"["rpc:request""#) {
            return;
        }
        let params = number_after(frame, r#""params":"#).unwrap_or(0);
        if let Some(s) = socket_of.get() {
            s.ack(id, &json!({"ok": true, "result": params}).to_string());
        }
    })
    .await?;
    let _ = me.set(socket.clone());
    Ok(socket)
}

struct Tally {
    ok: u64,
    refused: u64,
    /// Refusals by error code.
    codes: std::collections::BTreeMap<String, u64>,
    /// Calls whose ack never came (the caller gave up after 10 s of silence).
    lost: u64,
    latencies: Latencies,
}

pub async fn run(
    first: &Server,
    spec: &ServerSpec,
    dir: &Path,
    rest: &Rest,
    args: &CallArgs,
) -> anyhow::Result<Value> {
    let second = if args.cross_node {
        if spec.redis.is_none() || spec.database_url.is_none() {
            bail!("call --cross-node needs --database-url (PostgreSQL) and Redis");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let second_dir = dir.join("second");
        std::fs::create_dir_all(&second_dir)?;
        Some(
            Server::start(
                &ServerSpec {
                    port,
                    ..spec.clone()
                },
                &second_dir,
            )
            .await?,
        )
    } else {
        None
    };
    let callee_keys = rest.agents("callee", 1).await?;
    rest.card(CALLEE, &["echo"]).await?;
    let callee_addr = second.as_ref().map_or(first.addr, |s| s.addr);
    let mut callees = Vec::new();
    for _ in 0..args.callees.min(PER_AGENT) {
        callees.push(callee(callee_addr, &callee_keys[0]).await?);
    }
    let caller_keys = rest
        .agents("caller", args.callers.div_ceil(PER_AGENT))
        .await?;
    let tally = Arc::new(Mutex::new(Tally {
        ok: 0,
        refused: 0,
        codes: Default::default(),
        lost: 0,
        latencies: Latencies::default(),
    }));
    let before = (first.usage(), second.as_ref().map(Server::usage));
    let started = Instant::now();
    let until = started + args.duration;
    let mut tasks = Vec::new();
    for i in 0..args.callers {
        let key = caller_keys[i / PER_AGENT].clone();
        let tally = tally.clone();
        let (inflight, addr) = (args.inflight, first.addr);
        tasks.push(tokio::spawn(async move {
            let (tx, mut acks) = mpsc::unbounded_channel::<(u64, Option<String>)>();
            let socket = Socket::connect(addr, &key, move |frame| {
                if let Some(id) = ack_id(frame) {
                    let refused = (!frame.contains(r#""ok":true"#)).then(|| {
                        let code = frame.split(r#""code":""#).nth(1).unwrap_or("?");
                        code.split('"').next().unwrap_or("?").to_owned()
                    });
                    let _ = tx.send((id, refused));
                }
            })
            .await?;
            let sent_at: Arc<Mutex<std::collections::HashMap<u64, u64>>> = Arc::default();
            let call = |id: u64| {
                let body = json!({"to": CALLEE, "method": "echo", "params": id});
                sent_at.lock().unwrap().insert(id, now_micros());
                socket.emit_with_ack(id, "rpc:call", &body.to_string());
            };
            let mut next = 1u64;
            for _ in 0..inflight {
                call(next);
                next += 1;
            }
            let mut open = inflight;
            while open > 0 {
                let Ok(Some((id, refused))) =
                    tokio::time::timeout(Duration::from_secs(10), acks.recv()).await
                else {
                    tally.lock().unwrap().lost += open as u64;
                    break;
                };
                open -= 1;
                let sent = sent_at.lock().unwrap().remove(&id);
                {
                    let mut t = tally.lock().unwrap();
                    match refused {
                        None => {
                            t.ok += 1;
                            if let Some(sent) = sent {
                                t.latencies.push(now_micros().saturating_sub(sent));
                            }
                        }
                        Some(code) => {
                            t.refused += 1;
                            *t.codes.entry(code).or_default() += 1;
                        }
                    }
                }
                if Instant::now() < until {
                    call(next);
                    next += 1;
                    open += 1;
                }
            }
            socket.close();
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed();
    let after = (first.usage(), second.as_ref().map(Server::usage));
    for c in &callees {
        c.close();
    }
    if let Some(second) = second {
        second.stop().await?;
    }
    let t = std::mem::replace(
        &mut *tally.lock().unwrap(),
        Tally {
            ok: 0,
            refused: 0,
            codes: Default::default(),
            lost: 0,
            latencies: Latencies::default(),
        },
    );
    let cpu = |a: crate::server::Usage, b: crate::server::Usage| {
        a.cpu.saturating_sub(b.cpu).as_secs_f64()
    };
    Ok(json!({
        "callers": args.callers,
        "inflight": args.inflight,
        "callee_sockets": callees.len(),
        "cross_node": args.cross_node,
        "seconds": elapsed.as_secs_f64(),
        "acked": t.ok,
        "refused": t.refused,
        "refused_by_code": t.codes,
        "missing": t.lost,
        "calls_per_s": (t.ok as f64 / elapsed.as_secs_f64()).round(),
        "latency": t.latencies.summary(),
        "first_node_cpu_s": cpu(after.0, before.0),
        "second_node_cpu_s": match (after.1, before.1) {
            (Some(a), Some(b)) => json!(cpu(a, b)),
            _ => Value::Null,
        },
    }))
}
