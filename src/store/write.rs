//! The write path of messages: group commit.
//!
//! Every send (`message:send`, `dm:send`, REST posts) goes through one queue. A committer
//! task takes whatever is queued — one send when the hub is idle, so nothing waits for a
//! batch to fill, up to [`MAX_BATCH`] under load — and stores it in one transaction: per room
//! one `last_seq` bump by the number of its new messages, one multi-row insert for all of
//! them, one commit; then every send of the batch is answered. While a batch commits, the
//! next one gathers, so the batch size follows the load by itself.
//!
//! The guarantees of a single send hold for each send of a batch:
//! - seq is gap-free in commit order across processes: the `last_seq` bump locks the room's
//!   row until commit (PostgreSQL), and SQLite has one writer at a time; a node's sends are
//!   committed in arrival order; should two nodes' batches lock the same rooms in opposite
//!   orders, PostgreSQL aborts one and its sends are retried one at a time;
//! - `client_id` is idempotent: a repeat of a stored message answers with it (`duplicate`),
//!   also when both are in one batch; the same `client_id` in another room is a conflict;
//! - a room archived since the sender looked it up takes nothing: the `last_seq` bump only
//!   moves rooms that are not archived, so the archival check costs no extra read;
//! - nothing is half-stored: a batch commits whole or not at all, and a send is answered
//!   only after its commit;
//! - a batch that fails on a unique violation (a concurrent send of the same `client_id`
//!   through another node) is retried one send at a time, so only the racing send is a
//!   duplicate; any other failure fails the sends of that batch alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::Utc;
use entity::{messages, rooms};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use super::messages::{NewMessage, SendOutcome};
use super::{StoreError, StoreResult};
use crate::telemetry::Metrics;

/// At most this many sends are committed together.
pub const MAX_BATCH: usize = 256;
/// Sends waiting for the committer; past this, senders wait for room in the queue.
const QUEUE: usize = 4096;

struct Pending {
    new: NewMessage,
    done: oneshot::Sender<StoreResult<SendOutcome>>,
    /// The send's `store.write_message` span: the batch's span continues the first one's
    /// trace and links the others.
    span: tracing::Span,
}

/// The queue in front of the committer. One committer, not one per shard of rooms: on
/// PostgreSQL, committers side by side made smaller batches and more flushes, and measured
/// slower (docs/benchmarks.md); SQLite has one writer at a time anyway.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the committer over `db`; it stops when the last `Writer` is dropped.
    pub fn start(db: DatabaseConnection, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(commit_loop(db, rx, metrics));
        Self { tx }
    }

    /// Stores one message, in whichever batch it lands in; answers after its commit.
    pub async fn send(&self, new: NewMessage) -> StoreResult<SendOutcome> {
        let span = tracing::info_span!("store.write_message");
        let (done, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable(DbErr::Custom("the write path is closed".into()));
        let pending = Pending {
            new,
            done,
            span: span.clone(),
        };
        async {
            self.tx.send(pending).await.map_err(|_| closed())?;
            answer.await.map_err(|_| closed())?
        }
        .instrument(span)
        .await
    }
}

async fn commit_loop(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Pending>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics.message_write_batch_size.observe(batch.len() as f64);
        commit_batch(&db, std::mem::take(&mut batch)).await;
        batch.reserve(MAX_BATCH);
    }
}

/// Commits a batch and answers each of its sends.
async fn commit_batch(db: &DatabaseConnection, batch: Vec<Pending>) {
    let span = tracing::info_span!(
        parent: batch.first().and_then(|p| p.span.id()),
        "store.commit_batch",
        size = batch.len()
    );
    for p in batch.iter().skip(1) {
        span.follows_from(&p.span);
    }
    let (mut news, dones): (Vec<NewMessage>, Vec<_>) =
        batch.into_iter().map(|p| (p.new, p.done)).unzip();
    let answers = answers_for(db, &news).instrument(span).await;
    // Commit order: within a room, the order of the batch is the order of its seqs.
    for (new, answer) in news.iter_mut().zip(&answers) {
        if let (
            Ok(SendOutcome {
                message,
                duplicate: false,
            }),
            Some(on_commit),
        ) = (answer, new.on_commit.take())
        {
            on_commit(message);
        }
    }
    for (done, answer) in dones.into_iter().zip(answers) {
        let _ = done.send(answer);
    }
}

/// The outcome of each send of a batch.
async fn answers_for(
    db: &DatabaseConnection,
    news: &[NewMessage],
) -> Vec<StoreResult<SendOutcome>> {
    // Repeats of stored messages are rare (a client retrying after a reconnect): the first
    // try writes without reading, and only a batch that holds one reads before writing.
    let first = match store_batch(db, news, false).await {
        Err(e) if is_unique_violation(&e) => store_batch(db, news, true).await,
        other => other,
    };
    match first {
        Ok(answers) => answers,
        Err(e) if is_unique_violation(&e) || is_deadlock(&e) => {
            // A send of the same client_id committed elsewhere in the meantime, or another
            // node's batch locked the same rooms in another order: one at a time, each send
            // finds out for itself.
            let mut answers = Vec::with_capacity(news.len());
            for new in news {
                answers.push(send_one(db, new).await);
            }
            answers
        }
        Err(e) => {
            let e = StoreError::from(e);
            news.iter().map(|_| Err(e.replicate())).collect()
        }
    }
}

/// PostgreSQL's `deadlock_detected` (40P01).
fn is_deadlock(e: &DbErr) -> bool {
    match e {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == "40P01"),
        _ => false,
    }
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

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
async fn store_batch(
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
            stored
                .get(&(new.sender_id, c.to_owned()))
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

/// One send in a transaction of its own (the retry of a batch that raced on a `client_id`).
async fn send_one(db: &DatabaseConnection, new: &NewMessage) -> StoreResult<SendOutcome> {
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
