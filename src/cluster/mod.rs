//! Who is online where: presence of agents in rooms, and (with Redis) the cluster.
//!
//! [`Presence`] is node-local ([`LocalPresence`]) without `REDIS_URL` and cluster-wide in
//! Redis ([`RedisPresence`]) with it; the realtime layer and REST call the same async
//! methods either way. [`redis`] holds the Redis clients and the adapter's pub/sub driver,
//! [`liveness`] the per-node heartbeat and the reaper of dead nodes.

mod drafts;
pub mod liveness;
mod presence;
pub mod redis;
mod redis_presence;

use uuid::Uuid;

pub use drafts::{DRAFT_TTL, Draft, DraftMirror};
pub use presence::{LocalPresence, RoomChange, STATUSES, TooManyConnections};
pub use redis_presence::{Reaped, RedisPresence};

use crate::model::{AgentRef, MemberView};

pub enum Presence {
    Local(LocalPresence),
    Redis(RedisPresence),
}

impl Default for Presence {
    fn default() -> Self {
        Self::Local(LocalPresence::default())
    }
}

impl Presence {
    /// Registers a connected socket of an agent, refusing more than `max` at once
    /// (cluster-wide with Redis).
    pub async fn connect(
        &self,
        agent: &AgentRef,
        sid: &str,
        max: u32,
    ) -> Result<(), TooManyConnections> {
        match self {
            Self::Local(p) => p.connect(agent, sid, max).await,
            Self::Redis(p) => p.connect(agent, sid, max).await,
        }
    }

    /// Forgets a socket: the rooms its agent left entirely.
    pub async fn disconnect(&self, agent_id: Uuid, sid: &str, rooms: &[String]) -> Vec<RoomChange> {
        match self {
            Self::Local(p) => p.disconnect(agent_id, sid, rooms).await,
            Self::Redis(p) => p.disconnect(agent_id, sid, rooms).await,
        }
    }

    /// Adds a socket to a room; `Some` for the agent's first socket there.
    pub async fn join(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        match self {
            Self::Local(p) => p.join(room, agent_id, sid).await,
            Self::Redis(p) => p.join(room, agent_id, sid).await,
        }
    }

    /// Removes a socket from a room; `Some` for the agent's last socket there.
    pub async fn leave(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        match self {
            Self::Local(p) => p.leave(room, agent_id, sid).await,
            Self::Redis(p) => p.leave(room, agent_id, sid).await,
        }
    }

    /// Takes an agent out of a room with all its sockets, on every node (a removal from a
    /// private room); `Some` when it was in.
    pub async fn evict(&self, room: &str, agent: &AgentRef) -> Option<RoomChange> {
        match self {
            Self::Local(p) => p.evict(room, agent.id).await,
            Self::Redis(p) => p.evict(room, agent).await,
        }
    }

    /// Sets an agent's status and note: its agent-wide view and its view in each room.
    pub async fn set_status(
        &self,
        agent_id: Uuid,
        status: &'static str,
        note: Option<String>,
    ) -> Option<(MemberView, Vec<RoomChange>)> {
        match self {
            Self::Local(p) => p.set_status(agent_id, status, note).await,
            Self::Redis(p) => p.set_status(agent_id, status, note).await,
        }
    }

    /// Members of a room, ordered by agent name.
    pub async fn members(&self, room: &str) -> Vec<MemberView> {
        match self {
            Self::Local(p) => p.members(room).await,
            Self::Redis(p) => p.members(room).await,
        }
    }

    /// The agent's connected sockets on every node.
    pub async fn sockets_of(&self, agent_id: Uuid) -> Vec<String> {
        match self {
            Self::Local(p) => p.sockets_of(agent_id).await,
            Self::Redis(p) => p.sockets_of(agent_id).await,
        }
    }

    /// Whether `sid` is still a connected socket of the agent, on any node.
    pub async fn has_socket(&self, agent_id: Uuid, sid: &str) -> bool {
        match self {
            Self::Local(p) => p.has_socket(agent_id, sid).await,
            Self::Redis(p) => p.has_socket(agent_id, sid).await,
        }
    }

    pub async fn is_online(&self, agent_id: Uuid) -> bool {
        match self {
            Self::Local(p) => p.is_online(agent_id).await,
            Self::Redis(p) => p.is_online(agent_id).await,
        }
    }
}
