//! The audit trail's vocabulary (SPEC §3): event types and the filter of a listing.

use uuid::Uuid;

/// The audit event types of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditType {
    JwtIssued,
    AuthFailed,
    AgentCreated,
    AgentUpdated,
    TokenCreated,
    TokenRevoked,
    RoomCreated,
    RoomUpdated,
    RateLimited,
    SocketKicked,
}

impl AuditType {
    pub const ALL: [AuditType; 10] = [
        Self::JwtIssued,
        Self::AuthFailed,
        Self::AgentCreated,
        Self::AgentUpdated,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::RoomCreated,
        Self::RoomUpdated,
        Self::RateLimited,
        Self::SocketKicked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JwtIssued => "jwt-issued",
            Self::AuthFailed => "auth-failed",
            Self::AgentCreated => "agent-created",
            Self::AgentUpdated => "agent-updated",
            Self::TokenCreated => "token-created",
            Self::TokenRevoked => "token-revoked",
            Self::RoomCreated => "room-created",
            Self::RoomUpdated => "room-updated",
            Self::RateLimited => "rate-limited",
            Self::SocketKicked => "socket-kicked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Which audit events a listing returns, newest first.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub kind: Option<AuditType>,
    pub agent_id: Option<Uuid>,
    /// Events with a smaller id than this (newest first paging).
    pub before_id: Option<i64>,
}
