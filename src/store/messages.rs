//! Messages: the write path that assigns each room's gap-free `seq`, and history pages.
//!
//! `send` takes an owned `NewMessage` and answers a `SendOutcome`; callers never see the
//! transaction. That keeps the door open to committing many concurrent sends as one batch
//! (one transaction per room, one counter bump for N rows) without changing any caller.

use chrono::Utc;
use entity::{agents, messages, rooms};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};

pub struct NewMessage {
    pub room_id: Uuid,
    pub sender_id: Uuid,
    pub body: String,
    pub metadata: Option<Value>,
    pub client_id: Option<String>,
}

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
    /// Persists a message and assigns its seq. The room's counter row is bumped first inside
    /// the transaction: on PostgreSQL that row lock serializes writers of one room until
    /// commit (so seq order is commit order, gap-free, across processes); SQLite has one
    /// writer at a time. A failed insert rolls the bump back, leaving no gap.
    pub async fn send_message(&self, new: NewMessage) -> StoreResult<SendOutcome> {
        if let Some(client_id) = &new.client_id
            && let Some(existing) = self.by_client_id(new.sender_id, client_id).await?
        {
            return duplicate_of(existing, new.room_id);
        }
        let txn = self.db.begin().await?;
        let bumped = rooms::Entity::update_many()
            .col_expr(
                rooms::Column::LastSeq,
                Expr::col(rooms::Column::LastSeq).add(1),
            )
            .filter(rooms::Column::Id.eq(new.room_id))
            .exec_with_returning(&txn)
            .await?;
        let Some(room) = bumped.into_iter().next() else {
            return Err(StoreError::NotFound("room"));
        };
        let inserted = messages::ActiveModel {
            room_id: Set(new.room_id),
            seq: Set(room.last_seq),
            sender_id: Set(new.sender_id),
            body: Set(new.body),
            metadata: Set(new.metadata),
            client_id: Set(new.client_id.clone()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        match inserted {
            Ok(message) => {
                txn.commit().await?;
                Ok(SendOutcome {
                    message,
                    duplicate: false,
                })
            }
            Err(e) => {
                txn.rollback().await?;
                // A concurrent send with the same client_id won the race: answer with it.
                if let (Some(sea_orm::SqlErr::UniqueConstraintViolation(_)), Some(client_id)) =
                    (e.sql_err(), &new.client_id)
                    && let Some(existing) = self.by_client_id(new.sender_id, client_id).await?
                {
                    return duplicate_of(existing, new.room_id);
                }
                Err(e.into())
            }
        }
    }

    async fn by_client_id(
        &self,
        sender_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<messages::Model>> {
        Ok(messages::Entity::find()
            .filter(messages::Column::SenderId.eq(sender_id))
            .filter(messages::Column::ClientId.eq(client_id))
            .one(self.conn())
            .await?)
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

fn duplicate_of(existing: messages::Model, room_id: Uuid) -> StoreResult<SendOutcome> {
    if existing.room_id == room_id {
        Ok(SendOutcome {
            message: existing,
            duplicate: true,
        })
    } else {
        Err(StoreError::Conflict(
            "client_id already used in another room",
        ))
    }
}
