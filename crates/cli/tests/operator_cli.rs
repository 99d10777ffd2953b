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
        vec!["admin", "user", "list"],
        vec![
            "admin",
            "user",
            "reset-password",
            "--email",
            "owner@lab.example",
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

#[tokio::test]
async fn an_operator_reset_password_serves_only_to_choose_a_new_one() {
    use reqwest::StatusCode;
    use serde_json::json;
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let before = server.owner().await;
    let out = server
        .cli()
        .args([
            "admin",
            "user",
            "reset-password",
            "--email",
            common::ADMIN_EMAIL,
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    let text = said(&out);
    assert!(out.status.success(), "{text}");
    let once = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "One-time password (shown this once; it serves only to choose a new one): ",
            )
        })
        .unwrap()
        .trim()
        .to_owned();

    // Every session of theirs ended (an operator command reaches the server within a second).
    let res = common::within_the_recall_bound(
        || before.get("/api/v1/me"),
        |r| r.status() == StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The old password is gone.
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // The one-time password logs in, but opens nothing but the change: API and UI.
    let user = server.login(common::ADMIN_EMAIL, &once).await;
    let samples = format!("/api/v1/orgs/{org}/samples");
    let res = user.get(&samples).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/password-change-required");
    let page = user.get(&format!("/orgs/{org}")).await;
    assert_eq!(page.url().path(), "/security/password");
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("An administrator reset your password"));

    let res = user
        .post(
            "/api/v1/me/password",
            json!({"current_password": once, "new_password": "seven lanterns drift over quiet harbours"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(user.get(&samples).await.status(), StatusCode::OK);

    // Each of their orgs records the reset, by the operator.
    let trail = user
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=member.password_reset"
        ))
        .await;
    assert_eq!(trail["items"][0]["actor_type"], "operator", "{trail}");
    let list = server
        .cli()
        .args(["admin", "user", "list", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(said(&list).contains(common::ADMIN_EMAIL), "{}", said(&list));

    // An unknown email is a readable refusal.
    let out = server
        .cli()
        .args([
            "admin",
            "user",
            "reset-password",
            "--email",
            "nobody@lab.example",
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        said(&out).contains("no user with the email"),
        "{}",
        said(&out)
    );
}
