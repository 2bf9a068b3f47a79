//! Messages: the write path that assigns each room's gap-free `seq`, and history pages.
//!
//! `enqueue_message` takes an owned `NewMessage` and answers a `SendOutcome`; callers never
//! see the transaction, which `write/` shares between concurrent sends (group commit).

use std::collections::HashMap;

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
    /// The seq of an existing message of the room this one answers.
    pub reply_to: Option<i64>,
    /// The id of the stream this message ends.
    pub stream: Option<String>,
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

    /// A page of a room's messages, or with `thread` of the replies to that seq (read from
    /// `ix_messages_room_reply_to`).
    pub async fn history(
        &self,
        room_id: Uuid,
        thread: Option<i64>,
        query: HistoryQuery,
        limit: u64,
    ) -> StoreResult<HistoryPage> {
        let q = messages::Entity::find().filter(messages::Column::RoomId.eq(room_id));
        let q = match thread {
            Some(root) => q.filter(messages::Column::ReplyTo.eq(root)),
            None => q,
        };
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

    /// Whether the room has a message with this seq.
    pub async fn message_exists(&self, room_id: Uuid, seq: i64) -> StoreResult<bool> {
        Ok(messages::Entity::find()
            .select_only()
            .column(messages::Column::Id)
            .filter(messages::Column::RoomId.eq(room_id))
            .filter(messages::Column::Seq.eq(seq))
            .into_tuple::<i64>()
            .one(self.conn())
            .await?
            .is_some())
    }

    /// How many replies each of `seqs` has in the room (seqs without replies are absent).
    pub async fn reply_counts(
        &self,
        room_id: Uuid,
        seqs: Vec<i64>,
    ) -> StoreResult<HashMap<i64, i64>> {
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Option<i64>, i64)> = messages::Entity::find()
            .select_only()
            .column(messages::Column::ReplyTo)
            .column_as(messages::Column::Id.count(), "n")
            .filter(messages::Column::RoomId.eq(room_id))
            .filter(messages::Column::ReplyTo.is_in(seqs))
            .group_by(messages::Column::ReplyTo)
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, n)| Some((seq?, n)))
            .collect())
    }

    /// The senders of `rows` (one query for all of them).
    pub async fn senders(&self, rows: &[messages::Model]) -> StoreResult<Vec<agents::Model>> {
        let mut ids: Vec<Uuid> = rows.iter().map(|m| m.sender_id).collect();
        ids.sort();
        ids.dedup();
        self.agents_by_ids(ids).await
    }
}
