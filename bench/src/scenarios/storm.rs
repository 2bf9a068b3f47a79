//! `storm`: a restart under load. `sockets` sockets (20 per agent) in `rooms` rooms, a REST
//! producer posting `rate` messages a second (each retried with its `client_id` until it is
//! acknowledged), then SIGTERM and a new process on the same port and data. Every socket
//! reconnects by itself — a fixed delay of `retry_ms` ± 50 % between attempts, so what is
//! measured is the server taking them back, not a client's growing backoff — and rejoins
//! its room with `since`. Reported: the drain, the new process's start, when the sockets were
//! back in their rooms after it was ready, and whether every socket saw every acknowledged
//! message of its room exactly once (missing; duplicates = one body stored under two seqs,
//! or one seq delivered twice).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::{Socket, ack_id, number_after};
use crate::rest::Rest;
use crate::server::{Server, ServerSpec};
use crate::stats::Latencies;

pub struct StormArgs {
    pub sockets: usize,
    pub rooms: usize,
    pub rate: u32,
    pub retry_ms: u64,
    /// Load before the restart, and after every socket is back.
    pub before: Duration,
    pub after: Duration,
}

/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

/// What one socket saw, over all its connections.
#[derive(Default)]
struct Seen {
    /// seq → body of every message of its room it got (live or in `missed`).
    messages: HashMap<u64, u64>,
    /// Seqs it got twice (live and in `missed`).
    redelivered: u64,
    last_seq: u64,
    /// When it was back in its room after the restart.
    back: Option<Instant>,
}

impl Seen {
    fn add(&mut self, seq: u64, body: u64) {
        if self.messages.insert(seq, body).is_some() {
            self.redelivered += 1;
        }
        self.last_seq = self.last_seq.max(seq);
    }
}

/// Shared by the socket tasks and the run.
struct Shared {
    addr: std::net::SocketAddr,
    retry: Duration,
    stop: AtomicBool,
    /// Whether the restart has begun (a join after it counts as "back").
    restarted: AtomicBool,
    refusals: AtomicU64,
}

pub async fn run(
    server: Server,
    spec: &ServerSpec,
    dir: &Path,
    rest: &Rest,
    args: &StormArgs,
) -> anyhow::Result<(Value, Server)> {
    for r in 0..args.rooms {
        rest.room(&format!("storm-{r}")).await?;
    }
    let keys = rest
        .agents("storm", args.sockets.div_ceil(PER_AGENT))
        .await?;
    let producer = rest.agents("producer", 1).await?.remove(0);
    let shared = Arc::new(Shared {
        addr: server.addr,
        retry: Duration::from_millis(args.retry_ms),
        stop: AtomicBool::new(false),
        restarted: AtomicBool::new(false),
        refusals: AtomicU64::new(0),
    });
    let (joined_tx, mut joined) = mpsc::unbounded_channel();
    let mut seen = Vec::with_capacity(args.sockets);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.sockets {
        let tally = Arc::new(Mutex::new(Seen::default()));
        seen.push((i % args.rooms, tally.clone()));
        let key = keys[i / PER_AGENT].clone();
        let room = format!("storm-{}", i % args.rooms);
        tasks.spawn(one_socket(
            shared.clone(),
            i as u64,
            key,
            room,
            tally,
            joined_tx.clone(),
        ));
        // Connect the first time at a pace the server takes without backoff.
        if i % 64 == 63 {
            for _ in 0..64 {
                joined.recv().await.context("a socket task ended")?;
            }
        }
    }
    for _ in 0..args.sockets % 64 {
        joined.recv().await.context("a socket task ended")?;
    }

    let posted = Arc::new(Mutex::new(Vec::<(usize, u64)>::new()));
    let producing = tokio::spawn(produce(
        Rest::new(server.addr, producer),
        args.rooms,
        args.rate,
        shared.clone(),
        posted.clone(),
    ));
    tokio::time::sleep(args.before).await;

    shared.restarted.store(true, Ordering::SeqCst);
    let term = Instant::now();
    let drain = server.stop().await?;
    let spawned = Instant::now();
    let server = Server::start(spec, dir).await?;
    let ready = server.ready_at;
    let deadline = ready + Duration::from_secs(30);
    loop {
        let back = seen
            .iter()
            .filter(|(_, s)| s.lock().unwrap().back.is_some())
            .count();
        if back == args.sockets {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {back} of {} sockets were back 30 s after the new process was ready",
                args.sockets
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu_until_back = server.usage().cpu;
    tokio::time::sleep(args.after).await;
    shared.stop.store(true, Ordering::SeqCst);
    producing.await??;
    // Let the last broadcasts arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let posted = std::mem::take(&mut *posted.lock().unwrap());
    let (mut missing, mut duplicates, mut redelivered) = (0u64, 0u64, 0u64);
    let mut back_after_ready = Latencies::default();
    let mut last_back = ready;
    for (room, tally) in &seen {
        let s = tally.lock().unwrap();
        let mut bodies: HashMap<u64, u32> = HashMap::new();
        for body in s.messages.values() {
            *bodies.entry(*body).or_default() += 1;
        }
        redelivered += s.redelivered;
        duplicates += bodies.values().map(|n| u64::from(n - 1)).sum::<u64>();
        missing += posted
            .iter()
            .filter(|(r, body)| r == room && !bodies.contains_key(body))
            .count() as u64;
        let back = s.back.unwrap_or(ready);
        last_back = last_back.max(back);
        back_after_ready.push(back.saturating_duration_since(ready).as_micros() as u64);
    }
    shared.stop.store(true, Ordering::SeqCst);
    tasks.abort_all();
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    Ok((
        json!({
            "sockets": args.sockets,
            "rooms": args.rooms,
            "rate": args.rate,
            "retry_ms": args.retry_ms,
            "drain_ms": ms(drain),
            "start_ms": ms(ready - spawned),
            "all_back_after_ready_ms": ms(last_back - ready),
            "all_back_after_sigterm_ms": ms(last_back - term),
            "back_after_ready": back_after_ready.summary(),
            "server_cpu_s_until_back": cpu_until_back.as_secs_f64(),
            "acked": posted.len(),
            "missing": missing,
            "duplicates": duplicates,
            "redelivered": redelivered,
            "refused": shared.refusals.load(Ordering::SeqCst),
        }),
        server,
    ))
}

/// One socket for the whole run: connects, joins its room (with `since` after the first
/// time), and reconnects whenever its connection ends.
async fn one_socket(
    shared: Arc<Shared>,
    index: u64,
    key: String,
    room: String,
    seen: Arc<Mutex<Seen>>,
    joined: mpsc::UnboundedSender<()>,
) {
    let mut attempt = index;
    let mut first = true;
    while !shared.stop.load(Ordering::SeqCst) {
        let (ack_tx, mut acks) = mpsc::unbounded_channel::<String>();
        let tally = seen.clone();
        let on_frame = move |frame: &str| {
            if frame.starts_with(r#"42["message:new""#) {
                if let (Some(seq), Some(body)) = (
                    number_after(frame, r#""seq":"#),
                    number_after(frame, r#""body":"p:"#),
                ) {
                    tally.lock().unwrap().add(seq, body);
                }
            } else if ack_id(frame).is_some() {
                let _ = ack_tx.send(frame.to_owned());
            }
        };
        let socket = match Socket::connect(shared.addr, &key, on_frame).await {
            Ok(socket) => socket,
            Err(e) => {
                if e.to_string().contains("connect_error") {
                    shared.refusals.fetch_add(1, Ordering::SeqCst);
                }
                attempt += 1;
                tokio::time::sleep(jittered(shared.retry, attempt)).await;
                continue;
            }
        };
        let since = seen.lock().unwrap().last_seq;
        let join = json!({ "room": room, "since": since });
        socket.emit_with_ack(0, "room:join", &join.to_string());
        let ack = tokio::select! {
            ack = acks.recv() => ack,
            () = socket.closed() => None,
        };
        let Some(ack) = ack.filter(|a| a.contains(r#""ok":true"#)) else {
            attempt += 1;
            tokio::time::sleep(jittered(shared.retry, attempt)).await;
            continue;
        };
        {
            let mut s = seen.lock().unwrap();
            for (seq, body) in missed(&ack) {
                s.add(seq, body);
            }
            if shared.restarted.load(Ordering::SeqCst) && s.back.is_none() {
                s.back = Some(Instant::now());
            }
        }
        if first {
            first = false;
            let _ = joined.send(());
        }
        socket.closed().await;
    }
}

/// The `(seq, body)` of each message in a `room:join` ack's `missed`.
fn missed(ack: &str) -> Vec<(u64, u64)> {
    let json = ack.find('[').map_or("", |at| &ack[at..]);
    let parsed: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    parsed[0]["missed"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| {
                    let body = m["body"].as_str()?.strip_prefix("p:")?.parse().ok()?;
                    Some((m["seq"].as_u64()?, body))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `base` ± 50 %, spread by a hash of `n` (no random source needed).
fn jittered(base: Duration, n: u64) -> Duration {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let frac = (x % 1000) as f64 / 1000.0;
    base.mul_f64(0.5 + frac)
}

/// Posts `rate` messages a second round the rooms until told to stop, each retried with its
/// `client_id` until acknowledged; records every acknowledged `(room, n)`.
async fn produce(
    rest: Rest,
    rooms: usize,
    rate: u32,
    shared: Arc<Shared>,
    posted: Arc<Mutex<Vec<(usize, u64)>>>,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        tick.tick().await;
        n += 1;
        let room = (n as usize) % rooms;
        let body = json!({"body": format!("p:{n}"), "client_id": format!("p{n}")});
        let path = format!("/rooms/storm-{room}/messages");
        let started = Instant::now();
        while rest.post(&path, body.clone()).await.is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("message {n} was not acknowledged within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        posted.lock().unwrap().push((room, n));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_messages_are_read_from_a_join_ack() {
        let ack = r#"430[{"ok":true,"room":{"last_seq":9},"missed":[{"seq":8,"body":"p:17"},{"seq":9,"body":"other"}]}]"#;
        assert_eq!(missed(ack), vec![(8, 17)]);
        assert_eq!(missed("430[{\"ok\":false}]"), vec![]);
    }

    #[test]
    fn retries_are_spread_around_the_delay() {
        let base = Duration::from_millis(100);
        let delays: Vec<_> = (0..100).map(|n| jittered(base, n)).collect();
        assert!(delays.iter().all(|d| *d >= base / 2 && *d < base * 3 / 2));
        assert!(delays.iter().any(|d| *d < base) && delays.iter().any(|d| *d > base));
    }
}
