//! `fanout`: one room of `receivers` sockets, one sender posting `rate` messages a second.
//! Reported: deliveries (and missing, duplicates), send → delivery latency at the receivers,
//! and the server's CPU time per delivery.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::now_micros;
use crate::client::{Socket, ack_id, number_after};
use crate::rest::Rest;
use crate::server::Server;
use crate::stats::Latencies;

pub struct FanoutArgs {
    pub receivers: usize,
    pub rate: u32,
    pub duration: Duration,
}

/// What one receiver saw.
#[derive(Default)]
struct Seen {
    delivered: u64,
    duplicates: u64,
    last_seq: u64,
    latencies: Latencies,
}

const ROOM: &str = "fanout";
/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

pub async fn run(server: &Server, rest: &Rest, args: &FanoutArgs) -> anyhow::Result<Value> {
    rest.room(ROOM).await?;
    let keys = rest
        .agents("reader", args.receivers.div_ceil(PER_AGENT))
        .await?;
    let mut seen = Vec::with_capacity(args.receivers);
    let mut receivers = Vec::with_capacity(args.receivers);
    for i in 0..args.receivers {
        let tally = Arc::new(Mutex::new(Seen::default()));
        let (joined_tx, mut joined) = mpsc::unbounded_channel();
        let t = tally.clone();
        let socket = Socket::connect(server.addr, &keys[i / PER_AGENT], move |frame| {
            if frame.starts_with(r#"42["message:new""#) {
                let now = now_micros();
                let (Some(seq), Some(sent)) = (
                    number_after(frame, r#""seq":"#),
                    number_after(frame, r#""body":"t:"#),
                ) else {
                    return;
                };
                let mut t = t.lock().unwrap();
                if seq <= t.last_seq {
                    t.duplicates += 1;
                    return;
                }
                t.last_seq = seq;
                t.delivered += 1;
                t.latencies.push(now.saturating_sub(sent));
            } else if ack_id(frame) == Some(0) {
                let _ = joined_tx.send(frame.contains(r#""ok":true"#));
            }
        })
        .await
        .with_context(|| format!("receiver {i}"))?;
        socket.emit_with_ack(0, "room:join", &json!({ "room": ROOM }).to_string());
        match tokio::time::timeout(Duration::from_secs(10), joined.recv()).await {
            Ok(Some(true)) => {}
            other => bail!("receiver {i} could not join: {other:?}"),
        }
        seen.push(tally);
        receivers.push(socket);
    }
    let sender_key = rest.agents("writer", 1).await?.remove(0);
    let (ack_tx, mut acks) = mpsc::unbounded_channel();
    let sender = Socket::connect(server.addr, &sender_key, move |frame| {
        if let Some(id) = ack_id(frame) {
            let _ = ack_tx.send((id, frame.contains(r#""ok":true"#)));
        }
    })
    .await?;
    sender.emit_with_ack(0, "room:join", &json!({ "room": ROOM }).to_string());
    match tokio::time::timeout(Duration::from_secs(10), acks.recv()).await {
        Ok(Some((0, true))) => {}
        other => bail!("the sender could not join: {other:?}"),
    }

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
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let delivered: u64 = seen.iter().map(|s| s.lock().unwrap().delivered).sum();
        if delivered >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = server.usage();
    while let Ok((_, ok)) = acks.try_recv() {
        refused += u64::from(!ok);
    }
    let mut latencies = Latencies::default();
    let (mut delivered, mut duplicates) = (0u64, 0u64);
    for s in seen {
        let s = std::mem::take(&mut *s.lock().unwrap());
        delivered += s.delivered;
        duplicates += s.duplicates;
        latencies.extend(s.latencies);
    }
    for socket in &receivers {
        socket.close();
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
