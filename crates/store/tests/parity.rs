//! The two migration trees must describe the same schema: the same tables, columns (with
//! nullability) and named indexes and triggers. Run against a real PostgreSQL named by
//! `LABLEDGER_TEST_PG_ADMIN_URL` (scripts/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use labledger_store::{Store, StoreOptions};
use sqlx::{Connection, Executor, Row};
use std::collections::BTreeSet;

type Schema = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

async fn sqlite_schema(path: &std::path::Path) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut columns = BTreeSet::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for t in &tables {
        for r in sqlx::query(&format!("PRAGMA table_info({t})"))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let name: String = r.get("name");
            let notnull: i64 = r.get("notnull");
            let pk: i64 = r.get("pk");
            columns.insert(format!("{t}.{name} notnull={}", notnull == 1 || pk > 0));
        }
    }
    let named = |kind: &str| {
        format!("SELECT name FROM sqlite_master WHERE type = '{kind}' AND name NOT LIKE 'sqlite_autoindex%'")
    };
    let indexes: Vec<String> = sqlx::query_scalar(&named("index"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let triggers: Vec<String> = sqlx::query_scalar(&named("trigger"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    (
        columns,
        indexes.into_iter().collect(),
        triggers.into_iter().collect(),
    )
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c, is_nullable::text AS n FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let columns = rows
        .iter()
        .map(|r| {
            format!(
                "{}.{} notnull={}",
                r.get::<String, _>("t"),
                r.get::<String, _>("c"),
                r.get::<String, _>("n") == "NO"
            )
        })
        .collect();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey' \
         AND indexname NOT LIKE '%\\_key' AND tablename NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT trigger_name::text FROM information_schema.triggers WHERE trigger_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // TRUNCATE triggers exist only in PostgreSQL (SQLite has no TRUNCATE).
    let triggers = triggers
        .into_iter()
        .filter(|t| !t.ends_with("_no_truncate"))
        .collect();
    (columns, indexes.into_iter().collect(), triggers)
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

    let (sc, si, st) = sqlite_schema(&dir.path().join("labledger.db")).await;
    let (pc, pi, pt) = postgres_schema(&pg_url).await;
    assert!(sc.len() > 30, "{sc:?}");
    assert_eq!(sc, pc, "columns differ (left: SQLite, right: PostgreSQL)");
    assert_eq!(si, pi, "indexes differ");
    assert_eq!(st, pt, "triggers differ");
}
