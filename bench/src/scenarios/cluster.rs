//! `cluster`: two nodes over Redis and one PostgreSQL. One sender per room on the first
//! node, `rate` messages a second in all; in each room `readers` readers on the second node
//! and one on the first. Reported: send → delivery latency across nodes and on the sender's
//! node, delivered / missing / duplicates, and both nodes' CPU time.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{Reader, Seen, await_deliveries, now_micros, sender, tally};
use crate::rest::Rest;
use crate::server::{Server, ServerSpec};

pub struct ClusterArgs {
    pub rooms: usize,
    /// Readers per room on the second node.
    pub readers: usize,
    pub rate: u32,
    pub duration: Duration,
}

/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

pub async fn run(
    first: &Server,
    spec: &ServerSpec,
    dir: &Path,
    rest: &Rest,
    args: &ClusterArgs,
) -> anyhow::Result<Value> {
    if spec.redis.is_none() || spec.database_url.is_none() {
        bail!("cluster needs --database-url (PostgreSQL) and Redis");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let second_spec = ServerSpec {
        port,
        ..spec.clone()
    };
    let second_dir = dir.join("second");
    std::fs::create_dir_all(&second_dir)?;
    let second = Server::start(&second_spec, &second_dir).await?;

    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("cluster-{r}")).collect();
    for room in &rooms {
        rest.room(room).await?;
    }
    let keys = rest
        .agents(
            "reader",
            (args.rooms * (args.readers + 1)).div_ceil(PER_AGENT),
        )
        .await?;
    let mut key = (0..).map(|i| keys[i / PER_AGENT].clone());
    let (mut remote, mut local) = (Vec::new(), Vec::new());
    for room in &rooms {
        for _ in 0..args.readers {
            remote.push(Reader::join(second.addr, &key.next().unwrap(), room).await?);
        }
        local.push(Reader::join(first.addr, &key.next().unwrap(), room).await?);
    }
    let sender_keys = rest.agents("writer", args.rooms).await?;
    let mut senders = Vec::new();
    for (room, key) in rooms.iter().zip(&sender_keys) {
        senders.push(sender(first.addr, key, room).await.context(room.clone())?);
    }

    let (before_first, before_second) = (first.usage(), second.usage());
    let started = Instant::now();
    let total = (f64::from(args.rate) * args.duration.as_secs_f64()).round() as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut refused = 0u64;
    for id in 1..=total {
        tick.tick().await;
        let r = (id as usize) % args.rooms;
        let body = json!({"room": rooms[r], "body": format!("t:{}", now_micros())});
        senders[r]
            .0
            .emit_with_ack(id, "message:send", &body.to_string());
        for (_, acks) in &mut senders {
            while let Ok((_, ok)) = acks.try_recv() {
                refused += u64::from(!ok);
            }
        }
    }
    let sent_for = started.elapsed();
    let per_room = |r: usize| {
        (1..=total)
            .filter(|id| (*id as usize) % args.rooms == r)
            .count()
    };
    let expected_remote: u64 = (0..args.rooms)
        .map(|r| (per_room(r) * args.readers) as u64)
        .sum();
    await_deliveries(&remote, expected_remote).await;
    await_deliveries(&local, total).await;
    let (after_first, after_second) = (first.usage(), second.usage());
    for (_, acks) in &mut senders {
        while let Ok((_, ok)) = acks.try_recv() {
            refused += u64::from(!ok);
        }
    }
    let remote_seen = tally(&remote);
    let local_seen = tally(&local);
    second.stop().await?;
    let summary = |seen: Seen, expected: u64| {
        json!({
            "expected": expected,
            "delivered": seen.delivered,
            "missing": expected.saturating_sub(seen.delivered),
            "duplicates": seen.duplicates,
            "latency": seen.latencies.summary(),
        })
    };
    let delivered = remote_seen.delivered + local_seen.delivered;
    let missing = expected_remote.saturating_sub(remote_seen.delivered)
        + total.saturating_sub(local_seen.delivered);
    let duplicates = remote_seen.duplicates + local_seen.duplicates;
    let cpu = |a: crate::server::Usage, b: crate::server::Usage| {
        a.cpu.saturating_sub(b.cpu).as_secs_f64()
    };
    Ok(json!({
        "rooms": args.rooms,
        "readers_per_room": args.readers,
        "rate": args.rate,
        "seconds": sent_for.as_secs_f64(),
        "sent": total,
        "refused": refused,
        "cross_node": summary(remote_seen, expected_remote),
        "same_node": summary(local_seen, total),
        "delivered": delivered,
        "missing": missing,
        "duplicates": duplicates,
        "first_node_cpu_s": cpu(after_first, before_first),
        "second_node_cpu_s": cpu(after_second, before_second),
    }))
}
