//! A whole batch in one transaction: repeats found, one `last_seq` bump for all its rooms,
//! one multi-row insert.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use entity::{messages, rooms};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use uuid::Uuid;

use super::duplicate_of;
use crate::store::messages::{NewMessage, SendOutcome};
use crate::store::{StoreError, StoreResult};

/// What becomes of one send of a batch before the insert.
enum Plan {
    /// A new message: index into the rows to insert.
    Insert(usize),
    /// The same sender's `client_id` is already stored (or earlier in this batch).
    Repeat(RepeatOf),
    /// Answered without a write (an unknown room).
    Refused(StoreError),
}

enum RepeatOf {
    Stored(messages::Model),
    /// The send at this index of the batch.
    Earlier(usize),
}

/// One transaction for the whole batch; the outer error is a failure of the batch itself.
/// Without `look_up_repeats` the batch does not read before it writes: a `client_id` that is
/// already stored fails the insert on its unique index, and the batch is run again with it.
pub(super) async fn store_batch(
    db: &DatabaseConnection,
    news: &[NewMessage],
    look_up_repeats: bool,
) -> Result<Vec<StoreResult<SendOutcome>>, DbErr> {
    let stored = if look_up_repeats {
        stored_client_ids(db, news).await?
    } else {
        HashMap::new()
    };
    let mut first_of: HashMap<(Uuid, &str), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(news.len());
    let mut per_room: BTreeMap<Uuid, u64> = BTreeMap::new();
    for (i, new) in news.iter().enumerate() {
        let repeat = new.client_id.as_deref().and_then(|c| {
            // Only a rerun of a batch that hit the unique index has looked any up.
            (!stored.is_empty())
                .then(|| stored.get(&(new.sender_id, c.to_owned())))
                .flatten()
                .map(|m| RepeatOf::Stored(m.clone()))
                .or_else(|| {
                    first_of
                        .get(&(new.sender_id, c))
                        .map(|&j| RepeatOf::Earlier(j))
                })
        });
        match repeat {
            Some(of) => plans.push(Plan::Repeat(of)),
            None => {
                if let Some(c) = new.client_id.as_deref() {
                    first_of.insert((new.sender_id, c), i);
                }
                *per_room.entry(new.room_id).or_default() += 1;
                plans.push(Plan::Insert(i));
            }
        }
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    // Per room, the first seq of its new messages: one statement bumps every room of the
    // batch by its count (`last_seq + CASE id WHEN … THEN n … END`).
    let mut next_seq: HashMap<Uuid, i64> = HashMap::new();
    if !per_room.is_empty() {
        let mut by = CaseStatement::new();
        for (&room_id, &n) in &per_room {
            by = by.case(rooms::Column::Id.eq(room_id), Expr::val(n as i64));
        }
        let bumped = rooms::Entity::update_many()
            .col_expr(
                rooms::Column::LastSeq,
                Expr::col(rooms::Column::LastSeq).add(by),
            )
            .filter(rooms::Column::Id.is_in(per_room.keys().copied()))
            .filter(rooms::Column::ArchivedAt.is_null())
            .exec_with_returning(&txn)
            .await?;
        for room in bumped {
            let n = per_room[&room.id] as i64;
            next_seq.insert(room.id, room.last_seq - n + 1);
        }
    }
    let mut rows = Vec::new();
    let mut row_of = vec![None; news.len()];
    for plan in &mut plans {
        let Plan::Insert(i) = *plan else { continue };
        let new = &news[i];
        let Some(seq) = next_seq.get_mut(&new.room_id) else {
            // Rooms are never deleted: a room whose seq did not move is archived.
            *plan = Plan::Refused(StoreError::Archived);
            continue;
        };
        row_of[i] = Some((new.room_id, *seq));
        rows.push(messages::ActiveModel {
            room_id: Set(new.room_id),
            seq: Set(*seq),
            sender_id: Set(new.sender_id),
            body: Set(new.body.clone()),
            metadata: Set(new.metadata.clone()),
            client_id: Set(new.client_id.clone()),
            reply_to: Set(new.reply_to),
            stream: Set(new.stream.clone()),
            created_at: Set(now),
            ..Default::default()
        });
        *seq += 1;
    }
    let inserted = if rows.is_empty() {
        Vec::new()
    } else {
        messages::Entity::insert_many(rows)
            .exec_with_returning(&txn)
            .await?
    };
    txn.commit().await?;
    // RETURNING order is not promised (SQLite): match rows by (room, seq), unique.
    let mut by_seq: HashMap<(Uuid, i64), messages::Model> = inserted
        .into_iter()
        .map(|m| ((m.room_id, m.seq), m))
        .collect();
    let mut answers: Vec<StoreResult<SendOutcome>> = Vec::with_capacity(news.len());
    for (i, plan) in plans.into_iter().enumerate() {
        let answer = match plan {
            Plan::Insert(_) => row_of[i]
                .and_then(|key| by_seq.remove(&key))
                .map(|message| SendOutcome {
                    message,
                    duplicate: false,
                })
                .ok_or(StoreError::NotFound("message")),
            Plan::Refused(e) => Err(e),
            Plan::Repeat(RepeatOf::Stored(m)) => duplicate_of(m, news[i].room_id),
            Plan::Repeat(RepeatOf::Earlier(j)) => match &answers[j] {
                Ok(first) => duplicate_of(first.message.clone(), news[i].room_id),
                Err(e) => Err(e.replicate()),
            },
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// The batch's `client_id`s that are already stored, by (sender, client_id).
async fn stored_client_ids(
    db: &DatabaseConnection,
    news: &[NewMessage],
) -> Result<HashMap<(Uuid, String), messages::Model>, DbErr> {
    let asked: std::collections::HashSet<(Uuid, &str)> = news
        .iter()
        .filter_map(|n| Some((n.sender_id, n.client_id.as_deref()?)))
        .collect();
    if asked.is_empty() {
        return Ok(HashMap::new());
    }
    let senders: std::collections::BTreeSet<Uuid> = asked.iter().map(|(s, _)| *s).collect();
    let client_ids: std::collections::BTreeSet<&str> = asked.iter().map(|(_, c)| *c).collect();
    // Both lists, then the exact pairs: one plain index scan instead of an OR per pair.
    let found = messages::Entity::find()
        .filter(messages::Column::SenderId.is_in(senders))
        .filter(messages::Column::ClientId.is_in(client_ids))
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|m| {
            let key = (m.sender_id, m.client_id.clone()?);
            asked.contains(&(key.0, key.1.as_str())).then_some((key, m))
        })
        .collect())
}
