//! The JSON shapes of SPEC §3, used by REST and Socket.IO alike.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Role, timestamp};

/// `agent` — an agent as REST shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: String,
    pub disabled: bool,
    /// Present in `GET /agents` and `GET /agents/{name}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
}

/// `ref` — an agent inside messages and presence.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct AgentRef {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomView {
    pub name: String,
    pub topic: Option<String>,
    pub private: bool,
    /// The creator's agent name.
    pub created_by: String,
    pub created_at: String,
    pub archived: bool,
    pub last_seq: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub room: String,
    pub seq: i64,
    pub sender: AgentRef,
    pub body: String,
    pub metadata: Option<Value>,
    pub client_id: Option<String>,
    pub created_at: String,
    /// The seq of the message of this room it answers (SPEC §11 threads).
    pub reply_to: Option<i64>,
    /// How many messages answer this one, counted when read.
    pub reply_count: i64,
    /// The stream this message finished, if it was streamed (SPEC §11).
    pub stream: Option<String>,
}

/// `member` — an agent present in a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberView {
    pub agent: AgentRef,
    /// `online`, `away` or `busy`.
    pub status: String,
    pub note: Option<String>,
    pub connections: u32,
    pub since: String,
}

/// An API token as listed (the key itself is never stored, so never shown again).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A freshly created token: the only time its key is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedTokenView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub key: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub agent_id: Option<Uuid>,
    pub ip: Option<String>,
    pub details: Value,
    pub created_at: String,
}

impl AgentView {
    pub fn from_model(a: &entity::agents::Model) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
            display_name: a.display_name.clone(),
            role: Role::parse(&a.role).unwrap_or(Role::Observer),
            created_at: timestamp(a.created_at),
            disabled: a.disabled_at.is_some(),
            online: None,
        }
    }
}

impl AgentRef {
    pub fn from_model(a: &entity::agents::Model) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
            display_name: a.display_name.clone(),
        }
    }
}

impl TokenView {
    pub fn from_model(t: &entity::api_tokens::Model) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: timestamp(t.created_at),
            expires_at: t.expires_at.map(timestamp),
            last_used_at: t.last_used_at.map(timestamp),
            revoked_at: t.revoked_at.map(timestamp),
        }
    }
}

impl MessageView {
    /// The message with `reply_count` 0: set it from [`crate::store::Store::reply_counts`]
    /// where the message may have replies.
    pub fn from_model(room: &str, m: entity::messages::Model, sender: AgentRef) -> Self {
        Self {
            id: m.id,
            room: room.to_owned(),
            seq: m.seq,
            sender,
            body: m.body,
            metadata: m.metadata,
            client_id: m.client_id,
            created_at: timestamp(m.created_at),
            reply_to: m.reply_to,
            reply_count: 0,
            stream: m.stream,
        }
    }
}

/// `stream` — a message being streamed (SPEC §11): `stream:start`'s ack and broadcast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamView {
    /// Opaque, made by the server.
    pub id: String,
    pub room: String,
    pub sender: AgentRef,
    pub metadata: Option<Value>,
    pub reply_to: Option<i64>,
    pub started_at: String,
}

/// An open stream with its text so far (`room:join`'s `streams`).
#[derive(Debug, Clone, Serialize)]
pub struct DraftView {
    /// The fields of the [`StreamView`].
    #[serde(flatten)]
    pub stream: Value,
    pub text: String,
    /// The index of the last delta in `text`, -1 before the first: the next delta has
    /// `index + 1`.
    pub index: i64,
}

/// `stream:delta` as readers get it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamDelta {
    pub id: String,
    pub room: String,
    pub index: i64,
    pub text: String,
}

/// `stream:abort` as readers get it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamAborted {
    pub id: String,
    pub room: String,
    pub reason: String,
}

/// `activity` — what an agent is doing in a room (SPEC §11), never stored.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
    pub room: String,
    pub agent: AgentRef,
    /// `typing`, `thinking`, `tool` or `idle`.
    pub state: &'static str,
    pub detail: Option<String>,
    pub expires_at: String,
}

/// The caller's read cursor in a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CursorView {
    pub room: String,
    pub seq: i64,
    pub updated_at: String,
}

/// `cursor:update`: an agent read a room up to `seq`.
#[derive(Debug, Clone, Serialize)]
pub struct CursorMoved {
    pub room: String,
    pub agent: AgentRef,
    pub seq: i64,
}

/// One agent's cursor in a room (`GET /rooms/{name}/cursors`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentCursorView {
    pub agent: AgentRef,
    pub seq: i64,
    pub updated_at: String,
}

/// A room in `GET /me/unread`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnreadView {
    pub room: String,
    pub last_seq: i64,
    /// 0 when the agent has no cursor in the room.
    pub cursor: i64,
    /// `last_seq - cursor`.
    pub unread: i64,
}

/// `card` — what an agent can do (SPEC §12).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardView {
    pub agent: AgentRef,
    pub description: Option<String>,
    pub version: Option<String>,
    /// `[{"id","name","description"?,"tags"?}]`.
    pub skills: Value,
    pub methods: Vec<String>,
    pub updated_at: String,
}
