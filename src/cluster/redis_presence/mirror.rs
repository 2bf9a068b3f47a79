//! This node's own sockets and their rooms, kept beside Redis: presence answers from it when
//! Redis fails, and writes it back when Redis comes back empty.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::AgentRef;

/// One socket of this node.
struct LocalSocket {
    agent: AgentRef,
    rooms: BTreeSet<String>,
}

/// A socket as its node's record in Redis (`n:{node}`) keeps it, for the reaper.
#[derive(Serialize, Deserialize)]
pub struct SocketRecord {
    pub agent: Uuid,
    pub rooms: Vec<String>,
}

#[derive(Default)]
pub struct Mirror(Mutex<HashMap<String, LocalSocket>>);

impl Mirror {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, LocalSocket>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn connect(&self, sid: &str, agent: &AgentRef) {
        let socket = LocalSocket {
            agent: agent.clone(),
            rooms: BTreeSet::new(),
        };
        self.lock().insert(sid.to_owned(), socket);
    }

    /// Forgets a socket; its agent, if it was here.
    pub fn disconnect(&self, sid: &str) -> Option<AgentRef> {
        self.lock().remove(sid).map(|s| s.agent)
    }

    /// Adds (or with `joined: false` removes) a room of a socket; the socket's agent.
    pub fn set_room(&self, sid: &str, room: &str, joined: bool) -> Option<AgentRef> {
        let mut sockets = self.lock();
        let socket = sockets.get_mut(sid)?;
        if joined {
            socket.rooms.insert(room.to_owned());
        } else {
            socket.rooms.remove(room);
        }
        Some(socket.agent.clone())
    }

    /// Takes every socket of `agent` out of `room`.
    pub fn evict(&self, agent: Uuid, room: &str) {
        for socket in self.lock().values_mut() {
            if socket.agent.id == agent {
                socket.rooms.remove(room);
            }
        }
    }

    /// The socket's node record, as JSON (`null` for a socket not here).
    pub fn record(&self, sid: &str) -> String {
        let sockets = self.lock();
        let record = sockets.get(sid).map(|s| SocketRecord {
            agent: s.agent.id,
            rooms: s.rooms.iter().cloned().collect(),
        });
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// The agent, when it has a socket here.
    pub fn agent(&self, agent: Uuid) -> Option<AgentRef> {
        self.lock()
            .values()
            .find(|s| s.agent.id == agent)
            .map(|s| s.agent.clone())
    }

    /// How many sockets the agent has here.
    pub fn sockets_of(&self, agent: Uuid) -> usize {
        self.lock().values().filter(|s| s.agent.id == agent).count()
    }

    /// Every socket: id, agent, rooms.
    pub fn snapshot(&self) -> Vec<(String, AgentRef, Vec<String>)> {
        self.lock()
            .iter()
            .map(|(sid, s)| {
                let rooms = s.rooms.iter().cloned().collect();
                (sid.clone(), s.agent.clone(), rooms)
            })
            .collect()
    }
}
