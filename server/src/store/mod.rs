//! Storage: the only module that touches `entity` and writes queries. One
//! submodule per aggregate; every query on tenant-owned rows takes a
//! `TenantId`. Functions take any `ConnectionTrait`, so a service can run
//! several of them in one transaction.
//!
//! Lookups by a unique key use `.all(db)` and take the one row, never
//! sea-orm's `.one(db)`: that adds `LIMIT ?`, and SQLite re-prepares a
//! statement every time a LIMIT parameter is bound (it plans with the
//! value), so every execution parsed and planned its SQL again: a fifth
//! of the CPU of `GET /me` (`perf`, `cargo xtask bench`).

pub mod audit;
pub mod dashboard_sessions;
pub mod keys;
pub mod sessions;
pub mod tenants;
pub mod throttle;
pub mod user_tokens;
pub mod users;

mod batch;
mod db;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DbErr, SqlErr};

pub use batch::Batches;
pub use db::{Connection, Db, Txn};
pub use sea_orm::ConnectionTrait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the caller knows which one
    /// its statement could hit and turns this into a domain error.
    #[error("unique constraint violated")]
    UniqueViolation,
    /// A foreign key refused the write: a row it points to was deleted by
    /// a transaction that committed after the caller read it. As with
    /// `UniqueViolation`, the caller knows which keys its statement could
    /// hit; the database's message is kept for the log.
    #[error("foreign key violated: {0}")]
    ForeignKeyViolation(String),
    /// A stored value could not be read back (corrupt JSON, bad key).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database could not be reached (pool timeout, connection lost).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::UniqueViolation,
            Some(SqlErr::ForeignKeyConstraintViolation(what)) => Self::ForeignKeyViolation(what),
            _ => match err {
                DbErr::ConnectionAcquire(e) => Self::Unavailable(e.to_string()),
                DbErr::Conn(e) => Self::Unavailable(e.to_string()),
                other => Self::Db(other),
            },
        }
    }
}

impl StoreError {
    /// The same error for another caller: a batch of writes ([`batch`])
    /// that fails through no one entry's fault fails every write in it.
    fn share(&self) -> Self {
        match self {
            Self::UniqueViolation => Self::UniqueViolation,
            Self::ForeignKeyViolation(what) => Self::ForeignKeyViolation(what.clone()),
            Self::Corrupt(what) => Self::Corrupt(what.clone()),
            Self::Unavailable(what) => Self::Unavailable(what.clone()),
            Self::Db(e) => Self::Db(DbErr::Custom(e.to_string())),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of a write to a row that points at a user and its tenant,
/// with `false` also when a foreign key refused it: the user was deleted
/// after the caller read them (with their tenant, or alone), which is the
/// same as not finding them. The keys are not told apart by name because
/// SQLite's message names none, and either one means the user is gone.
fn unless_user_gone(result: Result<bool, DbErr>) -> StoreResult<bool> {
    match result.map_err(StoreError::from) {
        Err(StoreError::ForeignKeyViolation(what)) => {
            tracing::info!(%what, "the user was deleted while the request ran");
            Ok(false)
        }
        other => other,
    }
}

/// Opens the pool; on SQLite also the one connection that runs
/// transactions (see [`Db`]). SQLite gets WAL (readers never wait for the
/// writer), foreign keys (cascading deletes), a busy timeout (writers
/// queue instead of failing), `synchronous = NORMAL`, which is durable in
/// WAL mode except for the last transactions on power loss. No memory
/// map (`mmap_size`): with it, `perf` showed the readers remapping the
/// growing file and flushing TLBs across cores, and refresh and `/me`
/// were slower, not faster (`cargo xtask bench`: refresh 3254/s mapped,
/// 4275 and 4339/s not, same machine and hour); it also counted the
/// mapped file in RSS.
///
/// The writer never checkpoints (copies the WAL back into the database
/// file): done in a commit, that would hold the write turn for as long,
/// fsyncs included. A task does it from a reader connection instead, every
/// [`CHECKPOINT_EVERY`], without blocking anyone.
pub async fn connect(url: &str) -> Result<Db, DbErr> {
    if url.starts_with("sqlite:") {
        let readers = Database::connect(options(url, 8, None)).await?;
        let writer = Database::connect(options(url, 1, Some("0"))).await?;
        tokio::spawn(checkpoint_wal(readers.clone()));
        Ok(Db::new(readers, Some(writer)))
    } else {
        Ok(Db::new(
            Database::connect(options(url, 16, None)).await?,
            None,
        ))
    }
}

/// How often the WAL is copied back into the SQLite file; bounds the WAL
/// to what the writer adds in this time.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Pages in the WAL past which a checkpoint makes sure the next write
/// starts it over (16 MiB of 4 KiB pages).
const WAL_RESTART_PAGES: i64 = 4096;

/// Checkpoints the WAL until the pool is closed. A PASSIVE checkpoint
/// copies what no reader still needs and never waits. But the WAL starts
/// over only once all of it is copied while no reader uses it, which a
/// steady stream of overlapping readers can put off for ever (it grew past
/// 1 GB in `cargo xtask bench`); so once it holds [`WAL_RESTART_PAGES`],
/// a TRUNCATE checkpoint follows at once: it waits for the readers of the
/// moment (they are short) and empties the WAL, holding writers back
/// meanwhile, which is brief because the PASSIVE one has copied nearly
/// everything already.
async fn checkpoint_wal(readers: sea_orm::DatabaseConnection) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = match checkpoint(&readers, "PASSIVE").await {
            Ok(pages) if pages >= WAL_RESTART_PAGES => checkpoint(&readers, "TRUNCATE").await,
            other => other,
        };
        match result {
            Ok(_) => {}
            Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)) => return,
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying"),
        }
    }
}

/// One checkpoint; returns how many pages the WAL holds.
async fn checkpoint(readers: &sea_orm::DatabaseConnection, mode: &str) -> Result<i64, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let pragma = format!("PRAGMA wal_checkpoint({mode})");
    let row = readers
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, pragma))
        .await?;
    // The row is (busy, pages in the WAL, pages copied).
    row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(1))
}

/// `wal_autocheckpoint` (SQLite): pages of WAL after which a committing
/// connection checkpoints, `"0"` never; `None` leaves SQLite's 1000.
fn options(
    url: &str,
    max_connections: u32,
    wal_autocheckpoint: Option<&'static str>,
) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .max_connections(max_connections)
        .min_connections(1)
        // sqlx pings a connection on every checkout by default: a round
        // trip before each query. Only one that sat idle long enough for
        // a server or firewall to have dropped it is worth the check.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            match wal_autocheckpoint {
                Some(pages) => opts.pragma("wal_autocheckpoint", pages),
                None => opts,
            }
        });
    options
}

pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    Migrator::up(db.connection(), None).await
}

/// `SELECT 1`, for `/ready`.
pub async fn ping(db: &Db) -> Result<(), DbErr> {
    db.connection().ping().await
}

/// Starts a transaction (on SQLite, once it is this one's turn to write:
/// see [`Db`]). Dropping it without [`commit`] rolls it back, so an early
/// `?` never leaves half a change behind.
pub async fn begin(db: &Db) -> StoreResult<Txn> {
    Ok(db.begin().await?)
}

pub async fn commit(txn: Txn) -> StoreResult<()> {
    Ok(txn.commit().await?)
}
