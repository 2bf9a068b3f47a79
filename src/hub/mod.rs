//! The hub's use cases — rooms, messages, agents, tokens — shared by REST, Socket.IO and the
//! CLI. Handlers parse and call in here; this layer decides who may do what and calls the
//! store. It knows neither HTTP nor sockets.

mod activity;
mod agents;
mod calls;
mod cards;
mod cursors;
mod messages;
mod outbound;
mod reads;
mod rooms;
mod streams;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

pub use activity::{ACTIVITY_TTL, STATES as ACTIVITY_STATES};
pub use agents::{Actor, IssuedToken};
pub use calls::{Call, CallInput, Outcome, answer_of, caller_socket_of};
pub use cards::{CardInput, SkillInput, is_method_name};
pub use cursors::CURSOR_UPDATE_INTERVAL;
pub use messages::{MessageInput, Origin, Posted, Submitted, ValidMessage};
pub use outbound::{BoxFuture, Fanout, KickTarget, NoSockets, RoomEvent};
pub use streams::{AbortReason, STREAM_IDLE_TIMEOUT, sweep_idle_streams};

use crate::config::Settings;

use crate::model::{AuditType, MessageView, RoomName};
use crate::store::{NewAuditEvent, Store};
use crate::telemetry::Metrics;

/// At most one throttled audit event (`rate-limited`, a refused handshake's `auth-failed`)
/// of a type per IP or agent in this interval.
const THROTTLED_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Hub {
    /// The only door to the database: REST, Socket.IO and the CLI go through the hub.
    store: Store,
    pub settings: Arc<Settings>,
    /// Reaches live sockets: broadcasts and kicks.
    pub fanout: Arc<dyn Fanout>,
    /// Stored messages on their way to `fanout`, in commit order (see [`deliver_in_order`]).
    deliveries: tokio::sync::mpsc::UnboundedSender<Delivery>,
    pub metrics: Arc<Metrics>,
    /// When each type of throttled audit event was last written per IP or agent.
    throttled_audits: Arc<Mutex<Throttled>>,
    /// This node's open streams (SPEC §11).
    streams: Arc<streams::Streams>,
    /// This node's live activity states (SPEC §11).
    activity: Arc<activity::Activity>,
    /// The pacing of `cursor:update` broadcasts.
    cursor_updates: Arc<cursors::CursorUpdates>,
    /// Calls in flight from this node's sockets (SPEC §12).
    calls: Arc<calls::Calls>,
    /// Callees found for recent calls.
    callees: Arc<calls::Callees>,
}

/// What to broadcast, in order.
struct Delivery {
    room: RoomName,
    what: Broadcast,
    /// The socket it came from (it gets the ack instead).
    except: Option<String>,
}

enum Broadcast {
    /// A stored message: `message:new`.
    Message(MessageView),
    Event(RoomEvent),
}

/// Broadcasts one after another: stored messages in the order the write path committed them
/// (the senders of one batch wake in any order, so if each broadcast its own message, a
/// room's readers could see seq 5 before seq 4, and a DM overtaken by a later message), and
/// the events of SPEC §11 in the order they happened, between those messages (a stream's
/// last delta before its message, an activity's end after the message that ended it).
async fn deliver_in_order(
    fanout: Arc<dyn Fanout>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Delivery>,
) {
    while let Some(d) = queue.recv().await {
        let except = d.except.as_deref();
        match &d.what {
            Broadcast::Message(m) => fanout.deliver(&d.room, m, except).await,
            Broadcast::Event(e) => fanout.broadcast(&d.room, e, except).await,
        }
    }
}

impl Hub {
    /// Queues `event` for the room's sockets (but `except`), after every broadcast before it.
    fn broadcast(&self, room: &RoomName, event: RoomEvent, except: Option<&str>) {
        let _ = self.deliveries.send(Delivery {
            room: room.clone(),
            what: Broadcast::Event(event),
            except: except.map(str::to_owned),
        });
    }
}

/// When each throttled audit key was last written; expired keys are dropped at most once
/// per interval, not on every hit.
#[derive(Default)]
struct Throttled {
    seen: HashMap<String, Instant>,
    pruned: Option<Instant>,
}

impl Throttled {
    /// True when `key` may be written now (and records it).
    fn admit(&mut self, key: String) -> bool {
        let now = Instant::now();
        if self
            .pruned
            .is_none_or(|at| now.duration_since(at) >= THROTTLED_AUDIT_INTERVAL)
        {
            self.seen
                .retain(|_, at| now.duration_since(*at) < THROTTLED_AUDIT_INTERVAL);
            self.pruned = Some(now);
        }
        match self.seen.get(&key) {
            Some(at) if now.duration_since(*at) < THROTTLED_AUDIT_INTERVAL => false,
            _ => {
                self.seen.insert(key, now);
                true
            }
        }
    }
}

impl Hub {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        fanout: Arc<dyn Fanout>,
        metrics: Arc<Metrics>,
        drafts: Option<crate::cluster::DraftMirror>,
    ) -> Self {
        let (deliveries, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(deliver_in_order(fanout.clone(), queue));
        Self {
            store,
            settings,
            fanout,
            deliveries,
            metrics,
            throttled_audits: Arc::default(),
            streams: Arc::new(streams::Streams::new(drafts)),
            activity: Arc::default(),
            cursor_updates: Arc::default(),
            calls: Arc::default(),
            callees: Arc::default(),
        }
    }

    /// A hub over the configured database for a process that serves no sockets (the
    /// operator CLI): its fan-out is [`NoSockets`].
    pub async fn without_sockets(
        settings: Arc<Settings>,
    ) -> Result<Self, crate::store::StoreError> {
        let metrics = Arc::new(Metrics::default());
        let store = Store::open(&settings, metrics.clone()).await?;
        Ok(Self::new(
            store,
            settings,
            Arc::new(NoSockets),
            metrics,
            None,
        ))
    }

    /// Audits a rate-limit hit, at most once per minute per IP or agent, so an attack cannot
    /// flood the audit table.
    pub async fn audit_rate_limited(
        &self,
        agent_id: Option<Uuid>,
        ip: Option<String>,
        details: Value,
    ) {
        self.audit_throttled(AuditType::RateLimited, agent_id, ip, details)
            .await;
    }

    /// Appends an audit event of `kind` unless one was written for the same agent (or, with
    /// none, the same IP) within the last minute.
    pub async fn audit_throttled(
        &self,
        kind: AuditType,
        agent_id: Option<Uuid>,
        ip: Option<String>,
        details: Value,
    ) {
        // Addresses by their rate-limit key (IPv6: the /64), so rotating within one costs.
        let ip_key = ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(crate::auth::ip_key);
        let key = match (agent_id, ip_key, &ip) {
            (Some(id), _, _) => format!("{}:agent:{id}", kind.as_str()),
            (None, Some(key), _) => format!("{}:ip:{key}", kind.as_str()),
            (None, None, Some(ip)) => format!("{}:ip:{ip}", kind.as_str()),
            (None, None, None) => format!("{}:unknown", kind.as_str()),
        };
        if !self
            .throttled_audits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(key)
        {
            return;
        }
        self.audit(kind, agent_id, ip, details).await;
    }

    /// Disconnects the sockets a credential change ended, and records it.
    async fn kick(&self, target: KickTarget, reason: &str) {
        let sockets = self.fanout.kick(target).await;
        if sockets > 0 {
            let (agent_id, details) = match target {
                KickTarget::Token(id) => (
                    None,
                    json!({"reason": reason, "token_id": id, "sockets": sockets}),
                ),
                KickTarget::Agent(id) => (Some(id), json!({"reason": reason, "sockets": sockets})),
            };
            self.audit(AuditType::SocketKicked, agent_id, None, details)
                .await;
        }
    }

    /// Appends an audit event. The action it records has already happened, so a failure here
    /// is logged rather than failing the action.
    pub async fn audit(
        &self,
        kind: AuditType,
        agent_id: Option<Uuid>,
        ip: Option<String>,
        details: Value,
    ) {
        let event = NewAuditEvent {
            kind,
            agent_id,
            ip,
            details,
        };
        if let Err(e) = self.store.record_audit(event).await {
            tracing::error!(error = %e, kind = kind.as_str(), "could not write audit event");
        }
    }
}
