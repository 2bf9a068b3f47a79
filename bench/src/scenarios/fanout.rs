//! `fanout`: one room of `receivers` sockets, one sender posting `rate` messages a second.
//! Reported: deliveries (and missing, duplicates), send → delivery latency at the receivers,
//! and the server's CPU time per delivery.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use super::{Reader, Seen, await_deliveries, now_micros, sender, tally};
use crate::rest::Rest;
use crate::server::Server;

pub struct FanoutArgs {
    pub receivers: usize,
    pub rate: u32,
    pub duration: Duration,
}

const ROOM: &str = "fanout";
/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

pub async fn run(server: &Server, rest: &Rest, args: &FanoutArgs) -> anyhow::Result<Value> {
    rest.room(ROOM).await?;
    let keys = rest
        .agents("reader", args.receivers.div_ceil(PER_AGENT))
        .await?;
    let mut receivers = Vec::with_capacity(args.receivers);
    for i in 0..args.receivers {
        let reader = Reader::join(server.addr, &keys[i / PER_AGENT], ROOM)
            .await
            .with_context(|| format!("receiver {i}"))?;
        receivers.push(reader);
    }
    let sender_key = rest.agents("writer", 1).await?.remove(0);
    let (sender, mut acks) = sender(server.addr, &sender_key, ROOM).await?;

    let before = server.usage();
    let started = Instant::now();
    let total = (args.rate as f64 * args.duration.as_secs_f64()).round() as u64;
    let every = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut refused = 0u64;
    for id in 1..=total {
        tick.tick().await;
        let body = json!({"room": ROOM, "body": format!("t:{}", now_micros())});
        sender.emit_with_ack(id, "message:send", &body.to_string());
        while let Ok((_, ok)) = acks.try_recv() {
            refused += u64::from(!ok);
        }
    }
    let sent_for = started.elapsed();
    // Let the last deliveries arrive.
    let expected = total * args.receivers as u64;
    await_deliveries(&receivers, expected).await;
    let after = server.usage();
    while let Ok((_, ok)) = acks.try_recv() {
        refused += u64::from(!ok);
    }
    let Seen {
        delivered,
        duplicates,
        latencies,
        ..
    } = tally(&receivers);
    for r in &receivers {
        r.socket.close();
    }
    let cpu = after.cpu.saturating_sub(before.cpu);
    Ok(json!({
        "receivers": args.receivers,
        "rate": args.rate,
        "seconds": sent_for.as_secs_f64(),
        "sent": total,
        "refused": refused,
        "expected": expected,
        "delivered": delivered,
        "missing": expected.saturating_sub(delivered),
        "duplicates": duplicates,
        "latency": latencies.summary(),
        "server_cpu_s": cpu.as_secs_f64(),
        "server_cpu_us_per_delivery": if delivered == 0 { 0.0 } else {
            (cpu.as_secs_f64() * 1e6 / delivered as f64 * 100.0).round() / 100.0
        },
        "server_rss_mb": after.rss_bytes / (1 << 20),
    }))
}
