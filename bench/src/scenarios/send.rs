//! `send`: durable sends with acks. Each socket joins one of `rooms` rooms and keeps
//! `inflight` `message:send`s outstanding for the whole run; reported: acknowledged sends per
//! second and the send → ack latency, over the measured window after a warm-up.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::{Socket, ack_id};
use crate::rest::Rest;
use crate::server::Server;
use crate::stats::Latencies;

pub struct SendArgs {
    pub sockets: usize,
    pub rooms: usize,
    pub inflight: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// One socket's outcome.
#[derive(Default)]
struct Tally {
    acked: u64,
    refused: u64,
    latencies: Latencies,
}

pub async fn run(server: &Server, rest: &Rest, args: &SendArgs) -> anyhow::Result<Value> {
    for r in 0..args.rooms {
        rest.room(&format!("send-{r}")).await?;
    }
    let keys = rest.agents("sender", args.sockets).await?;
    let start = Instant::now() + Duration::from_millis(500);
    let measure_from = start + args.warmup;
    let measure_until = measure_from + args.duration;
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let room = format!("send-{}", i % args.rooms);
        let (tx, rx) = mpsc::unbounded_channel();
        let socket = Socket::connect(server.addr, key, move |frame| {
            if let Some(id) = ack_id(frame) {
                let _ = tx.send((id, frame.contains(r#""ok":true"#)));
            }
        })
        .await
        .with_context(|| format!("socket {i}"))?;
        let inflight = args.inflight;
        tasks.push(tokio::spawn(async move {
            one_socket(
                socket,
                rx,
                room,
                inflight,
                start,
                measure_from,
                measure_until,
            )
            .await
        }));
    }
    let before = server.usage();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await??;
        total.acked += tally.acked;
        total.refused += tally.refused;
        total.latencies.extend(tally.latencies);
    }
    let after = server.usage();
    let secs = args.duration.as_secs_f64();
    let batched = server
        .metric("message_write_batch_size_sum")
        .await
        .unwrap_or(0.0);
    let batches = server
        .metric("message_write_batch_size_count")
        .await
        .unwrap_or(0.0);
    Ok(json!({
        "sockets": args.sockets,
        "rooms": args.rooms,
        "inflight": args.inflight,
        "seconds": secs,
        "acked": total.acked,
        "refused": total.refused,
        "msgs_per_s": (total.acked as f64 / secs).round(),
        "latency": total.latencies.summary(),
        "server_cpu_s": (after.cpu.saturating_sub(before.cpu)).as_secs_f64(),
        "write_batch_avg": if batches > 0.0 { (batched / batches * 10.0).round() / 10.0 } else { 0.0 },
        "server_rss_mb": after.rss_bytes / (1 << 20),
    }))
}

async fn one_socket(
    socket: Socket,
    mut acks: mpsc::UnboundedReceiver<(u64, bool)>,
    room: String,
    inflight: usize,
    start: Instant,
    measure_from: Instant,
    measure_until: Instant,
) -> anyhow::Result<Tally> {
    let timeout = Duration::from_secs(10);
    socket.emit_with_ack(0, "room:join", &json!({ "room": room }).to_string());
    match tokio::time::timeout(timeout, acks.recv()).await {
        Ok(Some((0, true))) => {}
        other => bail!("room:join was not acknowledged: {other:?}"),
    }
    tokio::time::sleep_until(start.into()).await;
    let payload = |id: u64| {
        json!({"room": room, "body": "a durable message of a benchmark run", "client_id": format!("c{id}")})
            .to_string()
    };
    let mut sent_at = std::collections::HashMap::with_capacity(inflight * 2);
    let mut next = 1u64;
    for _ in 0..inflight {
        sent_at.insert(next, Instant::now());
        socket.emit_with_ack(next, "message:send", &payload(next));
        next += 1;
    }
    let mut tally = Tally::default();
    while !sent_at.is_empty() {
        let (id, ok) = match tokio::time::timeout(timeout, acks.recv()).await {
            Ok(Some(ack)) => ack,
            _ => bail!("{} sends were not acknowledged within 10 s", sent_at.len()),
        };
        let Some(at) = sent_at.remove(&id) else {
            continue;
        };
        let now = Instant::now();
        if at >= measure_from && now <= measure_until {
            if ok {
                tally.acked += 1;
                tally.latencies.push((now - at).as_micros() as u64);
            } else {
                tally.refused += 1;
            }
        } else if !ok {
            tally.refused += 1;
        }
        if now < measure_until {
            sent_at.insert(next, Instant::now());
            socket.emit_with_ack(next, "message:send", &payload(next));
            next += 1;
        }
    }
    socket.close();
    Ok(tally)
}
