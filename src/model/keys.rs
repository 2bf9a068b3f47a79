//! The Socket.IO room names the hub puts sockets in, in one place: every node, the realtime
//! layer and the cluster reaper address sockets by them.

use uuid::Uuid;

/// The Socket.IO room of a hub room.
pub fn room_key(room: &str) -> String {
    format!("r:{room}")
}

/// The Socket.IO room holding every socket of an agent.
pub fn agent_key(agent_id: Uuid) -> String {
    format!("a:{agent_id}")
}

/// The Socket.IO room holding every socket of an agent, by its (immutable) name: DMs are
/// delivered by the names in the room's own name, with no database lookup.
pub fn agent_name_key(name: &str) -> String {
    format!("n:{name}")
}

/// The Socket.IO room holding every socket authenticated through one API token.
pub fn token_key(token_id: Uuid) -> String {
    format!("t:{token_id}")
}
