//! One file per scenario; each prints what it measured as one JSON object. What several
//! use: the clock in message bodies, and readers that join a room and tally what arrives.

pub mod call;
pub mod cluster;
pub mod fanout;
pub mod idle;
pub mod send;
pub mod storm;
pub mod stream;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Socket, ack_id, number_after};
use crate::stats::Latencies;

/// Microseconds since the benchmark started: the clock senders write into message bodies and
/// receivers read back (both are this process).
pub fn now_micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// What a reader saw of its room's `message:new`s, whose bodies are `t:<now_micros()>`.
#[derive(Default)]
pub struct Seen {
    pub delivered: u64,
    pub duplicates: u64,
    last_seq: u64,
    pub latencies: Latencies,
}

/// A socket in one room, tallying what it receives.
pub struct Reader {
    pub socket: Socket,
    pub seen: Arc<Mutex<Seen>>,
}

impl Reader {
    /// Connects with `key` and joins `room` (waiting for the ack).
    pub async fn join(addr: SocketAddr, key: &str, room: &str) -> anyhow::Result<Reader> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (joined_tx, mut joined) = mpsc::unbounded_channel();
        let tally = seen.clone();
        let socket = Socket::connect(addr, key, move |frame| {
            if frame.starts_with(r#"42["message:new""#) {
                let now = now_micros();
                let (Some(seq), Some(sent)) = (
                    number_after(frame, r#""seq":"#),
                    number_after(frame, r#""body":"t:"#),
                ) else {
                    return;
                };
                let mut t = tally.lock().unwrap();
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
        .await?;
        socket.emit_with_ack(0, "room:join", &json!({ "room": room }).to_string());
        match tokio::time::timeout(Duration::from_secs(10), joined.recv()).await {
            Ok(Some(true)) => Ok(Reader { socket, seen }),
            other => bail!("could not join {room}: {other:?}"),
        }
    }
}

/// The sum of what `readers` saw: delivered, duplicates, latencies.
pub fn tally<'a>(readers: impl IntoIterator<Item = &'a Reader>) -> Seen {
    let mut all = Seen::default();
    for r in readers {
        let s = std::mem::take(&mut *r.seen.lock().unwrap());
        all.delivered += s.delivered;
        all.duplicates += s.duplicates;
        all.latencies.extend(s.latencies);
    }
    all
}

/// Waits until `readers` got `expected` messages in all, or 10 s passed.
pub async fn await_deliveries(readers: &[Reader], expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let delivered: u64 = readers
            .iter()
            .map(|r| r.seen.lock().unwrap().delivered)
            .sum();
        if delivered >= expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A socket that joins `room` to send into it, and the channel of its acks `(id, ok)`.
pub async fn sender(
    addr: SocketAddr,
    key: &str,
    room: &str,
) -> anyhow::Result<(Socket, mpsc::UnboundedReceiver<(u64, bool)>)> {
    let (ack_tx, mut acks) = mpsc::unbounded_channel();
    let socket = Socket::connect(addr, key, move |frame| {
        if let Some(id) = ack_id(frame) {
            let _ = ack_tx.send((id, frame.contains(r#""ok":true"#)));
        }
    })
    .await?;
    socket.emit_with_ack(0, "room:join", &json!({ "room": room }).to_string());
    match tokio::time::timeout(Duration::from_secs(10), acks.recv()).await {
        Ok(Some((0, true))) => Ok((socket, acks)),
        other => bail!("the sender could not join {room}: {other:?}"),
    }
}
