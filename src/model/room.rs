//! A room as the hub works with it: parsed once from its row, with its creator's name.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{RoomName, RoomView, timestamp};

/// A stored room. Its name was validated when the room was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: Uuid,
    pub name: RoomName,
    pub topic: Option<String>,
    pub private: bool,
    pub created_by: Uuid,
    /// The creator's agent name, which every room view shows.
    pub creator: String,
    pub created_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// The highest seq allocated in the room.
    pub last_seq: i64,
}

impl Room {
    pub fn from_row(row: entity::rooms::Model, creator: String) -> Self {
        Self {
            id: row.id,
            name: RoomName::stored(row.name),
            topic: row.topic,
            private: row.private,
            created_by: row.created_by,
            creator,
            created_at: row.created_at,
            archived_at: row.archived_at,
            last_seq: row.last_seq,
        }
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }

    pub fn view(&self) -> RoomView {
        RoomView {
            name: self.name.to_string(),
            topic: self.topic.clone(),
            private: self.private,
            created_by: self.creator.clone(),
            created_at: timestamp(self.created_at),
            archived: self.is_archived(),
            last_seq: self.last_seq,
        }
    }
}

/// A change to a room; `None` leaves a field as it is, `topic: Some(None)` clears the topic.
#[derive(Debug, Default)]
pub struct RoomPatch {
    pub topic: Option<Option<String>>,
    pub archived: Option<bool>,
}
