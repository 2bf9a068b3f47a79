//! Activity (SPEC §11): what an agent is doing in a room — typing, thinking, calling a tool.
//! Never stored: a state lives [`ACTIVITY_TTL`] unless set again, and ends early with
//! `idle`, the agent's next message in the room, or its last socket leaving the room (then
//! readers get `activity` with `state: "idle"`). States are held by the node where they were
//! set; readers also see each state's `expires_at` and drop it by themselves then.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use super::{Hub, RoomEvent};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{ActivityView, AgentRef, Room, RoomName, timestamp};

/// How long a state lasts unless set again.
pub const ACTIVITY_TTL: Duration = Duration::from_secs(10);
/// `detail` may not exceed this many characters.
pub const MAX_DETAIL_CHARS: usize = 140;
/// The states of `activity:set`.
pub const STATES: [&str; 4] = ["typing", "thinking", "tool", "idle"];

/// The live (non-idle) states set on this node, by agent and room.
#[derive(Default)]
pub struct Activity {
    live: Mutex<HashMap<(Uuid, String), Instant>>,
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), Instant>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a state until `until` (`None`: idle, the state ends).
    fn set(&self, agent: Uuid, room: &str, until: Option<Instant>) {
        let mut live = self.lock();
        let now = Instant::now();
        live.retain(|_, until| *until > now);
        match until {
            Some(until) => live.insert((agent, room.to_owned()), until),
            None => live.remove(&(agent, room.to_owned())),
        };
    }

    /// Ends the agent's live state in the room, if it has one: the `idle` readers get.
    /// Called for every message: with no live state anywhere (the usual case) it allocates
    /// nothing.
    pub fn end(&self, agent: &AgentRef, room: &str) -> Option<ActivityView> {
        let mut live = self.lock();
        if live.is_empty() {
            return None;
        }
        let until = live.remove(&(agent.id, room.to_owned()))?;
        drop(live);
        (until > Instant::now()).then(|| idle(room, agent))
    }
}

fn idle(room: &str, agent: &AgentRef) -> ActivityView {
    ActivityView {
        room: room.to_owned(),
        agent: agent.clone(),
        state: "idle",
        detail: None,
        expires_at: timestamp(Utc::now()),
    }
}

impl Hub {
    /// `activity:set` from a socket in the room: broadcast to the room but that socket.
    /// Answers when the state expires.
    pub fn set_activity(
        &self,
        caller: &Caller,
        room: &Room,
        state: &str,
        detail: Option<String>,
        socket: &str,
    ) -> Result<String> {
        let Some(state) = STATES.iter().copied().find(|s| *s == state) else {
            return Err(Error::bad_request(
                "state must be typing, thinking, tool or idle",
            ));
        };
        if let Some(d) = &detail
            && (d.chars().count() > MAX_DETAIL_CHARS || d.contains('\0'))
        {
            return Err(Error::bad_request(
                "detail must be at most 140 characters without U+0000",
            ));
        }
        let agent = AgentRef::from_model(&caller.agent);
        let (until, expires) = if state == "idle" {
            (None, Utc::now())
        } else {
            let ttl = chrono::Duration::from_std(ACTIVITY_TTL).unwrap_or_default();
            (Some(Instant::now() + ACTIVITY_TTL), Utc::now() + ttl)
        };
        self.activity.set(agent.id, room.name.as_str(), until);
        let expires_at = timestamp(expires);
        let view = ActivityView {
            room: room.name.to_string(),
            agent,
            state,
            detail,
            expires_at: expires_at.clone(),
        };
        self.broadcast(&room.name, RoomEvent::Activity(view), Some(socket));
        Ok(expires_at)
    }

    /// The agent's last socket left the room: its live state there ends.
    pub fn activity_left(&self, agent: &AgentRef, room: &str) {
        if let Some(idle) = self.activity.end(agent, room)
            && let Ok(name) = RoomName::parse(room)
        {
            self.broadcast(&name, RoomEvent::Activity(idle), None);
        }
    }
}
