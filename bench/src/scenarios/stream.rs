//! `stream`: `streams` concurrent streamed messages (SPEC §11) of `deltas` deltas each, one
//! every `interval`, spread over `rooms` rooms with `readers` readers in each. Reported:
//! deltas sent and delivered (missing, duplicates by index), send → delivery latency of the
//! deltas, streams ended and their messages delivered, and the server's CPU.

use std::collections::HashMap;
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

pub struct StreamArgs {
    pub streams: usize,
    pub deltas: usize,
    pub interval: Duration,
    pub rooms: usize,
    pub readers: usize,
}

/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

/// What one reader saw.
#[derive(Default)]
struct Seen {
    deltas: u64,
    duplicates: u64,
    /// The last index seen per stream id.
    last: HashMap<String, u64>,
    messages: u64,
    latencies: Latencies,
}

fn string_after<'a>(frame: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &frame[frame.find(marker)? + marker.len()..];
    Some(&rest[..rest.find('"')?])
}

async fn reader(
    server: &Server,
    key: &str,
    room: &str,
) -> anyhow::Result<(Socket, Arc<Mutex<Seen>>)> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (joined_tx, mut joined) = mpsc::unbounded_channel();
    let tally = seen.clone();
    let socket = Socket::connect(server.addr, key, move |frame| {
        if frame.starts_with(r#"42["stream:delta""#) {
            let now = now_micros();
            let (Some(id), Some(index), Some(sent)) = (
                string_after(frame, r#""id":""#),
                number_after(frame, r#""index":"#),
                number_after(frame, r#""text":"t:"#),
            ) else {
                return;
            };
            let mut t = tally.lock().unwrap();
            if t.last.get(id).is_some_and(|&last| index <= last) {
                t.duplicates += 1;
                return;
            }
            t.last.insert(id.to_owned(), index);
            t.deltas += 1;
            t.latencies.push(now.saturating_sub(sent));
        } else if frame.starts_with(r#"42["message:new""#) && frame.contains(r#""stream":"st_"#) {
            tally.lock().unwrap().messages += 1;
        } else if ack_id(frame) == Some(0) {
            let _ = joined_tx.send(frame.contains(r#""ok":true"#));
        }
    })
    .await?;
    socket.emit_with_ack(0, "room:join", &json!({ "room": room }).to_string());
    match tokio::time::timeout(Duration::from_secs(10), joined.recv()).await {
        Ok(Some(true)) => Ok((socket, seen)),
        other => bail!("could not join {room}: {other:?}"),
    }
}

/// One streamer: joins, starts, sends its deltas without acks, ends; answers whether the
/// end was acknowledged with a message.
async fn stream_one(
    server_addr: std::net::SocketAddr,
    key: String,
    room: String,
    deltas: usize,
    interval: Duration,
) -> anyhow::Result<bool> {
    let (ack_tx, mut acks) = mpsc::unbounded_channel::<(u64, String)>();
    let socket = Socket::connect(server_addr, &key, move |frame| {
        if let Some(id) = ack_id(frame) {
            let _ = ack_tx.send((id, frame.to_owned()));
        }
    })
    .await?;
    let mut ack = async |id: u64, event: &str, payload: Value| -> anyhow::Result<String> {
        socket.emit_with_ack(id, event, &payload.to_string());
        match tokio::time::timeout(Duration::from_secs(10), acks.recv()).await {
            Ok(Some((got, frame))) if got == id && frame.contains(r#""ok":true"#) => Ok(frame),
            other => bail!("{event}: {other:?}"),
        }
    };
    ack(0, "room:join", json!({ "room": room })).await?;
    let started = ack(1, "stream:start", json!({ "room": room })).await?;
    let id = string_after(&started, r#""id":""#)
        .context("a stream id")?
        .to_owned();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..deltas {
        tick.tick().await;
        let delta = json!({"id": id, "text": format!("t:{} ", now_micros())});
        socket.emit("stream:delta", &delta.to_string());
    }
    let ended = ack(2, "stream:end", json!({ "id": id })).await;
    socket.close();
    Ok(ended.is_ok_and(|f| f.contains(r#""duplicate":false"#)))
}

pub async fn run(server: &Server, rest: &Rest, args: &StreamArgs) -> anyhow::Result<Value> {
    let rooms: Vec<String> = (0..args.rooms).map(|i| format!("stream-{i}")).collect();
    for room in &rooms {
        rest.room(room).await?;
    }
    let reader_keys = rest
        .agents("reader", (args.rooms * args.readers).div_ceil(PER_AGENT))
        .await?;
    let mut readers = Vec::new();
    for (i, room) in rooms
        .iter()
        .cycle()
        .take(args.rooms * args.readers)
        .enumerate()
    {
        let r = reader(server, &reader_keys[i / PER_AGENT], room)
            .await
            .with_context(|| format!("reader {i}"))?;
        readers.push(r);
    }
    let streamer_keys = rest
        .agents("streamer", args.streams.div_ceil(PER_AGENT))
        .await?;
    let before = server.usage();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.streams {
        tasks.push(tokio::spawn(stream_one(
            server.addr,
            streamer_keys[i / PER_AGENT].clone(),
            rooms[i % args.rooms].clone(),
            args.deltas,
            args.interval,
        )));
    }
    let mut ended = 0u64;
    let mut failed = 0u64;
    for t in tasks {
        match t.await? {
            Ok(true) => ended += 1,
            Ok(false) => failed += 1,
            Err(e) => {
                eprintln!("a streamer failed: {e:#}");
                failed += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    // Per room: its streams × its readers.
    let expected_messages: u64 = (0..args.rooms)
        .map(|r| ((args.streams + args.rooms - 1 - r) / args.rooms * args.readers) as u64)
        .sum();
    let expected_deltas = expected_messages * args.deltas as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let got: u64 = readers
            .iter()
            .map(|(_, s)| s.lock().unwrap().messages)
            .sum();
        if got >= expected_messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = server.usage();
    let mut all = Seen::default();
    for (socket, seen) in &readers {
        let s = std::mem::take(&mut *seen.lock().unwrap());
        all.deltas += s.deltas;
        all.duplicates += s.duplicates;
        all.messages += s.messages;
        all.latencies.extend(s.latencies);
        socket.close();
    }
    let cpu = after.cpu.saturating_sub(before.cpu);
    let secs = elapsed.as_secs_f64();
    Ok(json!({
        "streams": args.streams,
        "deltas_per_stream": args.deltas,
        "interval_ms": args.interval.as_millis() as u64,
        "rooms": args.rooms,
        "readers_per_room": args.readers,
        "seconds": secs,
        "ended": ended,
        "refused": failed,
        "deltas_sent_per_s": ((args.streams * args.deltas) as f64 / secs).round(),
        "expected": expected_deltas,
        "delivered": all.deltas,
        "deltas_delivered_per_s": (all.deltas as f64 / secs).round(),
        "missing": expected_deltas.saturating_sub(all.deltas) + expected_messages.saturating_sub(all.messages),
        "duplicates": all.duplicates,
        "messages_delivered": all.messages,
        "latency": all.latencies.summary(),
        "server_cpu_s": cpu.as_secs_f64(),
        "server_cpu_us_per_delivery": if all.deltas == 0 { 0.0 } else {
            (cpu.as_secs_f64() * 1e6 / all.deltas as f64 * 100.0).round() / 100.0
        },
        "server_rss_mb": after.rss_bytes / (1 << 20),
    }))
}
