//! Node-local presence: for each agent its sockets, status and note; for each room the
//! sockets each agent has in it. Async methods, so a shared (Redis) implementation can
//! stand behind the same calls.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{AgentRef, MemberView, timestamp};

/// `online`, `away` or `busy`.
pub const STATUSES: [&str; 3] = ["online", "away", "busy"];

#[derive(Default)]
pub struct LocalPresence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    agents: HashMap<Uuid, AgentEntry>,
    /// Room name → agent id → that agent's sockets in the room.
    rooms: HashMap<String, HashMap<Uuid, RoomEntry>>,
}

struct AgentEntry {
    agent: AgentRef,
    sockets: HashSet<String>,
    status: &'static str,
    note: Option<String>,
    online_since: DateTime<Utc>,
}

struct RoomEntry {
    sockets: HashSet<String>,
    since: DateTime<Utc>,
}

/// The socket cap was reached.
#[derive(Debug)]
pub struct TooManyConnections;

/// What a change did, for the events it must cause.
#[derive(Debug)]
pub struct RoomChange {
    pub room: String,
    /// The agent as a member after the change (before it, for a leave).
    pub member: MemberView,
}

impl State {
    fn member(&self, room: &str, agent_id: Uuid) -> Option<MemberView> {
        let agent = self.agents.get(&agent_id)?;
        let entry = self.rooms.get(room)?.get(&agent_id)?;
        Some(MemberView {
            agent: agent.agent.clone(),
            status: agent.status.to_owned(),
            note: agent.note.clone(),
            connections: entry.sockets.len() as u32,
            since: timestamp(entry.since),
        })
    }

    /// Removes a socket from a room; `Some` with the agent's last member view when it was
    /// the agent's last socket there.
    fn leave(&mut self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let before = self.member(room, agent_id)?;
        let members = self.rooms.get_mut(room)?;
        let entry = members.get_mut(&agent_id)?;
        if !entry.sockets.remove(sid) || !entry.sockets.is_empty() {
            return None;
        }
        members.remove(&agent_id);
        if members.is_empty() {
            self.rooms.remove(room);
        }
        Some(RoomChange {
            room: room.to_owned(),
            member: before,
        })
    }
}

impl LocalPresence {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connected socket of an agent, refusing more than `max` at once.
    pub async fn connect(
        &self,
        agent: &AgentRef,
        sid: &str,
        max: u32,
    ) -> Result<(), TooManyConnections> {
        let mut state = self.lock();
        let entry = state.agents.entry(agent.id).or_insert_with(|| AgentEntry {
            agent: agent.clone(),
            sockets: HashSet::new(),
            status: "online",
            note: None,
            online_since: Utc::now(),
        });
        if entry.sockets.len() as u32 >= max {
            if entry.sockets.is_empty() {
                state.agents.remove(&agent.id);
            }
            return Err(TooManyConnections);
        }
        entry.sockets.insert(sid.to_owned());
        Ok(())
    }

    /// Forgets a socket: leaves its rooms (returning those the agent left entirely) and,
    /// with the agent's last socket, its status and note.
    pub async fn disconnect(&self, agent_id: Uuid, sid: &str, rooms: &[String]) -> Vec<RoomChange> {
        let mut state = self.lock();
        let left = rooms
            .iter()
            .filter_map(|room| state.leave(room, agent_id, sid))
            .collect();
        if let Some(entry) = state.agents.get_mut(&agent_id) {
            entry.sockets.remove(sid);
            if entry.sockets.is_empty() {
                state.agents.remove(&agent_id);
            }
        }
        left
    }

    /// Adds a socket to a room; `Some` when it is the agent's first socket there.
    pub async fn join(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        let mut state = self.lock();
        let entry = state
            .rooms
            .entry(room.to_owned())
            .or_default()
            .entry(agent_id)
            .or_insert_with(|| RoomEntry {
                sockets: HashSet::new(),
                since: Utc::now(),
            });
        let first = entry.sockets.is_empty();
        entry.sockets.insert(sid.to_owned());
        if !first {
            return None;
        }
        state.member(room, agent_id).map(|member| RoomChange {
            room: room.to_owned(),
            member,
        })
    }

    /// Removes a socket from a room; `Some` when it was the agent's last socket there.
    pub async fn leave(&self, room: &str, agent_id: Uuid, sid: &str) -> Option<RoomChange> {
        self.lock().leave(room, agent_id, sid)
    }

    /// Takes an agent out of a room with all its sockets; `Some` when it was in.
    pub async fn evict(&self, room: &str, agent_id: Uuid) -> Option<RoomChange> {
        let mut state = self.lock();
        let before = state.member(room, agent_id)?;
        let members = state.rooms.get_mut(room)?;
        members.remove(&agent_id);
        if members.is_empty() {
            state.rooms.remove(room);
        }
        Some(RoomChange {
            room: room.to_owned(),
            member: before,
        })
    }

    /// Sets an agent's status and note. Returns the agent-wide member view (all its
    /// sockets, online since) and its member view in each room it is in.
    pub async fn set_status(
        &self,
        agent_id: Uuid,
        status: &'static str,
        note: Option<String>,
    ) -> Option<(MemberView, Vec<RoomChange>)> {
        let mut state = self.lock();
        let entry = state.agents.get_mut(&agent_id)?;
        entry.status = status;
        entry.note = note;
        let overall = MemberView {
            agent: entry.agent.clone(),
            status: status.to_owned(),
            note: entry.note.clone(),
            connections: entry.sockets.len() as u32,
            since: timestamp(entry.online_since),
        };
        let rooms: Vec<String> = state
            .rooms
            .iter()
            .filter(|(_, members)| members.contains_key(&agent_id))
            .map(|(room, _)| room.clone())
            .collect();
        let changes = rooms
            .into_iter()
            .filter_map(|room| {
                let member = state.member(&room, agent_id)?;
                Some(RoomChange { room, member })
            })
            .collect();
        Some((overall, changes))
    }

    /// Members of a room, ordered by agent name.
    pub async fn members(&self, room: &str) -> Vec<MemberView> {
        let state = self.lock();
        let mut members: Vec<MemberView> = state
            .rooms
            .get(room)
            .map(|m| m.keys().filter_map(|id| state.member(room, *id)).collect())
            .unwrap_or_default();
        members.sort_by(|a, b| a.agent.name.cmp(&b.agent.name));
        members
    }

    pub async fn is_online(&self, agent_id: Uuid) -> bool {
        self.lock().agents.contains_key(&agent_id)
    }

    pub async fn sockets_of(&self, agent_id: Uuid) -> Vec<String> {
        self.lock()
            .agents
            .get(&agent_id)
            .map(|a| a.sockets.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub async fn has_socket(&self, agent_id: Uuid, sid: &str) -> bool {
        self.lock()
            .agents
            .get(&agent_id)
            .is_some_and(|a| a.sockets.contains(sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> AgentRef {
        AgentRef {
            id: Uuid::now_v7(),
            name: name.into(),
            display_name: name.into(),
        }
    }

    #[tokio::test]
    async fn presence_counts_an_agent_once_across_its_sockets() {
        let p = LocalPresence::default();
        let amy = agent("amy");
        p.connect(&amy, "s1", 2).await.unwrap();
        p.connect(&amy, "s2", 2).await.unwrap();
        assert!(p.connect(&amy, "s3", 2).await.is_err());
        assert!(
            p.join("lobby", amy.id, "s1").await.is_some(),
            "first socket joins"
        );
        assert!(
            p.join("lobby", amy.id, "s2").await.is_none(),
            "second socket is silent"
        );
        let members = p.members("lobby").await;
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].connections, 2);
        assert!(p.leave("lobby", amy.id, "s1").await.is_none());
        let left = p.disconnect(amy.id, "s2", &["lobby".into()]).await;
        assert_eq!(left.len(), 1, "the last socket leaving is a leave");
        assert!(p.members("lobby").await.is_empty());
        assert!(p.is_online(amy.id).await, "s1 is still connected");
        p.disconnect(amy.id, "s1", &[]).await;
        assert!(!p.is_online(amy.id).await);
    }

    #[tokio::test]
    async fn status_belongs_to_the_agent_and_resets_when_it_goes() {
        let p = LocalPresence::default();
        let amy = agent("amy");
        p.connect(&amy, "s1", 5).await.unwrap();
        p.join("a", amy.id, "s1").await;
        p.join("b", amy.id, "s1").await;
        let (overall, rooms) = p
            .set_status(amy.id, "busy", Some("deep work".into()))
            .await
            .unwrap();
        assert_eq!(overall.status, "busy");
        assert_eq!(rooms.len(), 2);
        assert_eq!(p.members("b").await[0].note.as_deref(), Some("deep work"));
        p.disconnect(amy.id, "s1", &["a".into(), "b".into()]).await;
        p.connect(&amy, "s2", 5).await.unwrap();
        p.join("a", amy.id, "s2").await;
        assert_eq!(p.members("a").await[0].status, "online");
        assert_eq!(p.members("a").await[0].note, None);
    }
}
