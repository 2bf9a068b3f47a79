//! The Redis connections of a node (SPEC §8) and the pub/sub driver of the Socket.IO adapter.
//!
//! Two fred clients: a [`SubscriberClient`] for the adapter's sharded pub/sub and a plain
//! [`Client`] for presence and liveness. Both speak RESP3 (set in code: fred's URL parser
//! ignores `?protocol=resp3`, and sharded pub/sub needs it), reconnect forever, and time
//! commands out after [`COMMAND_TIMEOUT`] so a Redis outage never hangs a request.
//!
//! [`HubDriver`] replaces socketioxide-redis' stock `FredDriver`, which (0.4.4):
//! - propagates a failed `SPUBLISH` to `CustomRedisAdapter::broadcast`, which then returns
//!   before its local delivery: with Redis down a broadcast reached nobody, not even the
//!   sockets of this node. Here a publish that fails is logged and counted and reported as
//!   sent, so the adapter still delivers locally (and `num_serv` reports this node alone, so
//!   requests expecting answers from other nodes finish at once with the local part);
//! - drops messages on a full per-channel buffer with only a log line: here they are counted
//!   (`redis_dropped_messages_total`);
//! - does not resubscribe after a reconnect, and fred's own `manage_subscriptions()` does not
//!   either for shard channels (see [`resubscribe_on_reconnect`]): here every tracked
//!   `SSUBSCRIBE` is re-issued after each reconnect.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config, ReconnectPolicy};
use fred::types::RespVersion;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{broadcast, mpsc};

use crate::telemetry::Metrics;

/// Pub/sub messages fred may hold for the driver before the slowest reader loses some.
const PUBSUB_CAPACITY: usize = 8192;

/// Longest a Redis command may take before it fails (an outage must not hang requests).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Both clients of a node, connected.
#[derive(Clone)]
pub struct RedisClients {
    pub commands: Client,
    pub subscriber: SubscriberClient,
}

fn builder(url: &str) -> Result<Builder, fred::error::Error> {
    let mut config = Config::from_url(url)?;
    // Sharded pub/sub (SPUBLISH/SSUBSCRIBE) needs RESP3; the URL cannot set it.
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    builder
        // Retry forever, every 500 ms: Redis coming back must be picked up by itself.
        .set_policy(ReconnectPolicy::new_constant(0, 500))
        .with_performance_config(|p| {
            p.default_command_timeout = COMMAND_TIMEOUT;
            // fred hands pub/sub messages to the driver through a broadcast channel of 32 by
            // default: a burst of cross-node calls (SPEC §12: a request and its answers per
            // call) overran it and lost messages (`redis_dropped_messages_total`).
            p.broadcast_channel_capacity = PUBSUB_CAPACITY;
        })
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 1;
        });
    Ok(builder)
}

impl RedisClients {
    /// Connects both clients; fails when Redis cannot be reached at start-up.
    pub async fn connect(url: &str) -> Result<Self, fred::error::Error> {
        let b = builder(url)?;
        let commands = b.build()?;
        let subscriber = b.build_subscriber_client()?;
        commands.init().await?;
        Ok(Self {
            commands,
            subscriber,
        })
    }

    /// True when Redis answers a PING in time.
    pub async fn ping(&self) -> bool {
        if !self.commands.is_connected() {
            return false;
        }
        matches!(
            tokio::time::timeout(COMMAND_TIMEOUT, self.commands.ping::<String>(None)).await,
            Ok(Ok(_))
        )
    }
}

/// A failure of the driver (subscribing and unsubscribing only: publishing never fails).
#[derive(Debug)]
pub struct DriverError(fred::error::Error);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for DriverError {}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// The adapter's pub/sub over fred's subscriber client; see the module docs for why it is
/// not the stock driver.
#[derive(Clone)]
pub struct HubDriver {
    handlers: Handlers,
    conn: SubscriberClient,
    metrics: Arc<Metrics>,
}

impl HubDriver {
    /// Starts routing messages, connects, and keeps subscriptions across reconnects.
    pub async fn new(
        conn: SubscriberClient,
        metrics: Arc<Metrics>,
    ) -> Result<Self, fred::error::Error> {
        let handlers: Handlers = Arc::default();
        tokio::spawn(route_messages(
            conn.message_rx(),
            handlers.clone(),
            metrics.clone(),
        ));
        conn.init().await?;
        tokio::spawn(resubscribe_on_reconnect(conn.clone(), metrics.clone()));
        Ok(Self {
            handlers,
            conn,
            metrics,
        })
    }
}

/// Re-issues `SSUBSCRIBE` for every tracked shard channel after each reconnect.
///
/// Not fred's `manage_subscriptions()`: its `resubscribe_all` (fred 10.1) first sends
/// `SUBSCRIBE` with the (empty) list of plain channels, which Redis refuses ("wrong number of
/// arguments"), and returns that error before it reaches the shard channels — so after a
/// Redis restart the adapter would never hear from other nodes again.
async fn resubscribe_on_reconnect(conn: SubscriberClient, metrics: Arc<Metrics>) {
    let mut reconnected = conn.reconnect_rx();
    loop {
        match reconnected.recv().await {
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
        let channels: Vec<String> = conn
            .tracked_shard_channels()
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        let mut failed = 0;
        for chan in &channels {
            if let Err(e) = conn.ssubscribe(chan.as_str()).await {
                failed += 1;
                metrics.redis_errors.inc();
                tracing::warn!(error = %e, chan, "redis: resubscribing failed");
            }
        }
        tracing::info!(
            channels = channels.len(),
            failed,
            "redis pub/sub reconnected; channels resubscribed"
        );
    }
}

/// Hands each received message to its channel's stream; counts what does not fit.
async fn route_messages(
    mut rx: broadcast::Receiver<fred::types::Message>,
    handlers: Handlers,
    metrics: Arc<Metrics>,
) {
    loop {
        match rx.recv().await {
            Ok(msg) => {
                let chan = msg.channel.to_string();
                let Some(data) = msg.value.into_owned_bytes() else {
                    continue;
                };
                let tx = handlers
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&chan)
                    .cloned();
                match tx {
                    Some(tx) => {
                        if let Err(e) = tx.try_send((chan, data)) {
                            metrics.redis_dropped_messages.inc();
                            tracing::warn!(error = %e, "redis adapter dropped a message");
                        }
                    }
                    None => tracing::debug!(chan, "message on a channel without a handler"),
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                metrics.redis_dropped_messages.inc_by(n);
                tracing::warn!(lost = n, "redis pub/sub receiver lagged");
            }
        }
    }
}

impl Driver for HubDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        // Reported as sent either way: the adapter delivers locally only after a successful
        // publish, and local delivery must go on while Redis is down.
        if !self.conn.is_connected() {
            self.metrics.redis_errors.inc();
            tracing::debug!("redis down: broadcast delivered on this node only");
            return Ok(());
        }
        if let Err(e) = self.conn.spublish::<u16, _, _>(chan, val).await {
            self.metrics.redis_errors.inc();
            tracing::warn!(error = %e, "redis publish failed: delivered on this node only");
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        // Registered first: a message arriving right after SSUBSCRIBE has a handler.
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.conn.ssubscribe(chan.as_str()).await {
            self.handlers
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&chan);
            return Err(DriverError(e));
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        self.conn.sunsubscribe(chan).await.map_err(DriverError)
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        if !self.conn.is_connected() {
            return Ok(1);
        }
        match self.conn.pubsub_shardnumsub::<(String, u16), _>(chan).await {
            Ok((_, n)) => Ok(n.max(1)),
            Err(e) => {
                self.metrics.redis_errors.inc();
                tracing::warn!(error = %e, "redis: cannot count nodes; answering for this one");
                Ok(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};
    use std::time::Duration;

    use fred::prelude::Server;
    use fred::types::{Message, MessageKind};
    use tokio::sync::{broadcast, mpsc};

    use super::route_messages;
    use crate::telemetry::Metrics;

    fn message(body: &str) -> Message {
        Message {
            channel: "chan".into(),
            kind: MessageKind::SMessage,
            value: body.into(),
            server: Server::new("127.0.0.1", 6379),
        }
    }

    #[tokio::test]
    async fn a_full_channel_buffer_drops_and_counts_instead_of_panicking() {
        let (pubsub, rx) = broadcast::channel(16);
        let (tx, mut stream) = mpsc::channel(1);
        let handlers = Arc::new(RwLock::new(HashMap::from([("chan".to_owned(), tx)])));
        let metrics = Arc::new(Metrics::default());
        let router = tokio::spawn(route_messages(rx, handlers, metrics.clone()));
        for body in ["one", "two", "three"] {
            pubsub.send(message(body)).unwrap();
        }
        let first = tokio::time::timeout(Duration::from_secs(1), stream.recv())
            .await
            .unwrap();
        assert_eq!(first.unwrap().1, b"one");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            metrics.redis_dropped_messages.get(),
            2,
            "the overflow is counted"
        );
        // Routing goes on after the overflow.
        pubsub.send(message("four")).unwrap();
        let next = tokio::time::timeout(Duration::from_secs(1), stream.recv())
            .await
            .unwrap();
        assert_eq!(next.unwrap().1, b"four");
        assert!(!router.is_finished());
    }
}
