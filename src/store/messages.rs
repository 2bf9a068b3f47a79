//! Messages: the write path that assigns each room's gap-free `seq`, and history pages.
//!
//! `enqueue_message` takes an owned `NewMessage` and answers a `SendOutcome`; callers never
//! see the transaction, which `write/` shares between concurrent sends (group commit).

use entity::{agents, messages};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use super::{Store, StoreResult};

pub struct NewMessage {
    pub room_id: Uuid,
    pub sender_id: Uuid,
    pub body: String,
    pub metadata: Option<Value>,
    pub client_id: Option<String>,
    /// Called with the stored message right after its commit, before the send is answered
    /// and in commit order (seq order within a room), unless it repeats a stored message:
    /// where the hub hands it to fan-out, so no broadcast overtakes an earlier one.
    pub on_commit: Option<OnCommit>,
}

/// What happens to a stored message right after its commit (see [`NewMessage::on_commit`]).
pub type OnCommit = Box<dyn FnOnce(&messages::Model) + Send + Sync>;

pub struct SendOutcome {
    pub message: messages::Model,
    /// The sender already sent this `client_id` in this room: `message` is the stored one.
    pub duplicate: bool,
}

/// Which page of a room's history.
#[derive(Debug, Clone, Copy)]
pub enum HistoryQuery {
    /// The newest `limit`.
    Latest,
    /// The newest `limit` with seq < this.
    Before(i64),
    /// The oldest `limit` with seq > this.
    After(i64),
}

pub struct HistoryPage {
    /// Ascending by seq.
    pub messages: Vec<messages::Model>,
    /// More exist beyond the page in its direction.
    pub has_more: bool,
}

impl Store {
    /// Queues a message for the group-commit write path (`write/`) and returns once it is
    /// queued; [`Queued::outcome`] answers it after the commit of the batch it lands in, with
    /// its seq. Messages queued one after another are committed in that order.
    pub async fn enqueue_message(&self, new: NewMessage) -> StoreResult<super::Queued> {
        self.writer.enqueue(new).await
    }

    pub async fn history(
        &self,
        room_id: Uuid,
        query: HistoryQuery,
        limit: u64,
    ) -> StoreResult<HistoryPage> {
        let q = messages::Entity::find().filter(messages::Column::RoomId.eq(room_id));
        let q = match query {
            HistoryQuery::Latest => q.order_by_desc(messages::Column::Seq),
            HistoryQuery::Before(b) => q
                .filter(messages::Column::Seq.lt(b))
                .order_by_desc(messages::Column::Seq),
            HistoryQuery::After(a) => q
                .filter(messages::Column::Seq.gt(a))
                .order_by_asc(messages::Column::Seq),
        };
        let mut rows = q.limit(limit + 1).all(self.conn()).await?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if !matches!(query, HistoryQuery::After(_)) {
            rows.reverse();
        }
        Ok(HistoryPage {
            messages: rows,
            has_more,
        })
    }

    /// The senders of `rows` (one query for all of them).
    pub async fn senders(&self, rows: &[messages::Model]) -> StoreResult<Vec<agents::Model>> {
        let mut ids: Vec<Uuid> = rows.iter().map(|m| m.sender_id).collect();
        ids.sort();
        ids.dedup();
        self.agents_by_ids(ids).await
    }
}
