//! The connection pool, and on SQLite the turn-taking of writers.
//!
//! SQLite lets one transaction write at a time. Left to itself, a second
//! writer gets `SQLITE_BUSY` and its busy handler sleeps 1, 2, 5, 10…
//! ms before trying again, so under concurrent writes (refresh rotations,
//! logins) the lock sits idle while writers sleep and throughput collapses
//! to a few hundred transactions a second. Here transactions instead queue
//! on an in-process FIFO lock and start the moment the previous one ends.
//! They all run on one connection of their own: SQLite throws away a
//! connection's whole page cache whenever another connection has written,
//! so a writer that always follows itself keeps its cache warm, and the
//! turn is held for less time. PostgreSQL locks rows, so there
//! transactions run side by side on the one pool. Single statements
//! outside a transaction still rely on SQLite's busy handler; they are
//! rare on hot paths.
//!
//! The pool also counts committed changes to what a Bearer-token check
//! reads (see [`Connection::auth_changed`]), so the service's cache of
//! checked tokens can tell when an entry may be stale.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::Batches;

/// The pool. Cheap to clone; clones share the pool, the writer and the
/// count of auth changes.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// `Some` on SQLite: where transactions run, one at a time.
    writer: Option<Writer>,
    auth_changes: Arc<AtomicU64>,
}

#[derive(Clone, Debug)]
struct Writer {
    /// A pool of one connection.
    conn: DatabaseConnection,
    /// Held by the transaction (or batch) whose turn it is.
    turn: Arc<Mutex<()>>,
    batches: Batches,
}

/// A transaction; on SQLite it holds the write turn until it commits or
/// is dropped (rolled back).
pub struct Txn {
    // Declared first, so it is dropped (rolled back) before the turn passes on.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
    auth_changes: Arc<AtomicU64>,
    /// Set by [`Connection::auth_changed`]; counted once committed.
    auth_changed: AtomicBool,
}

/// A [`Db`] or a [`Txn`]: what the store's writers take.
pub trait Connection: ConnectionTrait {
    /// Says that this connection has changed what a Bearer-token check
    /// reads: a session's revocation, a user, a tenant. Called by the store
    /// right after such a write; counted at once outside a transaction and
    /// at commit inside one, so a reader that saw the count before its
    /// read always sees a newer count once that write is visible.
    fn auth_changed(&self);
}

impl Connection for Db {
    fn auth_changed(&self) {
        self.auth_changes.fetch_add(1, Ordering::Release);
    }
}

impl Connection for Txn {
    fn auth_changed(&self) {
        self.auth_changed.store(true, Ordering::Relaxed);
    }
}

impl Db {
    /// `writer`, a pool of one connection to the same SQLite database,
    /// runs every transaction and batch; without it (PostgreSQL) `conn`
    /// runs transactions. Starts the batch writer's task on SQLite.
    pub fn new(conn: DatabaseConnection, writer: Option<DatabaseConnection>) -> Self {
        Self {
            conn,
            writer: writer.map(|conn| {
                let turn = Arc::<Mutex<()>>::default();
                Writer {
                    batches: Batches::start(conn.clone(), Arc::clone(&turn)),
                    conn,
                    turn,
                }
            }),
            auth_changes: Arc::default(),
        }
    }

    /// How many auth changes this process has committed so far. Read it
    /// before reading what it guards; any later change makes it differ.
    pub fn auth_changes(&self) -> u64 {
        self.auth_changes.load(Ordering::Acquire)
    }

    /// Where small writes go to be written several to a transaction
    /// ([`Batches`]); `Some` on SQLite.
    pub fn batches(&self) -> Option<&Batches> {
        self.writer.as_ref().map(|writer| &writer.batches)
    }

    /// The underlying pool, for migrations and health checks.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes the pool; other clones of it stop working too.
    pub async fn close(self) -> Result<(), DbErr> {
        if let Some(writer) = self.writer {
            writer.conn.close().await?;
        }
        self.conn.close().await
    }

    pub async fn begin(&self) -> Result<Txn, DbErr> {
        let (txn, turn) = match &self.writer {
            Some(writer) => {
                let turn = Arc::clone(&writer.turn).lock_owned().await;
                (writer.conn.begin().await?, Some(turn))
            }
            None => (self.conn.begin().await?, None),
        };
        Ok(Txn {
            txn,
            _turn: turn,
            auth_changes: Arc::clone(&self.auth_changes),
            auth_changed: AtomicBool::new(false),
        })
    }
}

impl Txn {
    pub async fn commit(self) -> Result<(), DbErr> {
        let result = self.txn.commit().await;
        // Also after a failed commit: whether it took is unknown, and a
        // needless count costs only a cache miss.
        if self.auth_changed.load(Ordering::Relaxed) {
            self.auth_changes.fetch_add(1, Ordering::Release);
        }
        result
    }
}

/// Lets the store's functions take a [`Db`] or a [`Txn`] alike, by handing
/// every statement to the wrapped connection.
macro_rules! delegate_connection {
    ($type:ty, $field:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $type {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.$field.execute_raw(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.$field.execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.$field.query_one_raw(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.$field.query_all_raw(stmt).await
            }

            fn support_returning(&self) -> bool {
                self.$field.support_returning()
            }
        }
    };
}

delegate_connection!(Db, conn);
delegate_connection!(Txn, txn);
