//! Open streams (SPEC §11) mirrored in Redis, so that `room:join` on any node lists the
//! drafts of every node with their text so far.
//!
//! The node that owns a stream holds it in memory and is the authority on it; this is a copy
//! for the others. Writes go through one queue, in order, off the sender's path (a delta
//! never waits for Redis); with Redis down they fail, are counted, and the streams still work
//! on their own node. Each stream expires from Redis [`DRAFT_TTL`] after its last write, so a
//! node killed mid-stream leaves nothing behind for long.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{REDIS_PREFIX}:s:{id}` | hash | `stream` (the stream object, JSON), `text`, `index` |
//! | `{REDIS_PREFIX}:s:r:{room}` | sorted set | stream id → when it expires (Redis ms) |

use std::time::Duration;

use fred::clients::Client;
use fred::types::scripts::Script;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::telemetry::Metrics;

/// A stream's copy lives this long after its last write: the 60 s idle limit and a margin.
pub const DRAFT_TTL: Duration = Duration::from_secs(65);
/// Writes waiting for Redis; past this they are dropped (and counted).
const QUEUE: usize = 8192;

/// An open stream as another node sees it.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The stream object of `stream:start`.
    pub stream: Value,
    pub text: String,
    /// The index of the last delta in `text` (-1 before the first).
    pub index: i64,
}

enum Op {
    Open {
        id: String,
        room: String,
        stream: String,
    },
    Feed {
        id: String,
        room: String,
        index: i64,
        text: String,
    },
    Drop {
        id: String,
        room: String,
    },
}

struct Scripts {
    put: Script,
    drop: Script,
    list: Script,
}

struct Keys {
    /// `{REDIS_PREFIX}:s:`.
    prefix: String,
}

impl Keys {
    fn stream(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
    fn room(&self, room: &str) -> String {
        format!("{}r:{room}", self.prefix)
    }
}

pub struct DraftMirror {
    client: Client,
    keys: std::sync::Arc<Keys>,
    scripts: std::sync::Arc<Scripts>,
    tx: mpsc::Sender<Op>,
    metrics: std::sync::Arc<Metrics>,
}

impl DraftMirror {
    /// Starts the writer over `client`; keys start with `{redis_prefix}:s:`.
    pub fn start(client: Client, redis_prefix: &str, metrics: std::sync::Arc<Metrics>) -> Self {
        let keys = std::sync::Arc::new(Keys {
            prefix: format!("{{{redis_prefix}}}:s:"),
        });
        let scripts = std::sync::Arc::new(Scripts {
            put: Script::from_lua(include_str!("drafts_lua/put.lua")),
            drop: Script::from_lua(include_str!("drafts_lua/drop.lua")),
            list: Script::from_lua(include_str!("drafts_lua/list.lua")),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(
            client.clone(),
            keys.clone(),
            scripts.clone(),
            rx,
            metrics.clone(),
        ));
        Self {
            client,
            keys,
            scripts,
            tx,
            metrics,
        }
    }

    fn queue(&self, op: Op) {
        if self.tx.try_send(op).is_err() {
            self.metrics.redis_errors.inc();
            tracing::warn!("redis draft queue full: a stream's copy falls behind");
        }
    }

    pub fn opened(&self, id: &str, room: &str, stream: &Value) {
        self.queue(Op::Open {
            id: id.to_owned(),
            room: room.to_owned(),
            stream: stream.to_string(),
        });
    }

    pub fn fed(&self, id: &str, room: &str, index: i64, text: &str) {
        self.queue(Op::Feed {
            id: id.to_owned(),
            room: room.to_owned(),
            index,
            text: text.to_owned(),
        });
    }

    pub fn dropped(&self, id: &str, room: &str) {
        self.queue(Op::Drop {
            id: id.to_owned(),
            room: room.to_owned(),
        });
    }

    /// The open streams of `room` on every node (empty when Redis does not answer).
    pub async fn list(&self, room: &str) -> Vec<Draft> {
        let found: Result<Vec<String>, _> = self
            .scripts
            .list
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.room(room)],
                vec![self.keys.prefix.clone()],
            )
            .await;
        match found {
            Ok(flat) => flat
                .chunks_exact(3)
                .filter_map(|c| {
                    Some(Draft {
                        stream: serde_json::from_str(&c[0]).ok()?,
                        text: c[1].clone(),
                        index: c[2].parse().unwrap_or(-1),
                    })
                })
                .collect(),
            Err(e) => {
                self.metrics.redis_errors.inc();
                tracing::warn!(error = %e, room, "cannot list the room's streams in redis");
                Vec::new()
            }
        }
    }
}

async fn write_loop(
    client: Client,
    keys: std::sync::Arc<Keys>,
    scripts: std::sync::Arc<Scripts>,
    mut rx: mpsc::Receiver<Op>,
    metrics: std::sync::Arc<Metrics>,
) {
    let ttl = DRAFT_TTL.as_millis().to_string();
    while let Some(op) = rx.recv().await {
        let (script, keys, argv) = match op {
            Op::Open { id, room, stream } => (
                &scripts.put,
                vec![keys.stream(&id), keys.room(&room)],
                vec![id, ttl.clone(), stream, "-1".into(), String::new()],
            ),
            Op::Feed {
                id,
                room,
                index,
                text,
            } => (
                &scripts.put,
                vec![keys.stream(&id), keys.room(&room)],
                vec![id, ttl.clone(), String::new(), index.to_string(), text],
            ),
            Op::Drop { id, room } => (
                &scripts.drop,
                vec![keys.stream(&id), keys.room(&room)],
                vec![id],
            ),
        };
        let done: Result<i64, _> = script.evalsha_with_reload(&client, keys, argv).await;
        if let Err(e) = done {
            metrics.redis_errors.inc();
            tracing::warn!(error = %e, "redis draft write failed");
        }
    }
}
