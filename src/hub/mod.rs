//! The hub's use cases — rooms, messages, agents, tokens — shared by REST, Socket.IO and the
//! CLI. Handlers parse and call in here; this layer decides who may do what and calls the
//! store. It knows neither HTTP nor sockets.

mod agents;
mod messages;
mod rooms;

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

pub use agents::{Actor, IssuedToken};
pub use messages::{MessageInput, Posted};

use crate::config::Settings;
use crate::realtime::{Fanout, KickTarget};
use crate::store::{AuditType, NewAuditEvent, Store};
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct Hub {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// Reaches live sockets: broadcasts and kicks.
    pub fanout: Arc<dyn Fanout>,
    pub metrics: Arc<Metrics>,
}

impl Hub {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        fanout: Arc<dyn Fanout>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            settings,
            fanout,
            metrics,
        }
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
