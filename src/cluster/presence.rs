//! Node-local presence: per agent, per room, the number of its sockets.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::model::MemberView;

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Live sockets per agent.
    sockets: HashMap<Uuid, u32>,
    /// Members per room name, by agent id.
    rooms: HashMap<String, HashMap<Uuid, MemberView>>,
}

impl Presence {
    pub fn is_online(&self, agent_id: Uuid) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sockets.get(&agent_id).is_some_and(|n| *n > 0)
    }

    /// Members of a room, ordered by agent name.
    pub fn room_members(&self, room: &str) -> Vec<MemberView> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut members: Vec<MemberView> = state
            .rooms
            .get(room)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        members.sort_by(|a, b| a.agent.name.cmp(&b.agent.name));
        members
    }
}
