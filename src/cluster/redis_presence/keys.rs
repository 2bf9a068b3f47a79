//! The names of presence's Redis keys, in one place. Every key starts with
//! `{REDIS_PREFIX}:p:`: the braces are a Redis Cluster hash tag, so all of one hub's presence
//! lives in one slot and a script may touch any of it.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `a:{agent}` | hash | `name`, `dn`, `status`, `note`, `since` (online since) |
//! | `a:{agent}:s` | set | the agent's socket ids, every node (the cap counts these) |
//! | `a:{agent}:r` | set | rooms where the agent has a socket |
//! | `r:{room}` | hash | agent id → since (when its first socket joined) |
//! | `r:{room}:{agent}` | set | the agent's socket ids in the room |
//! | `n:{node}` | hash | socket id → `{"agent","rooms"}`: what a dead node leaves behind |
//! | `nodes` | sorted set | node id → last heartbeat (Redis time, ms) |
//! | `reaper` | string | the reaper lock (`SET NX PX`) |
//!
//! Two scripts (`set_status`, `members`) walk from one key to keys they find in it (an
//! agent's rooms, a room's agents); they get the prefix and build those names the same way
//! as here (`lua/*.lua`).

use uuid::Uuid;

pub struct Keys {
    /// `{REDIS_PREFIX}:p:`.
    prefix: String,
}

impl Keys {
    pub fn new(redis_prefix: &str) -> Self {
        Self {
            prefix: format!("{{{redis_prefix}}}:p:"),
        }
    }

    /// The prefix, for the scripts that build key names from what they read.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn agent(&self, agent: Uuid) -> String {
        format!("{}a:{agent}", self.prefix)
    }

    pub fn agent_sockets(&self, agent: Uuid) -> String {
        format!("{}a:{agent}:s", self.prefix)
    }

    pub fn agent_rooms(&self, agent: Uuid) -> String {
        format!("{}a:{agent}:r", self.prefix)
    }

    pub fn room(&self, room: &str) -> String {
        format!("{}r:{room}", self.prefix)
    }

    pub fn room_agent(&self, room: &str, agent: Uuid) -> String {
        format!("{}r:{room}:{agent}", self.prefix)
    }

    pub fn node(&self, node: &str) -> String {
        format!("{}n:{node}", self.prefix)
    }

    pub fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    pub fn reaper(&self) -> String {
        format!("{}reaper", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_hubs_hash_tag() {
        let keys = Keys::new("hub");
        let agent = Uuid::nil();
        for key in [
            keys.agent(agent),
            keys.agent_sockets(agent),
            keys.agent_rooms(agent),
            keys.room("dm:a:b"),
            keys.room_agent("lobby", agent),
            keys.node("n1"),
            keys.nodes(),
            keys.reaper(),
        ] {
            assert!(key.starts_with("{hub}:p:"), "{key}");
        }
        assert_eq!(
            keys.room_agent("lobby", agent),
            format!("{{hub}}:p:r:lobby:{agent}")
        );
    }
}
