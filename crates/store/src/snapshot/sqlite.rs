//! SQLite: the dump reads on a read-only rusqlite connection of its own, on a blocking thread,
//! in one read transaction (WAL: a consistent snapshot while the writer goes on).

use super::{order, select, ChainHead, DumpItem, Lines, SnapshotInfo, TableMeta};
use crate::error::{Result, StoreError};
use crate::Engine;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::mpsc::Sender;

pub(super) fn spawn_dump(url: String, tx: Sender<Result<DumpItem>>) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = dump(&url, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
}

pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!("sqlite: {e}")))
}

/// The receiver went away: stop quietly.
fn send(tx: &Sender<Result<DumpItem>>, item: DumpItem) -> Result<()> {
    tx.blocking_send(Ok(item))
        .map_err(|_| StoreError::Refused("the backup stopped reading the snapshot".into()))
}

fn dump(url: &str, tx: &Sender<Result<DumpItem>>) -> Result<()> {
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    // The snapshot starts with the first read of this transaction and holds for all of them.
    conn.execute_batch("BEGIN").map_err(db)?;
    let schema_version: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    send(
        tx,
        DumpItem::Begin {
            schema_version,
            engine: Engine::Sqlite,
        },
    )?;
    let tables = order(tables(&conn)?);
    let mut lines = Lines::default();
    for table in &tables {
        send(tx, DumpItem::Table(table.name.clone()))?;
        lines.header(table)?;
        let mut stmt = conn.prepare(&select(table)).map_err(db)?;
        let n = table.columns.len();
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            lines.begin_row();
            for i in 0..n {
                match row.get_ref(i).map_err(db)? {
                    ValueRef::Null => lines.null(),
                    ValueRef::Integer(v) => lines.int(v),
                    ValueRef::Real(v) => lines.real(v),
                    ValueRef::Text(t) => lines.text(&String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => lines.blob(b),
                }
            }
            lines.end_row();
            if let Some(chunk) = lines.take(false) {
                send(tx, DumpItem::Rows(chunk))?;
            }
        }
        if let Some(chunk) = lines.take(true) {
            send(tx, DumpItem::Rows(chunk))?;
        }
    }
    let heads = {
        let mut stmt = conn
            .prepare("SELECT org_id, seq, hash FROM audit_heads ORDER BY org_id")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ChainHead {
                    org_id: r.get(0)?,
                    seq: r.get(1)?,
                    hash: r.get(2)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)?
    };
    {
        let mut stmt = conn
            .prepare("SELECT path FROM file_objects ORDER BY path")
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            send(tx, DumpItem::Object(row.get(0).map_err(db)?))?;
        }
    }
    conn.execute_batch("COMMIT").map_err(db)?;
    send(
        tx,
        DumpItem::End(SnapshotInfo {
            schema_version,
            engine: Engine::Sqlite,
            heads,
        }),
    )
}

/// Every table of the schema with its columns and foreign keys.
pub(crate) fn tables(conn: &Connection) -> Result<Vec<TableMeta>> {
    let names: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .map_err(db)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(db)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(db)?
    };
    let mut out = Vec::new();
    for name in names.into_iter().filter(|n| super::is_snapshot_table(n)) {
        let columns: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .map_err(db)?;
            let rows = stmt.query_map([&name], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(db)?
        };
        // fk id -> (parent table, [(column, the parent's column; None: its primary key)])
        type ColumnPairs = Vec<(String, Option<String>)>;
        let mut fks: BTreeMap<i64, (String, ColumnPairs)> = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) \
                     ORDER BY id, seq",
                )
                .map_err(db)?;
            let mut rows = stmt.query([&name]).map_err(db)?;
            while let Some(r) = rows.next().map_err(db)? {
                let entry = fks
                    .entry(r.get(0).map_err(db)?)
                    .or_insert_with(|| (String::new(), Vec::new()));
                entry.0 = r.get(1).map_err(db)?;
                entry.1.push((r.get(2).map_err(db)?, r.get(3).map_err(db)?));
            }
        }
        let mut meta = TableMeta {
            name: name.clone(),
            columns,
            parents: Default::default(),
            self_ref: None,
        };
        for (parent, pairs) in fks.into_values() {
            if parent == name {
                let from = pairs.iter().map(|(f, _)| f.clone()).collect();
                let to = pairs
                    .iter()
                    .map(|(_, t)| t.clone().unwrap_or_else(|| "id".into()))
                    .collect();
                meta.self_ref = Some((from, to));
            } else {
                meta.parents.insert(parent);
            }
        }
        out.push(meta);
    }
    Ok(out)
}
