//! The two migration trees must describe the same schema: the same tables and columns (with
//! their types, normalised across engines, and nullability), primary keys, unique keys, foreign
//! keys (with their ON DELETE), CHECK constraints (the columns, literals and numbers they name),
//! named indexes, and triggers with what they refuse. On PostgreSQL every table whose rows a
//! trigger refuses to delete must refuse TRUNCATE as well (SQLite has no TRUNCATE).
//! Run against a real PostgreSQL named by `LABLEDGER_TEST_PG_ADMIN_URL` (scripts/test.sh starts
//! one).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use labledger_store::{Store, StoreOptions};
use sqlx::{Connection, Executor, Row};
use std::collections::{BTreeMap, BTreeSet};

/// One schema, each facet a set of normalised lines so a difference names itself.
#[derive(Debug, Default)]
struct Schema {
    columns: BTreeSet<String>,
    primary_keys: BTreeSet<String>,
    uniques: BTreeSet<String>,
    foreign_keys: BTreeSet<String>,
    checks: BTreeSet<String>,
    indexes: BTreeSet<String>,
    triggers: BTreeSet<String>,
    /// PostgreSQL only: tables with a refusing TRUNCATE trigger.
    truncate_refused: BTreeSet<String>,
}

/// Column types by family: the engines spell them differently.
fn type_family(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "bigint" | "integer" | "int" | "smallint" => "int".into(),
        "text" => "text".into(),
        "blob" | "bytea" => "bytes".into(),
        "real" | "double precision" => "real".into(),
        other => format!("unknown:{other}"),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Lit(String),
    Ident(String),
    Num(String),
    Punct(char),
}

/// A small SQL tokenizer: string literals, identifiers, numbers, punctuation; `--` comments
/// skipped.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' {
            let mut lit = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    lit.push('\'');
                    i += 2;
                } else if chars[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    lit.push(chars[i]);
                    i += 1;
                }
            }
            out.push(Token::Lit(lit));
        } else if c.is_ascii_alphabetic() || c == '_' || c == '"' {
            let mut id = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '"')
            {
                if chars[i] != '"' {
                    id.push(chars[i]);
                }
                i += 1;
            }
            out.push(Token::Ident(id.to_ascii_lowercase()));
        } else if c.is_ascii_digit() {
            let mut n = String::new();
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                n.push(chars[i]);
                i += 1;
            }
            out.push(Token::Num(n));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// Every `CHECK ( … )` in `sql`, each as its tokens inside the parentheses.
fn check_bodies(sql: &str) -> Vec<Vec<Token>> {
    let toks = tokens(sql);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == Token::Ident("check".into()) && toks.get(i + 1) == Some(&Token::Punct('(')) {
            let mut depth = 0;
            let mut body = Vec::new();
            let mut j = i + 1;
            while j < toks.len() {
                match toks[j] {
                    Token::Punct('(') => depth += 1,
                    Token::Punct(')') => depth -= 1,
                    _ => {}
                }
                body.push(toks[j].clone());
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            out.push(body);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// A CHECK's intent, comparable across engines: the table's columns it names, and its literals
/// and numbers (PostgreSQL rewrites `IN` and `BETWEEN`, and adds casts, but keeps these).
fn check_line(table: &str, columns: &BTreeSet<String>, body: &[Token]) -> String {
    let mut cols = BTreeSet::new();
    let mut lits = BTreeSet::new();
    let mut nums = BTreeSet::new();
    let mut after_cast = false;
    for (k, t) in body.iter().enumerate() {
        match t {
            Token::Ident(id) if !after_cast && columns.contains(id) => {
                cols.insert(id.clone());
            }
            Token::Lit(l) => {
                lits.insert(l.clone());
            }
            Token::Num(n) => {
                nums.insert(n.clone());
            }
            _ => {}
        }
        after_cast = matches!(t, Token::Punct(':')) && k > 0 && body[k - 1] == Token::Punct(':');
    }
    format!("{table}: check cols{cols:?} literals{lits:?} numbers{nums:?}")
}

/// A trigger's intent: when, on which operation of which table, and whether it refuses.
fn trigger_line(name: &str, timing: &str, event: &str, table: &str, refuses: bool) -> String {
    let verdict = if refuses { "refuses" } else { "allows" };
    format!("{name}: {timing} {event} ON {table} {verdict}")
}

fn on_delete(action: &str) -> String {
    match action {
        "a" | "NO ACTION" => "no action",
        "r" | "RESTRICT" => "restrict",
        "c" | "CASCADE" => "cascade",
        "n" | "SET NULL" => "set null",
        "d" | "SET DEFAULT" => "set default",
        other => other,
    }
    .to_owned()
}

/// One SQLite foreign key: target table, ON DELETE, from columns, to columns (none = its PK).
type SqliteForeignKey = (String, String, Vec<String>, Vec<Option<String>>);

async fn sqlite_schema(path: &std::path::Path) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut s = Schema::default();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut pk_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut columns_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (t, _) in &tables {
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in sqlx::query(&format!("PRAGMA table_info({t})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let name: String = r.get("name");
            let declared: String = r.get("type");
            let notnull: i64 = r.get("notnull");
            let in_pk: i64 = r.get("pk");
            s.columns.insert(format!(
                "{t}.{name} {} notnull={}",
                type_family(&declared),
                notnull == 1 || in_pk > 0
            ));
            columns_of
                .entry(t.clone())
                .or_default()
                .insert(name.to_ascii_lowercase());
            if in_pk > 0 {
                pk.push((in_pk, name));
            }
        }
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        if !pk.is_empty() {
            s.primary_keys.insert(format!("{t} pk({})", pk.join(",")));
        }
        pk_of.insert(t.clone(), pk);
    }
    for (t, sql) in &tables {
        for r in sqlx::query(&format!("PRAGMA index_list({t})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let unique: i64 = r.get("unique");
            let origin: String = r.get("origin");
            let partial: i64 = r.get("partial");
            let name: String = r.get("name");
            if unique == 0 || origin == "pk" {
                continue;
            }
            let mut cols: Vec<(i64, String)> = Vec::new();
            for c in sqlx::query(&format!("PRAGMA index_info(\"{name}\")"))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                let seqno: i64 = c.get("seqno");
                let col: Option<String> = c.get("name");
                cols.push((seqno, col.unwrap_or_else(|| "expr".into())));
            }
            cols.sort();
            let cols: Vec<String> = cols.into_iter().map(|(_, c)| c).collect();
            let partial = if partial == 1 { " partial" } else { "" };
            s.uniques
                .insert(format!("{t} unique({}){partial}", cols.join(",")));
        }
        let mut fks: BTreeMap<i64, SqliteForeignKey> = BTreeMap::new();
        for r in sqlx::query(&format!("PRAGMA foreign_key_list({t})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let id: i64 = r.get("id");
            let entry = fks.entry(id).or_insert_with(|| {
                (
                    r.get::<String, _>("table"),
                    r.get::<String, _>("on_delete"),
                    Vec::new(),
                    Vec::new(),
                )
            });
            entry.2.push(r.get("from"));
            entry.3.push(r.get("to"));
        }
        for (_, (target, delete, from, to)) in fks {
            // A reference without columns means the target's primary key.
            let to: Vec<String> = if to.iter().all(Option::is_none) {
                pk_of.get(&target).cloned().unwrap_or_default()
            } else {
                to.into_iter().map(Option::unwrap_or_default).collect()
            };
            s.foreign_keys.insert(format!(
                "{t}({}) -> {target}({}) on delete {}",
                from.join(","),
                to.join(","),
                on_delete(&delete)
            ));
        }
        let columns = columns_of.get(t).cloned().unwrap_or_default();
        for body in check_bodies(sql) {
            s.checks.insert(check_line(t, &columns, &body));
        }
    }
    let named = |kind: &str| {
        format!("SELECT name FROM sqlite_master WHERE type = '{kind}' AND name NOT LIKE 'sqlite_autoindex%'")
    };
    let indexes: Vec<String> = sqlx::query_scalar(&named("index"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    s.indexes = indexes.into_iter().collect();
    let triggers: Vec<(String, String, String)> =
        sqlx::query_as("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for (name, table, sql) in triggers {
        let toks = tokens(&sql);
        let word = |w: &str| toks.contains(&Token::Ident(w.into()));
        let timing = if word("before") {
            "BEFORE"
        } else if word("instead") {
            "INSTEAD OF"
        } else {
            "AFTER"
        };
        // The event is the first of these words after the trigger's name.
        let event = toks
            .iter()
            .find_map(|t| match t {
                Token::Ident(w) if ["insert", "update", "delete"].contains(&w.as_str()) => {
                    Some(w.to_ascii_uppercase())
                }
                _ => None,
            })
            .unwrap_or_default();
        let refuses = toks.windows(3).any(|w| {
            w[0] == Token::Ident("raise".into())
                && w[1] == Token::Punct('(')
                && matches!(&w[2], Token::Ident(a) if a == "abort" || a == "fail" || a == "rollback")
        });
        s.triggers
            .insert(trigger_line(&name, timing, &event, &table, refuses));
    }
    s
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let mut s = Schema::default();
    let mut columns_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n, data_type::text AS ty \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    {
        let t: String = r.get("t");
        let c: String = r.get("c");
        s.columns.insert(format!(
            "{t}.{c} {} notnull={}",
            type_family(&r.get::<String, _>("ty")),
            r.get::<String, _>("n") == "NO"
        ));
        columns_of.entry(t).or_default().insert(c.to_ascii_lowercase());
    }
    // Keys and constraints from the catalog, columns in key order.
    let key_cols = |rel: &str, keys: &str| {
        format!(
            "(SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) FROM unnest({keys}) WITH ORDINALITY k(n, ord) \
             JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n)"
        )
    };
    let sql = format!(
        "SELECT c.contype::text AS kind, c.conrelid::regclass::text AS t, c.confrelid::regclass::text AS target, \
         {} AS cols, {} AS target_cols, c.confdeltype::text AS del, pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace \
         WHERE ns.nspname = 'public' AND c.contype IN ('p', 'f', 'c') \
         AND c.conrelid::regclass::text NOT LIKE '\\_sqlx%'",
        key_cols("c.conrelid", "c.conkey"),
        key_cols("c.confrelid", "c.confkey"),
    );
    for r in sqlx::query(&sql).fetch_all(&mut conn).await.unwrap() {
        let kind: String = r.get("kind");
        let t: String = r.get("t");
        let cols: Option<String> = r.get("cols");
        match kind.as_str() {
            "p" => {
                s.primary_keys
                    .insert(format!("{t} pk({})", cols.unwrap_or_default()));
            }
            "f" => {
                s.foreign_keys.insert(format!(
                    "{t}({}) -> {}({}) on delete {}",
                    cols.unwrap_or_default(),
                    r.get::<String, _>("target"),
                    r.get::<Option<String>, _>("target_cols")
                        .unwrap_or_default(),
                    on_delete(&r.get::<String, _>("del"))
                ));
            }
            _ => {
                let columns = columns_of.get(&t).cloned().unwrap_or_default();
                for body in check_bodies(&r.get::<String, _>("def")) {
                    s.checks.insert(check_line(&t, &columns, &body));
                }
            }
        }
    }
    // Unique keys: constraints and unique indexes alike are unique indexes here.
    let sql = format!(
        "SELECT t.relname::text AS t, {} AS cols, (i.indpred IS NOT NULL) AS partial \
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace \
         WHERE ns.nspname = 'public' AND i.indisunique AND NOT i.indisprimary AND t.relname NOT LIKE '\\_sqlx%'",
        "(SELECT string_agg(COALESCE(a.attname::text, 'expr'), ',' ORDER BY k.ord) \
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord) \
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n)"
    );
    for r in sqlx::query(&sql).fetch_all(&mut conn).await.unwrap() {
        let partial = if r.get::<bool, _>("partial") {
            " partial"
        } else {
            ""
        };
        s.uniques.insert(format!(
            "{} unique({}){partial}",
            r.get::<String, _>("t"),
            r.get::<Option<String>, _>("cols").unwrap_or_default()
        ));
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey' \
         AND indexname NOT LIKE '%\\_key' AND tablename NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    s.indexes = indexes.into_iter().collect();
    // tgtype bits: 2 BEFORE, 64 INSTEAD; 4 INSERT, 8 DELETE, 16 UPDATE, 32 TRUNCATE.
    for r in sqlx::query(
        "SELECT tg.tgname::text AS name, c.relname::text AS t, tg.tgtype::int AS ty, \
         (p.prosrc ILIKE '%RAISE EXCEPTION%') AS refuses \
         FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace \
         JOIN pg_proc p ON p.oid = tg.tgfoid WHERE ns.nspname = 'public' AND NOT tg.tgisinternal",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    {
        let name: String = r.get("name");
        let t: String = r.get("t");
        let ty: i32 = r.get("ty");
        let refuses: bool = r.get("refuses");
        let timing = if ty & 2 != 0 {
            "BEFORE"
        } else if ty & 64 != 0 {
            "INSTEAD OF"
        } else {
            "AFTER"
        };
        for (bit, event) in [(4, "INSERT"), (8, "DELETE"), (16, "UPDATE")] {
            if ty & bit != 0 {
                s.triggers
                    .insert(trigger_line(&name, timing, event, &t, refuses));
            }
        }
        if ty & 32 != 0 && refuses {
            s.truncate_refused.insert(t);
        }
    }
    s
}

fn assert_same(facet: &str, sqlite: &BTreeSet<String>, postgres: &BTreeSet<String>) {
    let only_sqlite: Vec<_> = sqlite.difference(postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "{facet} differ\n  only in SQLite: {only_sqlite:#?}\n  only in PostgreSQL: {only_postgres:#?}"
    );
}

#[test]
fn check_intent_survives_postgresql_rewriting() {
    let cols: BTreeSet<String> = ["status", "n"].iter().map(|s| s.to_string()).collect();
    let sqlite = check_bodies("status TEXT CHECK (status IN ('a', 'b')), n BIGINT CHECK (n BETWEEN 1 AND 480) -- check (x)");
    let pg = [
        check_bodies("CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))"),
        check_bodies("CHECK (((n >= 1) AND (n <= 480)))"),
    ]
    .concat();
    let line = |b: &Vec<Token>| check_line("t", &cols, b);
    assert_eq!(
        sqlite.iter().map(line).collect::<Vec<_>>(),
        pg.iter().map(line).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let admin = std::env::var("LABLEDGER_TEST_PG_ADMIN_URL")
        .expect("the schema parity test needs PostgreSQL: run scripts/test.sh, or set LABLEDGER_TEST_PG_ADMIN_URL");
    let name = format!("parity_{}", uuid::Uuid::now_v7().simple());
    let mut admin_conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    admin_conn
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let pg_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    Store::open(&pg_url, StoreOptions::default()).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = labledger_store::sqlite_url_for_data_dir(dir.path());
    Store::open(&sqlite_url, StoreOptions::default())
        .await
        .unwrap();

    let sqlite = sqlite_schema(&dir.path().join("labledger.db")).await;
    let postgres = postgres_schema(&pg_url).await;
    // Each facet was actually read (a query that found nothing would compare equal).
    for (facet, n, least) in [
        ("columns", sqlite.columns.len(), 200),
        ("primary keys", sqlite.primary_keys.len(), 30),
        ("unique keys", sqlite.uniques.len(), 10),
        ("foreign keys", sqlite.foreign_keys.len(), 30),
        ("CHECK constraints", sqlite.checks.len(), 10),
        ("triggers", sqlite.triggers.len(), 15),
        (
            "PostgreSQL TRUNCATE refusals",
            postgres.truncate_refused.len(),
            5,
        ),
    ] {
        assert!(n >= least, "only {n} {facet} read: {sqlite:#?}");
    }
    assert!(
        !sqlite.columns.iter().any(|c| c.contains("unknown:")),
        "a column type this test does not know: {:#?}",
        sqlite.columns
    );
    assert_same(
        "columns (type, nullability)",
        &sqlite.columns,
        &postgres.columns,
    );
    assert_same("primary keys", &sqlite.primary_keys, &postgres.primary_keys);
    assert_same("unique keys", &sqlite.uniques, &postgres.uniques);
    assert_same("foreign keys", &sqlite.foreign_keys, &postgres.foreign_keys);
    assert_same("CHECK constraints", &sqlite.checks, &postgres.checks);
    assert_same("indexes", &sqlite.indexes, &postgres.indexes);
    assert_same(
        "triggers (what they refuse)",
        &sqlite.triggers,
        &postgres.triggers,
    );
    // What cannot be deleted row by row cannot be truncated either.
    let undeletable: BTreeSet<String> = postgres
        .triggers
        .iter()
        .filter(|t| t.contains(": BEFORE DELETE ON ") && t.ends_with(" refuses"))
        .filter_map(|t| {
            t.split(" ON ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .map(str::to_owned)
        })
        .collect();
    let missing: Vec<_> = undeletable.difference(&postgres.truncate_refused).collect();
    assert!(
        missing.is_empty(),
        "PostgreSQL tables that refuse DELETE but allow TRUNCATE: {missing:?}"
    );
}
