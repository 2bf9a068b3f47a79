//! One send in a transaction of its own: the fallback of a batch that raced another node.

use chrono::Utc;
use entity::{messages, rooms};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};

use super::{duplicate_of, is_unique_violation};
use crate::store::messages::{NewMessage, SendOutcome};
use crate::store::{StoreError, StoreResult};

/// One send in a transaction of its own (the retry of a batch that raced on a `client_id`).
pub(super) async fn send_one(
    db: &DatabaseConnection,
    new: &NewMessage,
) -> StoreResult<SendOutcome> {
    if let Some(existing) = by_client_id(db, new).await? {
        return duplicate_of(existing, new.room_id);
    }
    let txn = db.begin().await?;
    let bumped = rooms::Entity::update_many()
        .col_expr(
            rooms::Column::LastSeq,
            Expr::col(rooms::Column::LastSeq).add(1),
        )
        .filter(rooms::Column::Id.eq(new.room_id))
        .filter(rooms::Column::ArchivedAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    let Some(room) = bumped.into_iter().next() else {
        return Err(StoreError::Archived);
    };
    let inserted = messages::ActiveModel {
        room_id: Set(new.room_id),
        seq: Set(room.last_seq),
        sender_id: Set(new.sender_id),
        body: Set(new.body.clone()),
        metadata: Set(new.metadata.clone()),
        client_id: Set(new.client_id.clone()),
        reply_to: Set(new.reply_to),
        stream: Set(new.stream.clone()),
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
            if is_unique_violation(&e)
                && let Some(existing) = by_client_id(db, new).await?
            {
                return duplicate_of(existing, new.room_id);
            }
            Err(e.into())
        }
    }
}

async fn by_client_id(
    db: &DatabaseConnection,
    new: &NewMessage,
) -> StoreResult<Option<messages::Model>> {
    let Some(client_id) = &new.client_id else {
        return Ok(None);
    };
    Ok(messages::Entity::find()
        .filter(messages::Column::SenderId.eq(new.sender_id))
        .filter(messages::Column::ClientId.eq(client_id.as_str()))
        .one(db)
        .await?)
}
