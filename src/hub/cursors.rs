//! Read cursors (SPEC §11): how far an agent has read a room. A cursor only moves forward;
//! its moves are broadcast as `cursor:update`, at most once a second per agent and room
//! (the last value wins: a move inside the second is sent when the second is over).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Hub, RoomEvent};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{
    AgentCursorView, AgentRef, CursorMoved, CursorView, Room, RoomName, UnreadView, timestamp,
};

/// At most one `cursor:update` per agent and room in this interval (per node).
pub const CURSOR_UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// The last `cursor:update` of each agent and room, and the move waiting for its turn.
#[derive(Default)]
pub struct CursorUpdates {
    slots: Mutex<HashMap<(Uuid, Uuid), Slot>>,
}

struct Slot {
    sent: Instant,
    /// A move that came inside the interval; sent by the timer armed for it.
    waiting: Option<(RoomName, CursorMoved)>,
}

impl Hub {
    /// Moves the caller's cursor in a room it may read, as read just now (`seq` at most its
    /// `last_seq`);
    /// a lower seq answers the stored cursor. `socket` (the one that moved it) gets no
    /// `cursor:update`.
    pub async fn set_cursor(
        &self,
        caller: &Caller,
        room: &Room,
        seq: i64,
        socket: Option<&str>,
    ) -> Result<CursorView> {
        if seq < 0 {
            return Err(Error::bad_request("seq must be 0 or more"));
        }
        // `room` was read just now (`readable_room`): its `last_seq` is current.
        if seq > room.last_seq {
            return Err(Error::bad_request(format!(
                "seq is past the room's last_seq ({})",
                room.last_seq
            )));
        }
        let (stored, moved) = self
            .store
            .advance_cursor(caller.agent.id, room.id, seq)
            .await?;
        if moved {
            let event = CursorMoved {
                room: room.name.to_string(),
                agent: AgentRef::from_model(&caller.agent),
                seq: stored.seq,
            };
            self.cursor_moved(room, event, socket);
        }
        Ok(CursorView {
            room: room.name.to_string(),
            seq: stored.seq,
            updated_at: timestamp(stored.updated_at),
        })
    }

    /// Broadcasts a move now, or once the agent's last one in the room is a second old.
    fn cursor_moved(&self, room: &Room, event: CursorMoved, socket: Option<&str>) {
        let key = (event.agent.id, room.id);
        let now = Instant::now();
        let mut slots = self
            .cursor_updates
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, s| {
            s.waiting.is_some() || now.duration_since(s.sent) < CURSOR_UPDATE_INTERVAL
        });
        match slots.get_mut(&key) {
            None => {
                slots.insert(
                    key,
                    Slot {
                        sent: now,
                        waiting: None,
                    },
                );
                drop(slots);
                self.broadcast(&room.name, RoomEvent::CursorMoved(event), socket);
            }
            Some(slot) => {
                let armed = slot.waiting.is_some();
                slot.waiting = Some((room.name.clone(), event));
                if armed {
                    return;
                }
                let due = slot.sent + CURSOR_UPDATE_INTERVAL;
                drop(slots);
                let hub = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(due.into()).await;
                    hub.send_waiting_cursor(key);
                });
            }
        }
    }

    fn send_waiting_cursor(&self, key: (Uuid, Uuid)) {
        let waiting = {
            let mut slots = self
                .cursor_updates
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let Some(slot) = slots.get_mut(&key) else {
                return;
            };
            slot.sent = Instant::now();
            slot.waiting.take()
        };
        // Sent to every socket of the room: the one that moved it may be among several.
        if let Some((room, event)) = waiting {
            self.broadcast(&room, RoomEvent::CursorMoved(event), None);
        }
    }

    /// The agent's own cursor in a room (`room:join`'s `cursor`).
    pub async fn cursor_of(&self, agent_id: Uuid, room: &Room) -> Result<Option<i64>> {
        Ok(self.store.cursor(agent_id, room.id).await?.map(|c| c.seq))
    }

    /// Every agent's cursor in a room, by agent name.
    pub async fn room_cursors(&self, room: &Room) -> Result<Vec<AgentCursorView>> {
        Ok(self
            .store
            .room_cursors(room.id)
            .await?
            .into_iter()
            .map(|(c, a)| AgentCursorView {
                agent: AgentRef::from_model(&a),
                seq: c.seq,
                updated_at: timestamp(c.updated_at),
            })
            .collect())
    }

    /// `GET /me/unread`: every room the caller is a member of or has a cursor in.
    pub async fn unread(&self, caller: &Caller) -> Result<Vec<UnreadView>> {
        Ok(self
            .store
            .cursor_rooms(caller.agent.id, caller.is_admin())
            .await?
            .into_iter()
            .map(|(room, cursor)| {
                let cursor = cursor.unwrap_or(0);
                UnreadView {
                    room: room.name,
                    last_seq: room.last_seq,
                    cursor,
                    unread: (room.last_seq - cursor).max(0),
                }
            })
            .collect())
    }
}
