//! The write path. PostgreSQL: one pooled transaction per write. SQLite: one writer thread owns
//! the only read-write connection (rusqlite, see `write_conn`) and runs each write as a job inside a SAVEPOINT of a shared
//! transaction, committing when the queue runs dry or a batch is full (group commit): one fsync
//! acknowledges many writes, a failed job rolls back only its own savepoint, and no job's result
//! is released before its batch has committed.

use crate::error::{Result, StoreError};
use crate::write_conn::{LiteConn, WriteConn};
use futures::future::BoxFuture;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// A unit of work against the write connection, run inside one transaction (or savepoint).
pub(crate) type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c mut WriteConn) -> BoxFuture<'c, Result<T>> + Send + 'static>;

/// Hands the job's outcome to its caller once the batch's commit outcome is known.
type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A queued write. Given no connection (the batch could not start), it fails without running.
type RunFn =
    Box<dyn for<'c> FnOnce(Option<&'c mut WriteConn>) -> BoxFuture<'c, (bool, Deliver)> + Send>;

pub(crate) struct Job {
    run: RunFn,
}

impl Job {
    fn abort(self, error: &StoreError) {
        let fut = (self.run)(None);
        // With no connection the future completes at once, without awaiting anything.
        if let Some((_, deliver)) = futures::FutureExt::now_or_never(fut) {
            deliver(Some(error));
        }
    }
}

/// How many jobs one commit may acknowledge at most.
const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub(crate) enum WritePath {
    Sqlite(mpsc::Sender<Job>),
    Postgres(AnyPool),
}

impl WritePath {
    /// Starts the SQLite writer: an OS thread of its own that owns the connection and runs the
    /// jobs' futures (their statements are plain calls on that thread; awaiting anything else,
    /// such as the queue, goes through the runtime whose handle it keeps).
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Result<Self> {
        let (tx, rx) = mpsc::channel(4096);
        let runtime = tokio::runtime::Handle::current();
        let conn = WriteConn::Sqlite(LiteConn::new(conn));
        std::thread::Builder::new()
            .name("labledger-sqlite-writer".into())
            .spawn(move || runtime.block_on(run_writer(conn, rx)))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the SQLite writer: {e}")))?;
        Ok(WritePath::Sqlite(tx))
    }

    pub(crate) async fn run<T: Send + 'static>(&self, f: WriteFn<T>) -> Result<T> {
        match self {
            WritePath::Postgres(pool) => {
                let mut conn = WriteConn::Sqlx(pool.begin().await?);
                let value = f(&mut conn).await?;
                if let WriteConn::Sqlx(tx) = conn {
                    tx.commit().await?;
                }
                Ok(value)
            }
            WritePath::Sqlite(queue) => {
                let (done, outcome) = oneshot::channel::<Result<T>>();
                let job = Job {
                    run: Box::new(move |conn| {
                        Box::pin(async move {
                            let result = match conn {
                                Some(conn) => f(conn).await,
                                None => Err(StoreError::WriterGone),
                            };
                            let ok = result.is_ok();
                            let deliver: Deliver = Box::new(move |commit_error| {
                                let outcome = match (result, commit_error) {
                                    // A fault, not a refusal: the driver's text is for the log.
                                    (Ok(_), Some(e)) => {
                                        Err(StoreError::CommitFailed(e.to_string()))
                                    }
                                    (result, _) => result,
                                };
                                let _ = done.send(outcome);
                            });
                            (ok, deliver)
                        })
                    }),
                };
                queue.send(job).await.map_err(|_| StoreError::WriterGone)?;
                outcome.await.map_err(|_| StoreError::WriterGone)?
            }
        }
    }
}

/// Runs transaction control on the writer's connection.
fn control(conn: &WriteConn, sql: &str) -> Result<()> {
    match conn {
        WriteConn::Sqlite(lite) => Ok(lite.batch(sql)?),
        WriteConn::Sqlx(_) => Err(StoreError::Corrupt(
            "the SQLite writer holds a pooled connection".into(),
        )),
    }
}

async fn run_writer(mut conn: WriteConn, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        if let Err(e) = control(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "sqlite writer could not begin a transaction");
            first.abort(&e);
            continue;
        }
        let mut delivers: Vec<Deliver> = Vec::new();
        let mut next = Some(first);
        let mut failure: Option<StoreError> = None;
        while let Some(job) = next.take() {
            if let Err(e) = control(&conn, "SAVEPOINT job") {
                job.abort(&e);
                failure = Some(e);
                break;
            }
            let (ok, deliver) = (job.run)(Some(&mut conn)).await;
            delivers.push(deliver);
            let end = if ok {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            if let Err(e) = control(&conn, end) {
                failure = Some(e);
                break;
            }
            if delivers.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if failure.is_none() {
            if let Err(e) = control(&conn, "COMMIT") {
                failure = Some(e);
            }
        }
        if failure.is_some() {
            let _ = control(&conn, "ROLLBACK");
            tracing::error!(error = ?failure, jobs = delivers.len(), "sqlite group commit failed");
        }
        metrics::histogram!("labledger_store_group_commit_jobs").record(delivers.len() as f64);
        for deliver in delivers {
            deliver(failure.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use crate::{sqlite_url_for_data_dir, Store, StoreError, StoreOptions};
    use sqlx::Executor;

    /// A write whose commit fails reports a fault carrying the driver's text for the log, not a
    /// refusal or conflict that the server would show to the client.
    #[tokio::test]
    async fn a_failed_commit_is_a_fault_not_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &sqlite_url_for_data_dir(dir.path()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        let result = store
            .write(Box::new(|conn| {
                Box::pin(async move {
                    // Checked only at COMMIT: the job itself succeeds, its commit does not.
                    conn.execute("PRAGMA defer_foreign_keys = ON").await?;
                    conn.execute(
                        "INSERT INTO members (org_id, user_id, created_at) VALUES ('no-org', 'no-user', 0)",
                    )
                    .await?;
                    Ok(())
                })
            }))
            .await;
        match result {
            Err(StoreError::CommitFailed(detail)) => {
                assert!(detail.contains("FOREIGN KEY"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE org_id = 'no-org'")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(n, 0, "nothing of the failed write is stored");
    }
}
