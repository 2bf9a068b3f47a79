//! Domain types shared by every layer: validated names, rooms, roles, audit types, JSON views.
//! Depends on nothing of ours but the generated entities.

mod audit;
mod keys;
mod names;
mod room;
mod views;

pub use audit::{AuditFilter, AuditType};
pub use keys::{agent_key, agent_name_key, room_key, token_key};
pub use names::{AgentName, RoomName};
pub use room::{Room, RoomPatch};
pub use views::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an agent may do (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Create rooms, join public rooms and its private rooms, send, DM, manage its own tokens.
    Agent,
    /// Join and read; no send, no DM.
    Observer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            "observer" => Some(Role::Observer),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self != Role::Observer
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| format!("unknown role {s:?} (admin, agent or observer)"))
    }
}

/// RFC 3339 UTC with milliseconds and a `Z`, the one timestamp format of the API.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
