//! The socket protocol as code (docs/protocol.md): every event name, the payload of every
//! request, the ack envelope and the payloads the server sends. Handlers take the request
//! types and return the ack types; nothing else in `realtime` spells an event name or
//! builds an ack by hand.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, ErrorBody, ErrorCode, Result};
use crate::hub::{MessageInput, Posted};
use crate::model::{
    AgentRef, CursorView, DraftView, MemberView, MessageView, RoomView, StreamView,
};

/// Events a client sends (each may carry an ack callback).
pub mod client {
    pub const ROOM_JOIN: &str = "room:join";
    pub const ROOM_LEAVE: &str = "room:leave";
    pub const MESSAGE_SEND: &str = "message:send";
    pub const MESSAGE_HISTORY: &str = "message:history";
    pub const DM_SEND: &str = "dm:send";
    pub const PRESENCE_SET: &str = "presence:set";
    pub const PRESENCE_LIST: &str = "presence:list";
    pub const AUTH_REFRESH: &str = "auth:refresh";
    pub const STREAM_START: &str = "stream:start";
    pub const STREAM_DELTA: &str = "stream:delta";
    pub const STREAM_END: &str = "stream:end";
    pub const STREAM_ABORT: &str = "stream:abort";
    pub const ACTIVITY_SET: &str = "activity:set";
    pub const CURSOR_SET: &str = "cursor:set";
    pub const RPC_CALL: &str = "rpc:call";
    pub const RPC_CANCEL: &str = "rpc:cancel";
    pub const RPC_PROGRESS: &str = "rpc:progress";
}

/// Events the server sends.
pub mod server {
    pub const MESSAGE_NEW: &str = "message:new";
    pub const PRESENCE_JOIN: &str = "presence:join";
    pub const PRESENCE_LEAVE: &str = "presence:leave";
    pub const PRESENCE_UPDATE: &str = "presence:update";
    pub const ROOM_REMOVED: &str = "room:removed";
    pub const AUTH_EXPIRING: &str = "auth:expiring";
    pub const HUB_ERROR: &str = "hub:error";
    pub const STREAM_START: &str = "stream:start";
    pub const STREAM_DELTA: &str = "stream:delta";
    pub const STREAM_ABORT: &str = "stream:abort";
    pub const ACTIVITY: &str = "activity";
    pub const CURSOR_UPDATE: &str = "cursor:update";
    pub const RPC_ACCEPTED: &str = "rpc:accepted";
    pub const RPC_REQUEST: &str = "rpc:request";
    pub const RPC_CANCEL: &str = "rpc:cancel";
    pub const RPC_PROGRESS: &str = "rpc:progress";
}

// ---- requests ----------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct JoinRequest {
    pub room: String,
    /// The last seq the client has: what came after it is in the ack's `missed`.
    pub since: Option<i64>,
}

#[derive(Deserialize)]
pub struct LeaveRequest {
    pub room: String,
}

#[derive(Deserialize)]
pub struct SendRequest {
    pub room: String,
    #[serde(flatten)]
    pub message: MessageInput,
}

#[derive(Deserialize)]
pub struct DmRequest {
    pub to: String,
    #[serde(flatten)]
    pub message: MessageInput,
}

#[derive(Deserialize)]
pub struct HistoryRequest {
    pub room: String,
    /// Page the replies to this seq (SPEC §11 threads).
    pub thread: Option<i64>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Deserialize)]
pub struct PresenceSetRequest {
    pub status: String,
    pub note: Option<String>,
}

#[derive(Deserialize)]
pub struct PresenceListRequest {
    pub room: String,
}

#[derive(Deserialize)]
pub struct RefreshRequest {
    pub token: String,
}

#[derive(Deserialize)]
pub struct StreamStartRequest {
    pub room: String,
    pub metadata: Option<Value>,
    pub reply_to: Option<i64>,
}

#[derive(Deserialize)]
pub struct StreamDeltaRequest {
    pub id: String,
    pub text: String,
}

#[derive(Deserialize)]
pub struct StreamEndRequest {
    pub id: String,
    pub client_id: Option<String>,
}

#[derive(Deserialize)]
pub struct StreamAbortRequest {
    pub id: String,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
pub struct ActivitySetRequest {
    pub room: String,
    pub state: String,
    pub detail: Option<String>,
}

#[derive(Deserialize)]
pub struct CancelRequest {
    pub id: String,
}

#[derive(Deserialize)]
pub struct ProgressRequest {
    pub id: String,
    #[serde(default)]
    pub data: Value,
}

#[derive(Deserialize)]
pub struct CursorSetRequest {
    pub room: String,
    pub seq: i64,
}

// ---- acks --------------------------------------------------------------------------------

/// The ack of every event: `{"ok": true, …fields of T}` or `{"ok": false, "error": {…}}`.
pub struct Ack<'a, T>(pub &'a Result<T>);

#[derive(Serialize)]
struct Accepted<'a, T> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct Refused {
    ok: bool,
    error: ErrorBody,
}

impl<T: Serialize> Serialize for Ack<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Ok(body) => Accepted { ok: true, body }.serialize(s),
            Err(e) => Refused {
                ok: false,
                error: e.body(),
            }
            .serialize(s),
        }
    }
}

/// An ack with nothing but `ok`.
#[derive(Serialize)]
pub struct Done {}

#[derive(Serialize)]
pub struct JoinAck {
    pub room: RoomView,
    pub members: Vec<MemberView>,
    pub missed: Vec<MessageView>,
    pub missed_truncated: bool,
    /// The room's open streams with their text so far, on every node.
    pub streams: Vec<DraftView>,
    /// The joining agent's read cursor in the room.
    pub cursor: Option<i64>,
}

#[derive(Serialize)]
pub struct CallAck {
    pub result: Value,
}

#[derive(Serialize)]
pub struct StreamAck {
    pub stream: StreamView,
}

#[derive(Serialize)]
pub struct DeltaAck {
    pub index: i64,
}

#[derive(Serialize)]
pub struct ActivityAck {
    pub expires_at: String,
}

#[derive(Serialize)]
pub struct CursorAck {
    pub cursor: CursorView,
}

#[derive(Serialize)]
pub struct SendAck {
    pub message: MessageView,
    pub duplicate: bool,
}

impl From<Posted> for SendAck {
    fn from(Posted { message, duplicate }: Posted) -> Self {
        Self { message, duplicate }
    }
}

#[derive(Serialize)]
pub struct HistoryAck {
    pub messages: Vec<MessageView>,
    pub has_more: bool,
}

#[derive(Serialize)]
pub struct MemberAck {
    pub member: MemberView,
}

#[derive(Serialize)]
pub struct MembersAck {
    pub members: Vec<MemberView>,
}

#[derive(Serialize)]
pub struct RefreshAck {
    pub expires_at: String,
}

// ---- server events -----------------------------------------------------------------------

/// `presence:join` and `presence:update`.
#[derive(Serialize)]
pub struct MemberChanged<'a> {
    pub room: &'a str,
    pub member: &'a MemberView,
}

/// `presence:leave`.
#[derive(Serialize)]
pub struct MemberLeft<'a> {
    pub room: &'a str,
    pub agent: &'a AgentRef,
}

/// `room:removed`.
#[derive(Serialize)]
pub struct RoomRemoved<'a> {
    pub room: &'a str,
}

/// `auth:expiring`.
#[derive(Serialize)]
pub struct AuthExpiring {
    pub expires_at: String,
}

/// `hub:error`: the outcome of a failed event sent without an ack callback.
#[derive(Serialize)]
pub struct HubError<'a> {
    pub event: &'a str,
    pub code: ErrorCode,
    pub message: &'a str,
}

impl<'a> HubError<'a> {
    pub fn new(event: &'a str, e: &'a Error) -> Self {
        Self {
            event,
            code: e.code,
            message: e.message.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_carry_ok_beside_their_fields() {
        let ok: Result<RefreshAck> = Ok(RefreshAck {
            expires_at: "t".into(),
        });
        assert_eq!(
            serde_json::to_value(Ack(&ok)).unwrap(),
            serde_json::json!({"ok": true, "expires_at": "t"})
        );
        let done: Result<Done> = Ok(Done {});
        assert_eq!(
            serde_json::to_value(Ack(&done)).unwrap(),
            serde_json::json!({"ok": true})
        );
        let refused: Result<Done> = Err(Error::rate_limited(250));
        assert_eq!(
            serde_json::to_value(Ack(&refused)).unwrap(),
            serde_json::json!({"ok": false, "error": {
                "code": "rate_limited", "message": Error::rate_limited(250).message, "retry_after_ms": 250
            }})
        );
    }
}
