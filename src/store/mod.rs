//! The only place that talks SQL (through sea-orm): one file per aggregate.
//!
//! The store speaks in entity models and domain types (a [`Room`](crate::model::Room), not a
//! row and its creator), never in HTTP or socket types or views; only the hub calls it.
//! Errors are classified once here: unique violations become `Conflict`, lost connections
//! become `Unavailable`, everything else is an opaque database error.

mod agents;
mod audit;
mod cards;
mod cursors;
mod messages;
mod rooms;
mod tokens;
mod write;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::Settings;
use crate::telemetry::Metrics;

pub use audit::NewAuditEvent;
pub use cards::{AgentFilter, NewCard};
pub use messages::{HistoryPage, HistoryQuery, NewMessage, OnCommit, SendOutcome};
pub use rooms::{NewRoom, Viewer};
pub use tokens::NewToken;
pub use write::Queued;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// A write to an archived room.
    #[error("the room is archived")]
    Archived,
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    #[error("database error: {0}")]
    Db(#[source] DbErr),
    #[error("creating {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The same error again, for each send of a failed batch (a database error cannot be
    /// cloned): the same variant, so the same client code, and the same message.
    fn replicate(&self) -> StoreError {
        match self {
            Self::NotFound(what) => Self::NotFound(what),
            Self::Conflict(what) => Self::Conflict(what),
            Self::Archived => Self::Archived,
            Self::Unavailable(e) => Self::Unavailable(DbErr::Custom(e.to_string())),
            Self::Db(e) => Self::Db(DbErr::Custom(e.to_string())),
            Self::DataDir { path, source } => Self::DataDir {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        }
    }
}

impl From<StoreError> for crate::error::Error {
    fn from(e: StoreError) -> Self {
        use crate::error::Error;
        match e {
            StoreError::NotFound(what) => Error::not_found(what),
            StoreError::Conflict(what) => Error::conflict(what),
            StoreError::Archived => Error::forbidden("the room is archived"),
            StoreError::Unavailable(_) => Error::unavailable(e),
            StoreError::Db(_) | StoreError::DataDir { .. } => Error::internal(e),
        }
    }
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if is_connection_error(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Db(e)
        }
    }
}

fn is_connection_error(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_) => true,
        // PostgreSQL going away mid-session: connection exceptions (class 08) and
        // admin/crash shutdown or "cannot connect now" (57P01..57P03).
        SqlxError::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`, anything else through `From`.
fn unique_as(what: &'static str) -> impl FnOnce(DbErr) -> StoreError {
    move |e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what),
        _ => e.into(),
    }
}

/// One page of a keyset-paginated list: `next` is the last item's sort key when more exist.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in order.
    fn from_rows(mut rows: Vec<T>, limit: u64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// The group-commit write path of messages.
    writer: write::Writer,
}

impl Store {
    /// Connects to the configured database (creating the data directory of the embedded
    /// default first) and brings its schema up to date.
    pub async fn open(settings: &Settings, metrics: Arc<Metrics>) -> StoreResult<Self> {
        if settings.database_url.is_none() {
            std::fs::create_dir_all(&settings.data_dir).map_err(|source| StoreError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            })?;
        }
        let store = Self::connect(
            &settings.database_url(),
            settings.database_max_connections,
            metrics,
        )
        .await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects a pool; SQLite files run in WAL mode with a busy timeout so that
    /// concurrent writers (including other processes such as the CLI) wait instead of failing.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        metrics: Arc<Metrics>,
    ) -> StoreResult<Self> {
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(max_connections)
            .min_connections(0)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let db = Database::connect(opts)
            .await
            .map_err(StoreError::Unavailable)?;
        let writer = write::Writer::start(db.clone(), metrics);
        Ok(Self { db, writer })
    }

    /// Runs pending migrations; safe to call repeatedly, and on PostgreSQL from several
    /// processes at once (an advisory lock lets one migrate while the others wait).
    pub async fn migrate(&self) -> StoreResult<()> {
        if self.backend() != DbBackend::Postgres {
            Migrator::up(&self.db, None).await?;
            return Ok(());
        }
        use sea_orm::sqlx::{self, Error as SqlxError};
        const LOCK_KEY: i64 = 0x6167_656e_7468_7562; // "agenthub"
        let to_db = |e: SqlxError| StoreError::Unavailable(DbErr::Custom(e.to_string()));
        let pool = self.db.get_postgres_connection_pool();
        let mut lock_conn = pool.acquire().await.map_err(to_db)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *lock_conn)
            .await
            .map_err(to_db)?;
        let migrated = Migrator::up(&self.db, None).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *lock_conn)
            .await;
        migrated?;
        unlocked.map_err(to_db)?;
        Ok(())
    }

    /// A cheap round trip, for readiness and metrics: answered within 2 s even when the
    /// database is gone (the pool would otherwise wait its full acquire timeout).
    pub async fn ping(&self) -> StoreResult<()> {
        match tokio::time::timeout(Duration::from_secs(2), self.db.ping()).await {
            Ok(result) => result.map_err(StoreError::Unavailable),
            Err(_) => Err(StoreError::Unavailable(DbErr::Custom(
                "ping timed out".into(),
            ))),
        }
    }

    /// Connections in the pool: (open, idle).
    pub fn pool_stats(&self) -> (u32, usize) {
        match self.backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }

    pub(crate) fn conn(&self) -> &impl ConnectionTrait {
        &self.db
    }
}
