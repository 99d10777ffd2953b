//! The write path, with group commit: a queue's runner executes each queued write as a job
//! inside a SAVEPOINT of a shared transaction and commits when the queue runs dry or a batch is
//! full, so one flush acknowledges many writes; a failed job rolls back only its own savepoint,
//! and no job's outcome is released before its batch has committed.
//!
//! - SQLite: one writer thread owns the only read-write connection (rusqlite, see `write_conn`)
//!   and runs every write.
//! - PostgreSQL: writes to an org's chain queue per org (they would wait for the chain head's
//!   row lock anyway); other writes run in a pooled transaction each.

use crate::error::{Result, StoreError};
use crate::write_conn::{LiteConn, WriteConn};
use futures::future::BoxFuture;
use labledger_domain::OrgId;
use sqlx::{AnyPool, Executor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// How often the WAL is copied back into the database file (SQLite).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How many jobs may wait in one queue.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub(crate) enum WritePath {
    Sqlite(mpsc::Sender<Job>),
    Postgres {
        pool: AnyPool,
        /// One queue per org for writes to its chain: its jobs share a transaction and a flush.
        orgs: Arc<Mutex<HashMap<OrgId, mpsc::Sender<Job>>>>,
    },
}

impl WritePath {
    /// Starts the SQLite writer: an OS thread of its own that owns the connection and runs the
    /// jobs' futures (their statements are plain calls on that thread; awaiting anything else,
    /// such as the queue, goes through the runtime whose handle it keeps).
    pub(crate) fn sqlite(
        conn: rusqlite::Connection,
        checkpointer: rusqlite::Connection,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let runtime = tokio::runtime::Handle::current();
        let source = Source::Sqlite(WriteConn::Sqlite(LiteConn::new(conn)));
        let start = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(run)
                .map(|_| ())
                .map_err(|e| StoreError::Corrupt(format!("cannot start {name}: {e}")))
        };
        start(
            "labledger-sqlite-writer",
            Box::new(move || runtime.block_on(run_batches(source, rx))),
        )?;
        let writer = tx.downgrade();
        start(
            "labledger-sqlite-checkpoint",
            Box::new(move || {
                // Until the store is gone (its writer queue closed).
                while writer.upgrade().is_some() {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "sqlite checkpoint failed");
                    }
                }
            }),
        )?;
        Ok(WritePath::Sqlite(tx))
    }

    pub(crate) fn postgres(pool: AnyPool) -> Self {
        WritePath::Postgres {
            pool,
            orgs: Arc::default(),
        }
    }

    /// Runs a write in a transaction of its own (PostgreSQL) or the writer's batch (SQLite).
    pub(crate) async fn run<T: Send + 'static>(&self, f: WriteFn<T>) -> Result<T> {
        match self {
            WritePath::Postgres { pool, .. } => {
                let mut conn = WriteConn::Sqlx(pool.begin().await?);
                let value = f(&mut conn).await?;
                conn.commit().await?;
                Ok(value)
            }
            WritePath::Sqlite(queue) => queued(queue, f).await,
        }
    }

    /// Runs a write to one org's chain. PostgreSQL: queued behind the org's other writes, which
    /// would wait for its chain head's row lock anyway; the queue's runner carries them in one
    /// transaction (a savepoint each) and one commit, instead of one flush per write.
    pub(crate) async fn run_for_org<T: Send + 'static>(
        &self,
        org: OrgId,
        f: WriteFn<T>,
    ) -> Result<T> {
        match self {
            WritePath::Sqlite(queue) => queued(queue, f).await,
            WritePath::Postgres { pool, orgs } => {
                let queue = {
                    let mut orgs = orgs.lock().map_err(|_| StoreError::WriterGone)?;
                    match orgs.get(&org) {
                        Some(queue) if !queue.is_closed() => queue.clone(),
                        _ => {
                            let (tx, rx) = mpsc::channel(QUEUE);
                            tokio::spawn(run_batches(Source::Postgres(pool.clone()), rx));
                            orgs.insert(org, tx.clone());
                            tx
                        }
                    }
                };
                queued(&queue, f).await
            }
        }
    }
}

/// Sends a job to a batch runner and waits for its outcome (known once its batch committed).
async fn queued<T: Send + 'static>(queue: &mpsc::Sender<Job>, f: WriteFn<T>) -> Result<T> {
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
                        (Ok(_), Some(e)) => Err(StoreError::CommitFailed(e.to_string())),
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

/// Where a batch runner's transactions come from.
enum Source {
    /// SQLite: the one read-write connection, kept for the life of the store.
    Sqlite(WriteConn),
    /// PostgreSQL: a pooled connection per batch.
    Postgres(AnyPool),
}

impl Source {
    async fn begin(&mut self) -> Result<Batch<'_>> {
        match self {
            Source::Sqlite(conn) => {
                conn.execute("BEGIN IMMEDIATE").await?;
                Ok(Batch::Kept(conn))
            }
            Source::Postgres(pool) => Ok(Batch::Pooled(WriteConn::Sqlx(pool.begin().await?))),
        }
    }
}

/// One batch's transaction.
enum Batch<'a> {
    Kept(&'a mut WriteConn),
    Pooled(WriteConn),
}

impl Batch<'_> {
    fn conn(&mut self) -> &mut WriteConn {
        match self {
            Batch::Kept(conn) => conn,
            Batch::Pooled(conn) => conn,
        }
    }

    async fn commit(self) -> Result<()> {
        match self {
            Batch::Kept(conn) => {
                if let Err(e) = conn.execute("COMMIT").await {
                    let _ = conn.execute("ROLLBACK").await;
                    return Err(e.into());
                }
                Ok(())
            }
            Batch::Pooled(conn) => Ok(conn.commit().await?),
        }
    }

    async fn rollback(self) {
        match self {
            Batch::Kept(conn) => {
                let _ = conn.execute("ROLLBACK").await;
            }
            // Dropping an open sqlx transaction rolls it back.
            Batch::Pooled(_) => {}
        }
    }
}

/// Drains a queue: each batch runs the queued jobs in one transaction, each in a savepoint (a
/// failing job rolls back only its own), commits once, then releases every job's outcome.
async fn run_batches(mut source: Source, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = match source.begin().await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "the writer could not begin a transaction");
                first.abort(&e);
                continue;
            }
        };
        let mut delivers: Vec<Deliver> = Vec::new();
        let mut next = Some(first);
        let mut failure: Option<StoreError> = None;
        while let Some(job) = next.take() {
            let conn = batch.conn();
            if let Err(e) = conn.execute("SAVEPOINT job").await {
                let e = StoreError::from(e);
                job.abort(&e);
                failure = Some(e);
                break;
            }
            let (ok, deliver) = (job.run)(Some(&mut *conn)).await;
            delivers.push(deliver);
            let end = if ok {
                "RELEASE SAVEPOINT job"
            } else {
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job"
            };
            if let Err(e) = conn.execute(end).await {
                failure = Some(e.into());
                break;
            }
            if delivers.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        match failure {
            None => {
                if let Err(e) = batch.commit().await {
                    failure = Some(e);
                }
            }
            Some(_) => batch.rollback().await,
        }
        if failure.is_some() {
            tracing::error!(error = ?failure, jobs = delivers.len(), "group commit failed");
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
