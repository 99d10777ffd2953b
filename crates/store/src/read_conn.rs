//! Where reads run. PostgreSQL: the sqlx pool. SQLite: a few threads, each owning a read-only
//! `rusqlite` connection. A query crosses to one of them once and comes back with all its rows
//! (sqlx-sqlite crosses threads once per row, which cost more than the query), and a read never
//! waits for the writer: WAL lets each statement read the last committed state beside it.
//!
//! `&Reader` is an sqlx `Executor` for the `Any` driver, so store code reads with
//! `sqlx::query(…).fetch_all(self.reader())` on either engine. The store streams nothing from
//! it (large reads, such as verify and backups, open connections of their own), so an SQLite
//! query answers with its rows at once.

use crate::error::{Result, StoreError};
use crate::write_conn::{steps, LiteConn};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{Any, AnyPool, Either, Execute, Executor};
use sqlx_core::any::{AnyTypeInfo, AnyValueKind};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Page cache of each SQLite reader connection (KiB): the OS page cache holds the rest.
const READER_CACHE_KIB: u32 = 2048;

pub(crate) enum Reader {
    Pool(AnyPool),
    Sqlite(LiteReaders),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reader::Pool(_) => "Reader::Pool",
            Reader::Sqlite(_) => "Reader::Sqlite",
        })
    }
}

impl Reader {
    /// The database URL the reads go to (verify and backups open their own connections to it).
    pub(crate) fn database_url(&self) -> String {
        match self {
            Reader::Pool(pool) => pool.connect_options().database_url.to_string(),
            Reader::Sqlite(lite) => lite.url.clone(),
        }
    }

    /// Connections: (open, idle).
    pub(crate) fn use_now(&self) -> (u32, usize) {
        match self {
            Reader::Pool(pool) => (pool.size(), pool.num_idle()),
            Reader::Sqlite(lite) => {
                let busy = lite.busy.load(Ordering::Relaxed);
                (lite.threads, (lite.threads as usize).saturating_sub(busy))
            }
        }
    }
}

/// The SQLite reader threads and the queue they take queries from.
pub(crate) struct LiteReaders {
    queue: mpsc::Sender<ReadJob>,
    url: String,
    threads: u32,
    busy: Arc<AtomicUsize>,
}

type Answer = std::result::Result<(Vec<AnyRow>, u64), sqlx::Error>;

struct ReadJob {
    sql: String,
    values: Vec<AnyValueKind<'static>>,
    first_only: bool,
    reply: oneshot::Sender<Answer>,
}

impl LiteReaders {
    /// Starts `threads` readers on the database file of `url` (already migrated).
    pub(crate) fn start(url: &str, threads: u32) -> Result<LiteReaders> {
        let (queue, jobs) = mpsc::channel::<ReadJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        let busy = Arc::new(AtomicUsize::new(0));
        for n in 0..threads.max(1) {
            let conn = crate::engine::sqlite_reader(url, READER_CACHE_KIB)?;
            let (jobs, busy) = (jobs.clone(), busy.clone());
            std::thread::Builder::new()
                .name(format!("labledger-sqlite-reader-{n}"))
                .spawn(move || serve(LiteConn::new(conn), &jobs, &busy))
                .map_err(|e| StoreError::Corrupt(format!("cannot start an SQLite reader: {e}")))?;
        }
        Ok(LiteReaders {
            queue,
            url: url.to_owned(),
            threads: threads.max(1),
            busy,
        })
    }

    /// Hands a query to a reader; the future answers with its rows.
    fn submit<'q, E>(&self, mut query: E, first_only: bool) -> BoxFuture<'static, Answer>
    where
        E: 'q + Execute<'q, Any>,
    {
        let values = match query.take_arguments() {
            Ok(arguments) => arguments.map(|a| a.values.0).unwrap_or_default(),
            Err(e) => return futures::future::ready(Err(sqlx::Error::Encode(e))).boxed(),
        };
        let values = match values.into_iter().map(owned).collect::<Result<Vec<_>, _>>() {
            Ok(values) => values,
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        };
        let (reply, answer) = oneshot::channel();
        let job = ReadJob {
            sql: query.sql().to_owned(),
            values,
            first_only,
            reply,
        };
        if self.queue.send(job).is_err() {
            return futures::future::ready(Err(sqlx::Error::PoolClosed)).boxed();
        }
        async move { answer.await.unwrap_or(Err(sqlx::Error::WorkerCrashed)) }.boxed()
    }
}

/// A reader thread: takes the next query, runs it, answers; ends when the store is gone.
fn serve(mut conn: LiteConn, jobs: &Mutex<mpsc::Receiver<ReadJob>>, busy: &AtomicUsize) {
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        busy.fetch_add(1, Ordering::Relaxed);
        let answer = conn.run(&job.sql, &job.values, job.first_only);
        busy.fetch_sub(1, Ordering::Relaxed);
        // The asker may have gone (a dropped request): nothing to answer then.
        let _ = job.reply.send(answer);
    }
}

/// An argument that outlives the query it came with (it crosses to the reader thread).
fn owned(value: AnyValueKind<'_>) -> std::result::Result<AnyValueKind<'static>, sqlx::Error> {
    Ok(match value {
        AnyValueKind::Null(kind) => AnyValueKind::Null(kind),
        AnyValueKind::Bool(b) => AnyValueKind::Bool(b),
        AnyValueKind::SmallInt(i) => AnyValueKind::SmallInt(i),
        AnyValueKind::Integer(i) => AnyValueKind::Integer(i),
        AnyValueKind::BigInt(i) => AnyValueKind::BigInt(i),
        AnyValueKind::Real(f) => AnyValueKind::Real(f),
        AnyValueKind::Double(f) => AnyValueKind::Double(f),
        AnyValueKind::Text(s) => AnyValueKind::Text(Cow::Owned(s.into_owned())),
        AnyValueKind::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.into_owned())),
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "the SQLite readers cannot bind {other:?}"
            )))
        }
    })
}

impl<'c> Executor<'c> for &'c Reader {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, std::result::Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Reader::Pool(pool) => pool.fetch_many(query),
            Reader::Sqlite(lite) => futures::stream::once(lite.submit(query, false))
                .flat_map(|answer| futures::stream::iter(steps(answer)))
                .boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, std::result::Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Reader::Pool(pool) => pool.fetch_optional(query),
            Reader::Sqlite(lite) => lite
                .submit(query, true)
                .map(|answer| answer.map(|(rows, _)| rows.into_iter().next()))
                .boxed(),
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, std::result::Result<sqlx::any::AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Reader::Pool(pool) => pool.prepare_with(sql, parameters),
            Reader::Sqlite(_) => futures::future::ready(Err(unsupported("prepare"))).boxed(),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, std::result::Result<sqlx_core::describe::Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Reader::Pool(pool) => pool.describe(sql),
            Reader::Sqlite(_) => futures::future::ready(Err(unsupported("describe"))).boxed(),
        }
    }
}

fn unsupported(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the SQLite readers do not {what} statements"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sqlx::Row;

    /// Reads written for sqlx run on the reader threads and see what was committed beside them.
    #[tokio::test]
    async fn reader_threads_answer_sqlx_queries_with_the_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT);",
            )
            .unwrap();
        let url = format!("sqlite://{}", path.display());
        let reader = Reader::Sqlite(LiteReaders::start(&url, 2).unwrap());
        let none = sqlx::query("SELECT n FROM t WHERE id = $1")
            .bind("a")
            .fetch_optional(&reader)
            .await
            .unwrap();
        assert!(none.is_none());
        writer
            .execute("INSERT INTO t (id, n) VALUES ('a', 1), ('b', 2)", [])
            .unwrap();
        let rows = sqlx::query("SELECT id, n FROM t WHERE n >= $1 ORDER BY n")
            .bind(1_i64)
            .fetch_all(&reader)
            .await
            .unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.get("id")).collect();
        assert_eq!(ids, ["a", "b"]);
        // Read-only: a write through a reader is refused.
        let refused = sqlx::query("DELETE FROM t").execute(&reader).await;
        assert!(refused.is_err());
        assert_eq!(reader.use_now(), (2, 2));
    }
}
