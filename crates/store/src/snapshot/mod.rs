//! A logical snapshot of the whole database, the same format for both engines, so a backup of
//! one restores into the other.
//!
//! [`Store::dump`] reads every table of the schema in ONE read transaction (SQLite: a read
//! transaction of a read-only connection, a consistent snapshot beside the writer in WAL mode;
//! PostgreSQL: `REPEATABLE READ READ ONLY`) and streams it through a bounded channel, so memory
//! does not grow with the database. Each table is one entry: a header line
//! `{"table": NAME, "columns": [...]}`, then one JSON array per row with typed values — null,
//! integer, real (always written with a fraction or exponent), text, and blobs as
//! `{"b": base64}`. Tables come parents first (foreign keys), and the rows of a table that
//! refers to itself parents first too, so a loader that checks every row at once succeeds.
//! After the tables, still in the same snapshot, the object paths the snapshot refers to.
//!
//! [`Loader`] writes such a snapshot into an empty database (`backup restore`): an operator
//! tool outside the org-scoped door, for a database that holds nothing yet.

mod load;
mod postgres;
mod sqlite;

pub use load::Loader;

use crate::error::{Result, StoreError};
use crate::{Engine, Store};
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::mpsc;

/// What a dump streams, in this order: the schema version, each table (its entry's bytes in pieces), the object
/// paths, then the end.
#[derive(Debug)]
pub enum DumpItem {
    /// First: the schema the snapshot has (the last migration applied) and its engine.
    Begin { schema_version: i64, engine: Engine },
    /// The start of a table's entry (its bytes follow as [`DumpItem::Rows`]).
    Table(String),
    /// The next bytes of the current table's entry (whole lines).
    Rows(Vec<u8>),
    /// An object of the object store the snapshot refers to (`file_objects.path`).
    Object(String),
    /// The end: what the snapshot was.
    End(SnapshotInfo),
}

/// The facts of one snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    /// The last migration applied to the database when it was read.
    pub schema_version: i64,
    pub engine: Engine,
    /// Every org's chain head, in the same snapshot.
    pub heads: Vec<ChainHead>,
}

/// An org's audit chain head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub org_id: String,
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// Bytes of rows handed on at a time.
const ROWS_CHUNK: usize = 256 * 1024;
/// Items waiting in the channel (bounds memory).
const QUEUE: usize = 8;

/// The tables a snapshot leaves out: the migration bookkeeping, which a restore rebuilds by
/// running the migrations up to the snapshot's version.
pub(crate) fn is_snapshot_table(name: &str) -> bool {
    name != "_sqlx_migrations" && !name.starts_with("sqlite_")
}

/// A table as the dump reads it.
#[derive(Clone, Debug)]
pub(crate) struct TableMeta {
    pub name: String,
    pub columns: Vec<String>,
    /// Tables its foreign keys name (itself excluded).
    pub parents: BTreeSet<String>,
    /// A foreign key to itself: (its columns, the columns they refer to).
    pub self_ref: Option<(Vec<String>, Vec<String>)>,
}

/// Parents before children (a cycle, which the schema does not have, keeps the name order).
pub(crate) fn order(tables: Vec<TableMeta>) -> Vec<TableMeta> {
    let mut left: BTreeMap<String, TableMeta> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| done.contains(p) || !left.contains_key(p))
            })
            .map(|t| t.name.clone())
            .collect();
        let next = if ready.is_empty() {
            left.keys().take(1).cloned().collect()
        } else {
            ready
        };
        for name in next {
            if let Some(t) = left.remove(&name) {
                done.insert(name);
                out.push(t);
            }
        }
    }
    out
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The SELECT of a table's rows; a table that refers to itself is read parents first (by depth
/// from the rows that refer to no row of it).
pub(crate) fn select(table: &TableMeta) -> String {
    let cols = |prefix: &str| {
        table
            .columns
            .iter()
            .map(|c| format!("{prefix}{}", quote(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = quote(&table.name);
    let Some((from, to)) = &table.self_ref else {
        return format!("SELECT {} FROM {t}", cols(""));
    };
    let to_list = to.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let roots = from
        .iter()
        .map(|c| format!("{} IS NULL", quote(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let step = from
        .iter()
        .zip(to)
        .map(|(f, k)| format!("c.{} = tree.{}", quote(f), quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let join = to
        .iter()
        .map(|k| format!("x.{} = tree.{}", quote(k), quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let tree_cols = to
        .iter()
        .map(|k| format!("c.{}", quote(k)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH RECURSIVE tree ({to_list}, depth) AS (\
         SELECT {to_list}, 0 FROM {t} WHERE {roots} \
         UNION ALL SELECT {tree_cols}, tree.depth + 1 FROM {t} c JOIN tree ON {step}) \
         SELECT {} FROM {t} x JOIN tree ON {join} ORDER BY tree.depth",
        cols("x.")
    )
}

/// One row's values as a JSON array line.
#[derive(Default)]
pub(crate) struct Lines {
    pub buf: Vec<u8>,
    first: bool,
}

impl Lines {
    pub fn header(&mut self, table: &TableMeta) -> Result<()> {
        let header = serde_json::json!({ "table": table.name, "columns": table.columns });
        serde_json::to_writer(&mut self.buf, &header)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.buf.push(b'\n');
        Ok(())
    }
    pub fn begin_row(&mut self) {
        self.buf.push(b'[');
        self.first = true;
    }
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }
    pub fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"null");
    }
    pub fn int(&mut self, v: i64) {
        self.sep();
        self.buf.extend_from_slice(v.to_string().as_bytes());
    }
    pub fn real(&mut self, v: f64) {
        self.sep();
        // serde_json writes a finite f64 with a fraction or exponent, so it reads back as real.
        let text = serde_json::to_string(&v).unwrap_or_else(|_| "null".into());
        self.buf.extend_from_slice(text.as_bytes());
    }
    pub fn text(&mut self, v: &str) {
        self.sep();
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, v);
    }
    pub fn blob(&mut self, v: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(b"{\"b\":\"");
        let encoded = base64::engine::general_purpose::STANDARD.encode(v);
        self.buf.extend_from_slice(encoded.as_bytes());
        self.buf.extend_from_slice(b"\"}");
    }
    pub fn end_row(&mut self) {
        self.buf.extend_from_slice(b"]\n");
    }
    /// The bytes so far, once there are enough to hand on (or `force`).
    pub fn take(&mut self, force: bool) -> Option<Vec<u8>> {
        (force && !self.buf.is_empty() || self.buf.len() >= ROWS_CHUNK)
            .then(|| std::mem::replace(&mut self.buf, Vec::with_capacity(ROWS_CHUNK + 4096)))
    }
}

impl Store {
    /// Streams a consistent logical snapshot of the whole database (see the module
    /// documentation). Dropping the receiver stops the dump and ends its transaction.
    pub fn dump(&self) -> mpsc::Receiver<Result<DumpItem>> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let url = self.reader().database_url();
        match self.engine() {
            Engine::Sqlite => sqlite::spawn_dump(url, tx),
            Engine::Postgres => {
                tokio::spawn(async move {
                    if let Err(e) = postgres::dump(&url, &tx).await {
                        let _ = tx.send(Err(e)).await;
                    }
                });
            }
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, parents: &[&str]) -> TableMeta {
        TableMeta {
            name: name.into(),
            columns: vec!["id".into()],
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            self_ref: None,
        }
    }

    #[test]
    fn parents_come_first() {
        let ordered = order(vec![
            meta("c", &["b"]),
            meta("b", &["a"]),
            meta("a", &[]),
            meta("d", &["a", "c"]),
        ]);
        let names: Vec<_> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn values_are_typed_lines() {
        let mut l = Lines::default();
        l.begin_row();
        l.null();
        l.int(-3);
        l.real(1.0);
        l.text("a\"b");
        l.blob(&[0, 255]);
        l.end_row();
        assert_eq!(
            String::from_utf8(l.buf).unwrap(),
            "[null,-3,1.0,\"a\\\"b\",{\"b\":\"AP8=\"}]\n"
        );
    }
}
