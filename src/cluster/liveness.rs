//! Node liveness (SPEC §8): every node writes a heartbeat every 2 s; every node looks for
//! nodes whose heartbeat is older than 8 s (one at a time, under a `SET NX` lock) and removes
//! their sockets from presence, handing what they left to `announce` (the realtime layer
//! emits `presence:leave` through the adapter, so every node's sockets see it) — within 15 s
//! of a node's death. A node starting with the id of a previous run (`NODE_ID`) first removes
//! what that run left behind.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::redis_presence::HEARTBEAT_EVERY;
use super::{Presence, Reaped, RedisPresence};

/// Before serving: clears what an earlier run with this node id left, then registers.
pub async fn start<F: Future<Output = ()>>(
    presence: &RedisPresence,
    announce: impl Fn(Vec<Reaped>) -> F,
) {
    match presence.reap_node(presence.node_id()).await {
        Ok(reaped) => {
            if !reaped.is_empty() {
                tracing::info!(
                    agents = reaped.len(),
                    "removed presence left by this node's previous run"
                );
            }
            announce(reaped).await;
        }
        Err(e) => presence.note_failure("start-up cleanup", &e),
    }
    if let Err(e) = presence.heartbeat().await {
        presence.note_failure("heartbeat", &e);
    }
}

/// Heartbeats and reaping until shutdown.
pub async fn run<F: Future<Output = ()>>(
    presence: Arc<Presence>,
    announce: impl Fn(Vec<Reaped>) -> F,
    shutdown: CancellationToken,
) {
    let Presence::Redis(p) = &*presence else {
        return;
    };
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = p.heartbeat().await {
            p.note_failure("heartbeat", &e);
            continue;
        }
        match p.reap_dead_nodes().await {
            Ok(reaped) => announce(reaped).await,
            Err(e) => p.note_failure("reaper", &e),
        }
    }
}
