//! PostgreSQL: the dump reads on a connection of its own, in one `REPEATABLE READ READ ONLY`
//! transaction, through sqlx's native rows (typed by the column's PostgreSQL type).

use super::{order, select, ChainHead, DumpItem, Lines, SnapshotInfo, TableMeta};
use crate::error::{Result, StoreError};
use crate::Engine;
use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, ConnectOptions, Connection, Row, TypeInfo};
use std::collections::BTreeMap;
use std::str::FromStr;
use tokio::sync::mpsc::Sender;

async fn send(tx: &Sender<Result<DumpItem>>, item: DumpItem) -> Result<()> {
    tx.send(Ok(item))
        .await
        .map_err(|_| StoreError::Refused("the backup stopped reading the snapshot".into()))
}

pub(super) async fn dump(url: &str, tx: &Sender<Result<DumpItem>>) -> Result<()> {
    let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
    let mut conn = options.connect().await?;
    let mut snapshot = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let schema_version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
    )
    .fetch_one(&mut *snapshot)
    .await?;
    send(
        tx,
        DumpItem::Begin {
            schema_version,
            engine: Engine::Postgres,
        },
    )
    .await?;
    let tables = order(tables(&mut snapshot).await?);
    let mut lines = Lines::default();
    for table in &tables {
        send(tx, DumpItem::Table(table.name.clone())).await?;
        lines.header(table)?;
        let sql = select(table);
        let mut rows = sqlx::query(&sql).fetch(&mut *snapshot);
        while let Some(row) = rows.try_next().await? {
            write_row(&mut lines, &row)?;
            if let Some(chunk) = lines.take(false) {
                send(tx, DumpItem::Rows(chunk)).await?;
            }
        }
        drop(rows);
        if let Some(chunk) = lines.take(true) {
            send(tx, DumpItem::Rows(chunk)).await?;
        }
    }
    let heads = sqlx::query("SELECT org_id, seq, hash FROM audit_heads ORDER BY org_id")
        .fetch_all(&mut *snapshot)
        .await?
        .iter()
        .map(|r| {
            Ok(ChainHead {
                org_id: r.try_get("org_id")?,
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    {
        let mut paths =
            sqlx::query_scalar::<_, String>("SELECT path FROM file_objects ORDER BY path")
                .fetch(&mut *snapshot);
        while let Some(path) = paths.try_next().await? {
            send(tx, DumpItem::Object(path)).await?;
        }
    }
    snapshot.commit().await?;
    conn.close().await?;
    send(
        tx,
        DumpItem::End(SnapshotInfo {
            schema_version,
            engine: Engine::Postgres,
            heads,
        }),
    )
    .await
}

fn write_row(lines: &mut Lines, row: &PgRow) -> Result<()> {
    lines.begin_row();
    for (i, column) in row.columns().iter().enumerate() {
        match column.type_info().name() {
            "INT8" => match row.try_get::<Option<i64>, _>(i)? {
                Some(v) => lines.int(v),
                None => lines.null(),
            },
            "INT4" => match row.try_get::<Option<i32>, _>(i)? {
                Some(v) => lines.int(v.into()),
                None => lines.null(),
            },
            "INT2" => match row.try_get::<Option<i16>, _>(i)? {
                Some(v) => lines.int(v.into()),
                None => lines.null(),
            },
            "FLOAT8" => match row.try_get::<Option<f64>, _>(i)? {
                Some(v) => lines.real(v),
                None => lines.null(),
            },
            "FLOAT4" => match row.try_get::<Option<f32>, _>(i)? {
                Some(v) => lines.real(v.into()),
                None => lines.null(),
            },
            "BOOL" => match row.try_get::<Option<bool>, _>(i)? {
                Some(v) => lines.int(i64::from(v)),
                None => lines.null(),
            },
            "BYTEA" => match row.try_get::<Option<Vec<u8>>, _>(i)? {
                Some(v) => lines.blob(&v),
                None => lines.null(),
            },
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => match row.try_get::<Option<&str>, _>(i)? {
                Some(v) => lines.text(v),
                None => lines.null(),
            },
            other => {
                return Err(StoreError::Corrupt(format!(
                    "column {} has type {other}, which a snapshot cannot carry",
                    column.name()
                )))
            }
        }
    }
    lines.end_row();
    Ok(())
}

/// Every table of the schema with its columns and foreign keys.
pub(crate) async fn tables(conn: &mut PgConnection) -> Result<Vec<TableMeta>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let fks = sqlx::query(
        "SELECT cl.relname::text AS child, pl.relname::text AS parent, \
           ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n \
                 ORDER BY k.i) AS from_cols, \
           ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n \
                 ORDER BY k.i) AS to_cols \
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid \
         JOIN pg_class pl ON pl.oid = c.confrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
         WHERE c.contype = 'f' AND ns.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await?;
    // child table -> (parent table, its columns, the parent's columns)
    type ForeignKey = (String, Vec<String>, Vec<String>);
    let mut by_child: BTreeMap<String, Vec<ForeignKey>> = BTreeMap::new();
    for fk in &fks {
        by_child.entry(fk.try_get("child")?).or_default().push((
            fk.try_get("parent")?,
            fk.try_get("from_cols")?,
            fk.try_get("to_cols")?,
        ));
    }
    let mut out = Vec::new();
    for name in names.into_iter().filter(|n| super::is_snapshot_table(n)) {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let mut meta = TableMeta {
            name: name.clone(),
            columns,
            parents: Default::default(),
            self_ref: None,
        };
        for (parent, from, to) in by_child.remove(&name).unwrap_or_default() {
            if parent == name {
                meta.self_ref = Some((from, to));
            } else {
                meta.parents.insert(parent);
            }
        }
        out.push(meta);
    }
    Ok(out)
}
