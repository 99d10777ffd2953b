//! Loading a snapshot into an EMPTY database (`labledger backup restore`).
//!
//! An operator tool beside the org-scoped door, on purpose: it writes rows that were already
//! accepted (and audited) by the instance that was backed up, into a database that holds
//! nothing, so there is nobody's data to protect and no event to record — the restored chains
//! are the record, and they are verified afterwards. The target is migrated up to the
//! snapshot's schema version, the rows go in (in the snapshot's order, parents first) in ONE
//! transaction, and the remaining migrations run after, as they would have on the original.
//! Append-only triggers stay in force (they refuse UPDATE and DELETE, never INSERT); only the
//! triggers that judge a NEW row by the state of others (evidence for a run that is still in
//! progress) are suspended inside the transaction, since restored rows were judged when made.

use super::sqlite::db;
use crate::error::{Result, StoreError};
use crate::Engine;
use base64::Engine as _;
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor, Row};
use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;

/// How a target column takes its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

enum Bind {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// The table being loaded.
struct TableLoad {
    name: String,
    /// Known once the header line is read: the columns and how each takes values.
    columns: Option<Vec<(String, Kind)>>,
    batch: Vec<Vec<Bind>>,
    rows_per_insert: usize,
}

/// A trigger suspended for the load, restored before the commit.
enum Suspended {
    /// SQLite: dropped, re-created from its text.
    Sqlite(String),
    /// PostgreSQL: disabled on its table.
    Postgres { table: String, trigger: String },
}

/// Writes a snapshot into an empty database; see the module documentation.
pub struct Loader {
    conn: AnyConnection,
    engine: Engine,
    kinds: HashMap<String, HashMap<String, Kind>>,
    suspended: Vec<Suspended>,
    table: Option<TableLoad>,
    partial: Vec<u8>,
    rows: u64,
}

/// At most this many parameters in one INSERT. SQLite allows 32,766, but sqlx-sqlite looks each
/// parameter's name up by number (`sqlite3_bind_parameter_name`, a linear scan), so a statement
/// costs the square of its parameters: a few hundred is the sweet spot. PostgreSQL allows 65,535.
const MAX_PARAMS_SQLITE: usize = 200;
const MAX_PARAMS_POSTGRES: usize = 8_000;
const MAX_ROWS_PER_INSERT: usize = 500;

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the snapshot is not well formed: {what}"))
}

impl Loader {
    /// Refuses a target that already holds data (any row in any table), without creating or
    /// changing anything. A database that does not exist yet, or holds only empty tables, is
    /// fine.
    pub async fn check_empty(url: &str) -> Result<()> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        let tables = match engine {
            Engine::Sqlite => {
                let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_owned();
                if !path.exists() {
                    return Ok(());
                }
                tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
                    let conn = rusqlite::Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )
                    .map_err(db)?;
                    let mut found = Vec::new();
                    for t in super::sqlite::tables(&conn)? {
                        let any: bool = conn
                            .query_row(
                                &format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&t.name)),
                                [],
                                |r| r.get(0),
                            )
                            .map_err(db)?;
                        if any {
                            found.push(t.name);
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))??
            }
            Engine::Postgres => {
                let mut conn = sqlx::postgres::PgConnectOptions::from_str(url)?
                    .disable_statement_logging()
                    .connect()
                    .await?;
                let mut found = Vec::new();
                for t in super::postgres::tables(&mut conn).await? {
                    let any: bool = sqlx::query_scalar(&format!(
                        "SELECT EXISTS (SELECT 1 FROM {})",
                        quote(&t.name)
                    ))
                    .fetch_one(&mut conn)
                    .await?;
                    if any {
                        found.push(t.name);
                    }
                }
                conn.close().await?;
                found
            }
        };
        if let Some(first) = tables.first() {
            return Err(StoreError::Conflict(format!(
                "the target database already holds data (table {first} and {} more): a backup \
                 is restored only into an empty database",
                tables.len() - 1
            )));
        }
        Ok(())
    }

    /// Opens (creating an SQLite file if needed) the target, migrates it up to
    /// `schema_version` and starts the load's transaction. Check [`Loader::check_empty`] first.
    pub async fn open(url: &str, schema_version: i64) -> Result<Loader> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        let known = engine
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if schema_version > known {
            return Err(StoreError::Refused(format!(
                "the backup's schema (migration {schema_version}) is newer than this binary's \
                 (migration {known}): restore it with a newer LabLedger"
            )));
        }
        let mut conn = AnyConnectOptions::from_str(url)?
            .disable_statement_logging()
            .connect()
            .await?;
        if engine == Engine::Sqlite {
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
            )
            .await?;
        }
        let upto = sqlx::migrate::Migrator {
            migrations: Cow::Owned(
                engine
                    .migrator()
                    .iter()
                    .filter(|m| m.version <= schema_version)
                    .cloned()
                    .collect(),
            ),
            ignore_missing: true,
            locking: true,
            no_tx: false,
        };
        upto.run(&mut conn).await?;
        conn.execute("BEGIN").await?;
        if engine == Engine::Sqlite {
            // Checked at the commit, once every row is in.
            conn.execute("PRAGMA defer_foreign_keys = ON").await?;
        }
        let mut loader = Loader {
            conn,
            engine,
            kinds: HashMap::new(),
            suspended: Vec::new(),
            table: None,
            partial: Vec::new(),
            rows: 0,
        };
        loader.read_kinds().await?;
        loader.suspend_insert_triggers().await?;
        Ok(loader)
    }

    async fn read_kinds(&mut self) -> Result<()> {
        let rows =
            match self.engine {
                Engine::Sqlite => {
                    sqlx::query(
                        "SELECT m.name AS t, p.name AS c, p.type AS ty FROM sqlite_master m \
                     JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
                    )
                    .fetch_all(&mut self.conn)
                    .await?
                }
                Engine::Postgres => sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty \
                     FROM information_schema.columns WHERE table_schema = current_schema()",
                )
                .fetch_all(&mut self.conn)
                .await?,
            };
        for row in rows {
            let (t, c, ty): (String, String, String) =
                (row.try_get("t")?, row.try_get("c")?, row.try_get("ty")?);
            let ty = ty.to_ascii_uppercase();
            let kind = if ty.contains("INT") {
                Kind::Int
            } else if ty.contains("REAL") || ty.contains("DOUB") || ty.contains("FLOA") {
                Kind::Real
            } else if ty.contains("BLOB") || ty.contains("BYTEA") || ty.is_empty() {
                Kind::Blob
            } else {
                Kind::Text
            };
            self.kinds.entry(t).or_default().insert(c, kind);
        }
        Ok(())
    }

    async fn suspend_insert_triggers(&mut self) -> Result<()> {
        match self.engine {
            Engine::Sqlite => {
                let rows = sqlx::query(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' \
                     AND UPPER(sql) LIKE '% INSERT ON %'",
                )
                .fetch_all(&mut self.conn)
                .await?;
                for row in rows {
                    let (name, sql): (String, String) = (row.try_get("name")?, row.try_get("sql")?);
                    self.conn
                        .execute(format!("DROP TRIGGER {}", quote(&name)).as_str())
                        .await?;
                    self.suspended.push(Suspended::Sqlite(sql));
                }
            }
            Engine::Postgres => {
                let rows = sqlx::query(
                    "SELECT DISTINCT event_object_table::text AS t, trigger_name::text AS n \
                     FROM information_schema.triggers \
                     WHERE trigger_schema = current_schema() AND event_manipulation = 'INSERT'",
                )
                .fetch_all(&mut self.conn)
                .await?;
                for row in rows {
                    let (table, trigger): (String, String) = (row.try_get("t")?, row.try_get("n")?);
                    self.conn
                        .execute(
                            format!(
                                "ALTER TABLE {} DISABLE TRIGGER {}",
                                quote(&table),
                                quote(&trigger)
                            )
                            .as_str(),
                        )
                        .await?;
                    self.suspended.push(Suspended::Postgres { table, trigger });
                }
            }
        }
        Ok(())
    }

    /// Starts the entry of table `name` (its bytes follow through [`Loader::feed`]).
    pub async fn begin_table(&mut self, name: &str) -> Result<()> {
        self.end_table().await?;
        if !self.kinds.contains_key(name) || !super::is_snapshot_table(name) {
            return Err(corrupt(format!("unknown table {name}")));
        }
        self.table = Some(TableLoad {
            name: name.to_owned(),
            columns: None,
            batch: Vec::new(),
            rows_per_insert: 1,
        });
        Ok(())
    }

    /// The next bytes of the current table's entry (split anywhere).
    pub async fn feed(&mut self, mut bytes: &[u8]) -> Result<()> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(end);
            bytes = rest.get(1..).unwrap_or_default();
            if self.partial.is_empty() {
                self.line(line).await?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole).await?;
            }
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    async fn line(&mut self, line: &[u8]) -> Result<()> {
        let table = self
            .table
            .as_mut()
            .ok_or_else(|| corrupt("rows outside a table"))?;
        let Some(columns) = &table.columns else {
            #[derive(serde::Deserialize)]
            struct Header {
                table: String,
                columns: Vec<String>,
            }
            let header: Header = serde_json::from_slice(line).map_err(corrupt)?;
            if header.table != table.name {
                return Err(corrupt(format!(
                    "table {} in entry {}",
                    header.table, table.name
                )));
            }
            let kinds = self
                .kinds
                .get(&table.name)
                .ok_or_else(|| corrupt(format!("unknown table {}", table.name)))?;
            let mut columns = Vec::with_capacity(header.columns.len());
            for c in header.columns {
                let kind = *kinds.get(&c).ok_or_else(|| {
                    corrupt(format!("table {} has no column {c} here", table.name))
                })?;
                columns.push((c, kind));
            }
            let max_params = match self.engine {
                Engine::Sqlite => MAX_PARAMS_SQLITE,
                Engine::Postgres => MAX_PARAMS_POSTGRES,
            };
            table.rows_per_insert =
                (max_params / columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
            table.columns = Some(columns);
            return Ok(());
        };
        let values: Vec<serde_json::Value> = serde_json::from_slice(line).map_err(corrupt)?;
        if values.len() != columns.len() {
            return Err(corrupt(format!(
                "a row of {} has {} values",
                table.name,
                values.len()
            )));
        }
        let row = values
            .into_iter()
            .zip(columns)
            .map(|(v, (c, kind))| {
                bind(v, *kind).ok_or_else(|| corrupt(format!("{}.{c}", table.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        table.batch.push(row);
        if table.batch.len() >= table.rows_per_insert {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let Some(table) = self.table.as_mut() else {
            return Ok(());
        };
        let (Some(columns), false) = (&table.columns, table.batch.is_empty()) else {
            return Ok(());
        };
        let names = columns
            .iter()
            .map(|(c, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!("INSERT INTO {} ({names}) VALUES ", quote(&table.name));
        let mut n = 0;
        for (r, row) in table.batch.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for i in 0..row.len() {
                n += 1;
                sql.push_str(&if i == 0 {
                    format!("${n}")
                } else {
                    format!(", ${n}")
                });
            }
            sql.push(')');
        }
        let batch = std::mem::take(&mut table.batch);
        let count = batch.len() as u64;
        let mut q = sqlx::query(&sql);
        for value in batch.into_iter().flatten() {
            q = match value {
                Bind::Null(Kind::Int) => q.bind(None::<i64>),
                Bind::Null(Kind::Real) => q.bind(None::<f64>),
                Bind::Null(Kind::Text) => q.bind(None::<String>),
                Bind::Null(Kind::Blob) => q.bind(None::<Vec<u8>>),
                Bind::Int(v) => q.bind(v),
                Bind::Real(v) => q.bind(v),
                Bind::Text(v) => q.bind(v),
                Bind::Blob(v) => q.bind(v),
            };
        }
        q.execute(&mut self.conn).await?;
        self.rows += count;
        Ok(())
    }

    /// Ends the current table (if any).
    pub async fn end_table(&mut self) -> Result<()> {
        if !self.partial.is_empty() {
            return Err(corrupt("a table's last row is cut short"));
        }
        self.flush().await?;
        if let Some(t) = self.table.take() {
            if t.columns.is_none() {
                return Err(corrupt(format!("table {} has no header", t.name)));
            }
        }
        Ok(())
    }

    /// Commits the load (foreign keys are checked here on SQLite), then runs the migrations the
    /// snapshot predates. Answers how many rows were loaded.
    pub async fn finish(mut self) -> Result<u64> {
        self.end_table().await?;
        for s in std::mem::take(&mut self.suspended) {
            match s {
                Suspended::Sqlite(sql) => self.conn.execute(sql.as_str()).await.map(|_| ())?,
                Suspended::Postgres { table, trigger } => self
                    .conn
                    .execute(
                        format!(
                            "ALTER TABLE {} ENABLE TRIGGER {}",
                            quote(&table),
                            quote(&trigger)
                        )
                        .as_str(),
                    )
                    .await
                    .map(|_| ())?,
            }
        }
        if self.engine == Engine::Postgres {
            self.reset_sequences().await?;
        }
        self.conn.execute("COMMIT").await?;
        crate::engine::migrate(self.engine, &mut self.conn).await?;
        self.conn.close().await?;
        Ok(self.rows)
    }

    /// Sequences and identity columns continue after the restored rows (the schema has none
    /// today; kept so a future one cannot hand out a restored id again).
    async fn reset_sequences(&mut self) -> Result<()> {
        let rows = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() \
             AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
        )
        .fetch_all(&mut self.conn)
        .await?;
        for row in rows {
            let (t, c): (String, String) = (row.try_get("t")?, row.try_get("c")?);
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{c}'), \
                 COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                quote(&c),
                quote(&t)
            );
            self.conn.execute(sql.as_str()).await?;
        }
        Ok(())
    }

    /// Abandons the load: nothing of it stays (the migrations up to the snapshot's version do).
    pub async fn abort(mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
        let _ = self.conn.close().await;
    }

    /// Rows loaded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// A snapshot value as the target column takes it (None: the value does not fit the column).
fn bind(value: serde_json::Value, kind: Kind) -> Option<Bind> {
    use serde_json::Value;
    Some(match (value, kind) {
        (Value::Null, k) => Bind::Null(k),
        (Value::Number(n), Kind::Int) => Bind::Int(n.as_i64()?),
        (Value::Number(n), Kind::Real) => Bind::Real(n.as_f64()?),
        (Value::String(s), Kind::Text) => Bind::Text(s),
        (Value::Object(o), Kind::Blob) => match o.get("b") {
            Some(Value::String(b)) => {
                Bind::Blob(base64::engine::general_purpose::STANDARD.decode(b).ok()?)
            }
            _ => return None,
        },
        _ => return None,
    })
}
