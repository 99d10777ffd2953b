//! Brute force against the login, as an attacker sees it: throttled, then locked from the
//! guessing address only (the person logs in from theirs); refused requests count nothing;
//! `X-Forwarded-For` names the client only behind a configured proxy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Client, StatusCode};
use serde_json::json;
use std::net::IpAddr;

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn attempt(
    server: &common::TestServer,
    client: &Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &reqwest::Response) -> i64 {
    res.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("a {} without Retry-After", res.status()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn security_events(server: &common::TestServer, kind: &str) -> f64 {
    let text = server.metrics().await;
    let prefix = format!("labledger_security_events_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// A server whose (account, address) pairs lock at their tenth checked failure with no back-off
/// before it, so a lock is reached without waiting.
async fn spawn_locking_at_ten(extra: &[&str]) -> common::TestServer {
    let mut args = vec!["--login-free-failures", "10", "--login-max-failures", "10"];
    args.extend_from_slice(extra);
    common::spawn_with_mail(&args).await
}

fn now_micros() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// Moves every throttle counter's last failure to `micros` (to stand for time passing, or for
/// requests arriving right after a failure).
async fn set_last_failure(server: &common::TestServer, micros: i64) {
    let mut db = server.raw_db().await;
    sqlx::query("UPDATE auth_throttle SET last_failure_at = $1")
        .bind(micros)
        .execute(&mut db)
        .await
        .unwrap();
}

#[tokio::test]
async fn guesses_lock_the_account_only_from_the_guessing_address() {
    let server = spawn_locking_at_ten(&[]).await;
    let owner = server.owner().await;
    let victim = "victim@lab.example";
    owner
        .add_member(&server, &server.org_id, victim, &["Viewer"])
        .await;
    let attacker = client_from("127.0.0.2");
    for i in 0..10 {
        let res = attempt(&server, &attacker, victim, &format!("wrong guess {i}")).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "guess {i} is checked"
        );
    }
    // Locked from there, for minutes, whatever the password; more requests change nothing.
    for i in 0..20 {
        let res = attempt(&server, &attacker, victim, &format!("more {i}")).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&res) > 60);
        let p: serde_json::Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/throttled");
    }
    let res = attempt(&server, &attacker, victim, common::MEMBER_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("set-cookie").is_none());

    // The person, from their own address, logs in: the guesser cannot lock them out.
    let res = attempt(
        &server,
        &client_from("127.0.0.3"),
        victim,
        common::MEMBER_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    assert!(security_events(&server, "login_failed").await >= 10.0);
    assert!(security_events(&server, "account_locked").await >= 1.0);

    // Age the lock past its 15 minutes: the right password works from the guessing address
    // too, and that success clears the pair's counter.
    let mut db = server.raw_db().await;
    let aged = now_micros() - 16 * 60 * 1_000_000;
    sqlx::query("UPDATE auth_throttle SET locked_until = CASE WHEN locked_until IS NULL THEN NULL ELSE $1 END, last_failure_at = $1")
        .bind(aged)
        .execute(&mut db)
        .await
        .unwrap();
    let res = attempt(&server, &attacker, victim, common::MEMBER_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_throttle WHERE key = $1")
        .bind(format!("login:pair:{victim}|127.0.0.2"))
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let last: Option<i64> = sqlx::query_scalar("SELECT last_login_at FROM users WHERE email = $1")
        .bind(victim)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(last.unwrap() > aged);
}

#[tokio::test]
async fn requests_refused_by_the_throttle_count_nothing() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let victim = "victim@lab.example";
    owner
        .add_member(&server, &server.org_id, victim, &["Viewer"])
        .await;
    let attacker = client_from("127.0.0.4");
    for i in 0..5 {
        let res = attempt(&server, &attacker, victim, &format!("wrong guess {i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "guess {i} is free");
    }
    // Requests arriving while the back-off lasts (the last failure stands in the future here,
    // so no request can outrun it) are refused without being checked...
    set_last_failure(&server, now_micros() + 3_600 * 1_000_000).await;
    for i in 0..30 {
        let res = attempt(&server, &attacker, victim, &format!("ignored {i}")).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "request {i}");
        assert!(retry_after(&res) >= 1);
    }
    assert!(security_events(&server, "login_throttled").await >= 30.0);
    assert_eq!(security_events(&server, "account_locked").await, 0.0);
    // ... and count nothing: once the back-off has passed, the account is not locked.
    set_last_failure(&server, now_micros() - 60 * 1_000_000).await;
    let res = attempt(&server, &attacker, victim, common::MEMBER_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A client that claims, in `X-Forwarded-For`, to come from `ip`.
fn forwarded_for(ip: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", ip.parse().unwrap());
    Client::builder()
        .default_headers(headers)
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_configured_proxies() {
    let victim = "victim@lab.example";
    // Trusting the loopback proxy by flag or by environment; and trusting nobody.
    for trust in [Some("flag"), Some("env"), None] {
        let server = match trust {
            Some("flag") => spawn_locking_at_ten(&["--behind-proxy", "127.0.0.1/32"]).await,
            Some(_) => {
                let data_dir = tempfile::tempdir().unwrap();
                let url = common::fresh_database().await;
                common::spawn_on_env(
                    data_dir,
                    url,
                    &["--login-free-failures", "10", "--login-max-failures", "10"],
                    &[("LABLEDGER_BEHIND_PROXY", "10.0.0.0/8, 127.0.0.1 ::1")],
                )
            }
            None => spawn_locking_at_ten(&[]).await,
        };
        let owner = server.owner().await;
        owner
            .add_member(&server, &server.org_id, victim, &["Viewer"])
            .await;
        // The proxy forwards the attacker's address, after whatever the attacker sent itself.
        let attacker = forwarded_for("198.51.100.20, 203.0.113.66");
        for i in 0..10 {
            let res = attempt(&server, &attacker, victim, &format!("wrong guess {i}")).await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{trust:?} guess {i}"
            );
        }
        let res = attempt(&server, &attacker, victim, common::MEMBER_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{trust:?}");

        // The person behind the same proxy, from their own address.
        let person = forwarded_for("198.51.100.20");
        let res = attempt(&server, &person, victim, common::MEMBER_PASSWORD).await;
        if trust.is_none() {
            // Without trusted proxies the header is ignored: both are the socket peer.
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            continue;
        }
        assert_eq!(res.status(), StatusCode::OK, "{trust:?}");
        // The session records the forwarded address.
        let sessions: serde_json::Value = person
            .get(server.url("/api/v1/me/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            sessions["items"][0]["source_ip"], "198.51.100.20",
            "{sessions}"
        );
    }
}

#[tokio::test]
async fn a_throttled_address_is_refused_for_every_account_until_its_back_off_passes() {
    let server = common::spawn().await;
    let attacker = client_from("127.0.0.3");
    // Spread over many (unknown) accounts: the address itself backs off (after four times the
    // free failures of one account).
    for i in 0..20 {
        let res = attempt(
            &server,
            &attacker,
            &format!("nobody{i}@lab.example"),
            "some wrong password",
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt(
        &server,
        &attacker,
        common::ADMIN_EMAIL,
        common::ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&res) >= 1);
    // The owner from elsewhere is fine.
    let res = attempt(
        &server,
        &client_from("127.0.0.4"),
        common::ADMIN_EMAIL,
        common::ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}
