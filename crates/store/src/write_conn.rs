//! The connection a write job runs on. PostgreSQL: a pooled transaction of sqlx. SQLite: a
//! `rusqlite` connection owned by the writer thread, so a statement is a call on that thread
//! instead of a round trip to sqlx-sqlite's worker thread (which cost more than the statements).
//!
//! Jobs keep writing `sqlx::query(…).bind(…).execute(&mut *conn)`: `&mut WriteConn` is an sqlx
//! `Executor` for the `Any` driver, and on SQLite it runs the query's SQL and arguments on
//! rusqlite, answering with the rows and values sqlx-sqlite would give (a value's type is its
//! storage class: INTEGER → BIGINT, REAL → DOUBLE, TEXT, BLOB, NULL), so one store serves both.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{Any, Either, Execute, Executor, Transaction};
use sqlx_core::any::{AnyColumn, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Prepared statements kept by the SQLite writer: the store has a few hundred distinct ones.
const STATEMENT_CACHE: usize = 512;

pub(crate) enum WriteConn {
    /// PostgreSQL (and any sqlx connection): one transaction of the pool.
    Sqlx(Transaction<'static, Any>),
    /// SQLite: the writer thread's own connection.
    Sqlite(LiteConn),
}

impl std::fmt::Debug for WriteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteConn::Sqlx(_) => "WriteConn::Sqlx",
            WriteConn::Sqlite(_) => "WriteConn::Sqlite",
        })
    }
}

impl WriteConn {
    /// Commits the transaction the connection is in.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self {
            WriteConn::Sqlx(tx) => tx.commit().await,
            WriteConn::Sqlite(_) => self.execute("COMMIT").await.map(|_| ()),
        }
    }
}

/// The SQLite writer's connection and what it learnt about each statement's columns.
pub(crate) struct LiteConn {
    conn: rusqlite::Connection,
    columns: HashMap<String, Columns>,
}

/// A statement's result columns, shared by every row it returns (as sqlx-sqlite does).
#[derive(Clone)]
struct Columns {
    names: Arc<sqlx_core::HashMap<UStr, usize>>,
    list: Vec<AnyColumn>,
}

impl LiteConn {
    pub(crate) fn new(conn: rusqlite::Connection) -> Self {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        LiteConn {
            conn,
            columns: HashMap::new(),
        }
    }

    /// Runs one query: its rows (all of them, or up to the first when `first_only`) and how
    /// many rows it changed.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        values: &[AnyValueKind<'_>],
        first_only: bool,
    ) -> Result<(Vec<AnyRow>, u64), sqlx::Error> {
        let mut stmt = match self.conn.prepare_cached(sql) {
            Ok(stmt) => stmt,
            // Several statements in one text (no arguments): run them as a batch.
            Err(rusqlite::Error::MultipleStatement) if values.is_empty() => {
                self.conn.execute_batch(sql).map_err(driver_error)?;
                return Ok((Vec::new(), self.conn.changes()));
            }
            Err(e) => return Err(driver_error(e)),
        };
        for position in 1..=stmt.parameter_count() {
            // `$n` / `?n` name argument n; a bare `?` takes the next position.
            let number = stmt
                .parameter_name(position)
                .and_then(|name| name.get(1..))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(position);
            let value = number
                .checked_sub(1)
                .and_then(|i| values.get(i))
                .ok_or_else(|| {
                    sqlx::Error::Protocol(format!(
                        "query needs argument {number} but got {}",
                        values.len()
                    ))
                })?;
            stmt.raw_bind_parameter(position, bind_value(value)?)
                .map_err(driver_error)?;
        }
        let columns = match self.columns.get(sql) {
            Some(c) => c.clone(),
            None => {
                let c = columns_of(&stmt);
                // Filters build their text at run time: bound what is remembered.
                if self.columns.len() >= STATEMENT_CACHE * 2 {
                    self.columns.clear();
                }
                self.columns.insert(sql.to_owned(), c.clone());
                c
            }
        };
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(driver_error)? {
            let mut values = Vec::with_capacity(columns.list.len());
            for i in 0..columns.list.len() {
                values.push(AnyValue {
                    kind: value_of(row.get_ref(i).map_err(driver_error)?)?,
                });
            }
            out.push(AnyRow {
                column_names: columns.names.clone(),
                columns: columns.list.clone(),
                values,
            });
            if first_only {
                break;
            }
        }
        // Step to the end (a RETURNING statement finishes its change only then), then reset.
        if first_only {
            while rows.next().map_err(driver_error)?.is_some() {}
        }
        drop(rows);
        Ok((out, self.conn.changes()))
    }
}

fn columns_of(stmt: &rusqlite::Statement<'_>) -> Columns {
    let mut names = sqlx_core::HashMap::default();
    let mut list = Vec::new();
    for (ordinal, name) in stmt.column_names().into_iter().enumerate() {
        names.insert(UStr::new(name), ordinal);
        list.push(AnyColumn {
            ordinal,
            name: UStr::new(name),
            type_info: AnyTypeInfo {
                kind: AnyTypeInfoKind::Null,
            },
        });
    }
    Columns {
        names: Arc::new(names),
        list,
    }
}

/// An argument as SQLite takes it; the Any driver's encoding of each Rust type comes in.
fn bind_value<'a>(value: &'a AnyValueKind<'_>) -> Result<ToSqlOutput<'a>, sqlx::Error> {
    Ok(ToSqlOutput::Borrowed(match value {
        AnyValueKind::Null(_) => ValueRef::Null,
        AnyValueKind::Bool(b) => ValueRef::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => ValueRef::Integer(*i),
        AnyValueKind::Real(f) => ValueRef::Real(f64::from(*f)),
        AnyValueKind::Double(f) => ValueRef::Real(*f),
        AnyValueKind::Text(s) => ValueRef::Text(s.as_bytes()),
        AnyValueKind::Blob(b) => ValueRef::Blob(b),
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "the SQLite writer cannot bind {other:?}"
            )))
        }
    }))
}

/// A stored value as sqlx-sqlite reports it to the Any driver: typed by its storage class.
fn value_of(value: ValueRef<'_>) -> Result<AnyValueKind<'static>, sqlx::Error> {
    Ok(match value {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(f) => AnyValueKind::Double(f),
        ValueRef::Text(t) => AnyValueKind::Text(Cow::Owned(
            String::from_utf8(t.to_vec()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        )),
        ValueRef::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.to_vec())),
    })
}

/// SQLite's refusal as an sqlx database error, so the store classifies it as it does sqlx's
/// (a uniqueness clash is a conflict, the rest a fault whose text goes to the log).
fn driver_error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            sqlx::Error::Database(Box::new(SqliteRefusal {
                code: failure.extended_code,
                message: message.unwrap_or_else(|| failure.to_string()),
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct SqliteRefusal {
    code: std::ffi::c_int,
    message: String,
}

impl std::fmt::Display for SqliteRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteRefusal {}

impl sqlx::error::DatabaseError for SqliteRefusal {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// Runs a query on the SQLite connection at once (the future is ready when first polled).
fn run_now<'q, E>(
    conn: &mut LiteConn,
    mut query: E,
    first_only: bool,
) -> Result<(Vec<AnyRow>, u64), sqlx::Error>
where
    E: 'q + Execute<'q, Any>,
{
    let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
    let values = arguments.map(|a| a.values.0).unwrap_or_default();
    conn.run(query.sql(), &values, first_only)
}

/// A query's answer as the items of sqlx's `fetch_many` stream: its rows, then what it changed.
pub(crate) fn steps(
    answer: Result<(Vec<AnyRow>, u64), sqlx::Error>,
) -> Vec<Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>> {
    match answer {
        Ok((rows, changed)) => rows
            .into_iter()
            .map(|r| Ok(Either::Right(r)))
            .chain(std::iter::once(Ok(Either::Left(AnyQueryResult {
                rows_affected: changed,
                last_insert_id: None,
            }))))
            .collect(),
        Err(e) => vec![Err(e)],
    }
}

impl<'c> Executor<'c> for &'c mut WriteConn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            WriteConn::Sqlx(tx) => (&mut **tx).fetch_many(query),
            WriteConn::Sqlite(conn) => {
                futures::stream::iter(steps(run_now(conn, query, false))).boxed()
            }
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            WriteConn::Sqlx(tx) => (&mut **tx).fetch_optional(query),
            WriteConn::Sqlite(conn) => {
                let first = run_now(conn, query, true).map(|(rows, _)| rows.into_iter().next());
                futures::future::ready(first).boxed()
            }
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::any::AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            WriteConn::Sqlx(tx) => (&mut **tx).prepare_with(sql, parameters),
            WriteConn::Sqlite(_) => futures::future::ready(Err(unsupported("prepare"))).boxed(),
        }
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            WriteConn::Sqlx(tx) => (&mut **tx).describe(sql),
            WriteConn::Sqlite(_) => futures::future::ready(Err(unsupported("describe"))).boxed(),
        }
    }
}

fn unsupported(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the SQLite writer does not {what} statements"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sqlx::Row;

    fn lite() -> WriteConn {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL, b BLOB, f REAL, note TEXT);",
        )
        .unwrap();
        WriteConn::Sqlite(LiteConn::new(conn))
    }

    /// Queries written for sqlx run unchanged: numbered arguments (one used twice), every
    /// bound type, RETURNING, and rows decoded by column name as sqlx-sqlite decodes them.
    #[tokio::test]
    async fn sqlx_queries_run_on_the_writer_connection() {
        let mut conn = lite();
        let done = sqlx::query("INSERT INTO t (id, n, b, f, note) VALUES ($1, $2, $3, $4, $5)")
            .bind("a")
            .bind(7_i64)
            .bind(vec![1_u8, 2, 3])
            .bind(1.5_f64)
            .bind(None::<String>)
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let row = sqlx::query(
            "UPDATE t SET n = n + $2 WHERE id = $1 AND n < $2 + 100 RETURNING id, n, b, f, note",
        )
        .bind("a")
        .bind(3_i64)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.try_get::<String, _>("id").unwrap(), "a");
        assert_eq!(row.try_get::<i64, _>("n").unwrap(), 10);
        assert_eq!(row.try_get::<Vec<u8>, _>("b").unwrap(), vec![1, 2, 3]);
        assert_eq!(row.try_get::<f64, _>("f").unwrap(), 1.5);
        assert_eq!(row.try_get::<Option<String>, _>("note").unwrap(), None);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let all = sqlx::query("SELECT id FROM t WHERE id <> $1")
            .bind("zzz")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
    }

    /// A clash is reported as sqlx reports it, so the store answers 409 and not 500.
    #[tokio::test]
    async fn a_uniqueness_clash_is_an_sqlx_unique_violation() {
        let mut conn = lite();
        let insert = "INSERT INTO t (id, n) VALUES ($1, 1)";
        sqlx::query(insert)
            .bind("a")
            .execute(&mut conn)
            .await
            .unwrap();
        let e = sqlx::query(insert)
            .bind("a")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let db = e.as_database_error().unwrap();
        assert!(db.is_unique_violation(), "{e}");
        let e = sqlx::query("INSERT INTO t (id, n) VALUES ($1, NULL)")
            .bind("b")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(!e.as_database_error().unwrap().is_unique_violation());
    }
}
