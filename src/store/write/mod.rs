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

mod batch;
mod one;

use std::sync::Arc;

use entity::messages;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use self::batch::store_batch;
use self::one::send_one;
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

    /// Puts one message in the committer's queue, waiting only while the queue is full.
    /// Sends enqueued one after another are committed in that order, so a caller may
    /// enqueue its next send before the previous one is answered.
    pub async fn enqueue(&self, new: NewMessage) -> StoreResult<Queued> {
        let span = tracing::info_span!("store.write_message");
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            new,
            done,
            span: span.clone(),
        };
        self.tx
            .send(pending)
            .instrument(span.clone())
            .await
            .map_err(|_| closed())?;
        Ok(Queued { answer, span })
    }
}

/// A send in the committer's queue.
pub struct Queued {
    answer: oneshot::Receiver<StoreResult<SendOutcome>>,
    span: tracing::Span,
}

impl Queued {
    /// The send's outcome, after the commit of its batch.
    pub async fn outcome(self) -> StoreResult<SendOutcome> {
        let Self { answer, span } = self;
        async { answer.await.map_err(|_| closed())? }
            .instrument(span)
            .await
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable(DbErr::Custom("the write path is closed".into()))
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

pub(super) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

pub(super) fn duplicate_of(existing: messages::Model, room_id: Uuid) -> StoreResult<SendOutcome> {
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
