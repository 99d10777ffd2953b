//! An operator command cannot mislead: pointed at a place that holds no LabLedger (a wrong
//! directory, an empty database) it says so and exits 2 without creating anything there, and
//! `audit verify` ends with a verdict line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Output};

/// Every operator command that reads or changes LabLedger data (all but `serve`).
fn operator_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["audit", "verify"],
        vec!["admin", "org", "list"],
        vec![
            "admin",
            "org",
            "disable",
            "--org",
            "0190f000-0000-7000-8000-000000000000",
        ],
        vec![
            "admin",
            "org",
            "create",
            "--name",
            "Wrong Place Lab",
            "--owner-email",
            "owner@wrong.example",
        ],
        vec![
            "admin",
            "access",
            "request",
            "--org",
            "0190f000-0000-7000-8000-000000000000",
            "--email",
            "support@vendor.example",
            "--role",
            "Auditor",
            "--hours",
            "1",
            "--reason",
            "Ticket 1",
        ],
        vec!["keys", "rotate", "--master"],
        vec!["vault", "sweep"],
    ]
}

fn run(args: &[&str], place: &[&str], database_url: Option<&str>) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .args(place)
        .env_remove("LABLEDGER_DATABASE_URL")
        .env_remove("LABLEDGER_MASTER_KEY")
        .env_remove("LABLEDGER_MASTER_KEY_FILE")
        .env(
            "LABLEDGER_OWNER_PASSWORD",
            "a long enough owner password 42",
        );
    if let Some(url) = database_url {
        cmd.env("LABLEDGER_DATABASE_URL", url);
    }
    cmd.output().unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn commands_refuse_a_place_without_labledger_and_create_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("not-here");
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    // PostgreSQL: an empty database of the test cluster; SQLite: the data dirs above.
    let database = common::fresh_database().await;
    for args in operator_commands() {
        for dir in [&missing, &empty] {
            let place = ["--data-dir", dir.to_str().unwrap()];
            let out = run(&args, &place, database.as_deref());
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} in {dir:?}: {}",
                said(&out)
            );
            assert!(
                said(&out).contains("LabLedger"),
                "{args:?}: the refusal names what is missing: {}",
                said(&out)
            );
        }
        assert!(!missing.exists(), "{args:?} created the data dir");
        let left: Vec<_> = std::fs::read_dir(&empty).unwrap().collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
    }
    if let Some(url) = &database {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 0, "nothing was created in the empty database");
    }
}

#[tokio::test]
async fn audit_verify_ends_with_a_verdict() {
    let server = common::spawn().await;
    let (other, _) = server.other_org().await;
    let out = server
        .cli()
        .args(["audit", "verify", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    for org in [&server.org_id, &other] {
        assert!(
            text.lines()
                .any(|l| l.contains(org.as_str()) && l.contains("intact")),
            "a line per org: {text}"
        );
    }
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("verdict: all 2 organization chain(s) intact")),
        "{text}"
    );
}
