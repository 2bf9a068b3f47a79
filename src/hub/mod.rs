//! The hub's use cases — rooms, messages, agents, tokens — shared by REST, Socket.IO and the
//! CLI. Handlers parse and call in here; this layer decides who may do what and calls the
//! store. It knows neither HTTP nor sockets.

mod agents;
mod messages;
mod rooms;

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

pub use agents::{Actor, IssuedToken};
pub use messages::{MessageInput, Posted};

use crate::config::Settings;
use crate::store::{AuditType, NewAuditEvent, Store};

#[derive(Clone)]
pub struct Hub {
    pub store: Store,
    pub settings: Arc<Settings>,
}

impl Hub {
    pub fn new(store: Store, settings: Arc<Settings>) -> Self {
        Self { store, settings }
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
