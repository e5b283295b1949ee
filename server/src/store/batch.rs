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
    /// tell the entries' rows apart. An entry that breaks a unique or
    /// foreign key fails alone (the others are written without it); any
    /// other failure fails the whole batch.
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
        match run(&writer, &batch).await {
            Ok(counts) => {
                for (write, count) in batch.drain(..).zip(counts) {
                    // The caller may have gone (client disconnected).
                    let _ = write.done.send(Ok(count));
                }
            }
            // One entry's write broke a constraint, and the batch's
            // rollback took the others with it: they go again one by one,
            // so that only the entry at fault fails. Any other failure
            // (I/O, a full disk, a lost connection) is not an entry's own
            // and would fail each of them alike.
            Err(e) if batch.len() > 1 && e.sql_err().is_some() => {
                tracing::warn!(error = %e, writes = batch.len(), "batched write refused; writing its entries one by one");
                for write in batch.drain(..) {
                    let outcome = run(&writer, std::slice::from_ref(&write)).await;
                    let _ = write.done.send(match outcome {
                        Ok(counts) => Ok(counts.first().copied().unwrap_or_default()),
                        Err(e) => Err(StoreError::from(e)),
                    });
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
async fn run(writer: &DatabaseConnection, batch: &[Write]) -> Result<Vec<usize>, sea_orm::DbErr> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    let mut values = Vec::with_capacity(batch.iter().map(|write| write.values.len() + 1).sum());
    for (index, write) in (0_i64..).zip(batch) {
        sql.push_str(write.script);
        // Cloned, not moved: a refused batch is written again entry by entry.
        values.extend(write.values.iter().cloned());
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

#[cfg(test)]
mod tests {
    use super::*;

    use sea_orm::{ConnectOptions, Database};

    const INSERT: &str = "INSERT INTO t (v) VALUES (?) RETURNING ?; ";

    #[tokio::test]
    async fn a_refused_entry_fails_alone() {
        // One connection: an in-memory database is the connection's own.
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let writer = Database::connect(options).await.unwrap();
        writer
            .execute_unprepared("CREATE TABLE t (v TEXT NOT NULL UNIQUE)")
            .await
            .unwrap();
        let turn = Arc::<Mutex<()>>::default();
        let batches = Batches::start(writer.clone(), Arc::clone(&turn));

        // Held while the writes queue, so that they make one batch.
        let held = turn.lock().await;
        let writes: Vec<_> = ["a", "b", "a", "c"]
            .into_iter()
            .map(|v| {
                let batches = batches.clone();
                tokio::spawn(async move { batches.write(INSERT, vec![v.into()]).await })
            })
            .collect();
        // On this single-threaded runtime every spawned task runs until
        // it waits before the clock moves.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        drop(held);

        let mut outcomes = Vec::new();
        for write in writes {
            outcomes.push(write.await.unwrap());
        }
        // The second "a" broke the unique key; the entries around it are written.
        let [first_a, b, second_a, c] = &outcomes[..] else {
            panic!("four outcomes: {outcomes:?}");
        };
        assert!(matches!(first_a, Ok(1)), "{outcomes:?}");
        assert!(
            matches!(second_a, Err(StoreError::UniqueViolation)),
            "{outcomes:?}"
        );
        assert!(matches!((b, c), (Ok(1), Ok(1))), "{outcomes:?}");
        let rows = writer
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT v FROM t ORDER BY v",
            ))
            .await
            .unwrap();
        let stored: Vec<String> = rows
            .iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        assert_eq!(stored, ["a", "b", "c"]);
    }
}
