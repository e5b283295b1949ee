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

mod db;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DbErr, SqlErr};

pub use db::{Connection, Db, Txn};
pub use sea_orm::ConnectionTrait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the caller knows which one
    /// its statement could hit and turns this into a domain error.
    #[error("unique constraint violated")]
    UniqueViolation,
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
            _ => match err {
                DbErr::ConnectionAcquire(e) => Self::Unavailable(e.to_string()),
                DbErr::Conn(e) => Self::Unavailable(e.to_string()),
                other => Self::Db(other),
            },
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the pool. SQLite gets WAL (readers never wait for the writer),
/// foreign keys (cascading deletes), a busy timeout (writers queue instead
/// of failing) and `synchronous = NORMAL`, which is durable in WAL mode
/// except for the last transactions on power loss.
pub async fn connect(url: &str) -> Result<Db, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    if url.starts_with("sqlite:") {
        options.max_connections(8).min_connections(1);
    } else {
        options.max_connections(16).min_connections(1);
    }
    Ok(Db::new(Database::connect(options).await?))
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
