//! On SQLite, small writes that many requests make at once (refresh
//! rotations, the sessions logins open) are written several to a
//! transaction: group commit.
//!
//! One write at a time, each in its own transaction, spent most of its
//! turn at the writer handing work between threads (the request's task,
//! the pool, SQLite's thread, back), not in SQLite, and `cargo xtask
//! bench` saw the writer's thread mostly idle while refreshes queued for
//! it. Here a task takes every write queued by the time the previous batch
//! ends and sends them to SQLite as one script in one transaction: one
//! hand-over and one commit for all of them, and the pages they share (the
//! newest rows of a table) are written to the WAL once. Nothing waits for
//! a batch to fill: under light load a batch is one write, as before.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::{Mutex, mpsc, oneshot};

use std::sync::Arc;

use super::{StoreError, StoreResult};

/// Most writes in one batch. SQLite prepares, and sqlx caches, a statement
/// for each batch size (and mix of scripts), so this also bounds those.
const MAX_BATCH: usize = 16;

/// Writes that may wait for the writer; past it, callers wait to queue.
const QUEUE: usize = 1024;

/// Where batched writes are queued. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Batches {
    queue: mpsc::Sender<Write>,
}

struct Write {
    script: &'static str,
    values: Vec<Value>,
    /// How many rows the write's statements returned.
    done: oneshot::Sender<StoreResult<usize>>,
}

impl Batches {
    /// Starts the task that writes batches on `writer` (the SQLite writer
    /// connection) whenever it holds `turn`, the turn transactions take.
    pub(super) fn start(writer: DatabaseConnection, turn: Arc<Mutex<()>>) -> Self {
        let (queue, writes) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(writer, turn, writes));
        Self { queue }
    }

    /// Writes one entry and returns how many rows its statements returned.
    /// `script` is statements (each ending in `;`) that write the entry
    /// atomically without a transaction of their own: each runs only if
    /// the one before it did what it must, so that the entry is written
    /// whole or not at all; the first must not depend on `changes()`,
    /// which would read the previous entry's last statement. Its
    /// parameters are anonymous (`?`: sqlx binds a numbered `?1` against
    /// the whole batch's values) and `values` gives them in order, all but
    /// the last: that is `RETURNING ?` of the statement whose rows say the
    /// entry was written, and the batch binds the entry's number there to
    /// tell the entries' rows apart. A failure fails the whole batch.
    /// Writes that change what a Bearer-token check reads do not belong
    /// here (they are not counted as auth changes).
    ///
    /// A write whose caller has gone (the request timed out, the client
    /// left) before its batch starts is dropped, not written: for a
    /// refresh, the rotation would retire the only token the client has.
    pub async fn write(&self, script: &'static str, values: Vec<Value>) -> StoreResult<usize> {
        debug_assert!(
            !script.contains('$')
                && !script
                    .as_bytes()
                    .windows(2)
                    .any(|pair| pair[0] == b'?' && pair[1].is_ascii_digit()),
            "batched scripts take anonymous parameters only"
        );
        let (done, result) = oneshot::channel();
        let write = Write {
            script,
            values,
            done,
        };
        self.queue.send(write).await.map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the batch writer has stopped".into())
}

async fn write_batches(
    writer: DatabaseConnection,
    turn: Arc<Mutex<()>>,
    mut writes: mpsc::Receiver<Write>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while writes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = {
            let _turn = turn.lock().await;
            // While the turn was someone else's, more may have queued, and
            // some callers may have gone.
            while batch.len() < MAX_BATCH
                && let Ok(write) = writes.try_recv()
            {
                batch.push(write);
            }
            batch.retain(|write| !write.done.is_closed());
            if batch.is_empty() {
                continue;
            }
            run(&writer, &mut batch).await
        };
        match outcome {
            Ok(counts) => {
                for (write, count) in batch.drain(..).zip(counts) {
                    // The caller may have gone (client disconnected).
                    let _ = write.done.send(Ok(count));
                }
            }
            Err(e) => {
                let e = StoreError::from(e);
                tracing::error!(error = %e, writes = batch.len(), "batched write failed");
                for write in batch.drain(..) {
                    let _ = write.done.send(Err(e.share()));
                }
            }
        }
    }
}

/// One transaction with every write of the batch; how many rows each
/// write's statements returned.
async fn run(
    writer: &DatabaseConnection,
    batch: &mut [Write],
) -> Result<Vec<usize>, sea_orm::DbErr> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    let mut values = Vec::new();
    for (index, write) in (0_i64..).zip(batch.iter_mut()) {
        sql.push_str(write.script);
        values.append(&mut write.values);
        values.push(Value::from(index));
    }
    sql.push_str(" COMMIT");
    let result = writer
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            roll_back(writer).await;
            return Err(e);
        }
    };
    // Committed: from here on nothing may report the batch as failed.
    let mut counts = vec![0; batch.len()];
    for row in rows {
        let index = row.try_get_by_index::<i64>(0);
        match index.map(usize::try_from) {
            Ok(Ok(index)) if index < counts.len() => counts[index] += 1,
            _ => tracing::error!("a batched write returned a row without its number"),
        }
    }
    Ok(counts)
}

/// Ends the transaction a failed script may have left open.
async fn roll_back(writer: &DatabaseConnection) {
    if let Err(e) = writer.execute_unprepared("ROLLBACK").await
        // The script failed before its BEGIN took, or SQLite rolled back
        // already (as it does after some I/O errors).
        && !e.to_string().contains("no transaction is active")
    {
        tracing::error!(error = %e, "cannot roll back a failed batch");
    }
}
