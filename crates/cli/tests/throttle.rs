//! Brute force against the login, as an attacker sees it: throttled, then locked, from several
//! source addresses; the right password waits for the lock too; other accounts are unaffected.
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
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("labledger_security_events_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn brute_force_from_several_addresses_is_throttled_then_locked() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let victim = "victim@lab.example";
    owner
        .add_member(&server, &server.org_id, victim, &["Viewer"])
        .await;
    let attackers: Vec<Client> = (2..=6)
        .map(|i| client_from(&format!("127.0.0.{i}")))
        .collect();

    let mut unauthorized = 0;
    let mut last_retry = 0;
    for i in 0..50 {
        let res = attempt(
            &server,
            &attackers[i % attackers.len()],
            victim,
            &format!("wrong guess number {i}"),
        )
        .await;
        match res.status() {
            StatusCode::UNAUTHORIZED => {
                assert!(i < 10, "attempt {i} was still checked");
                unauthorized += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                last_retry = retry_after(&res);
                assert!(last_retry >= 1);
                let p: serde_json::Value = res.json().await.unwrap();
                assert_eq!(p["type"], "/problems/throttled");
            }
            s => panic!("attempt {i}: unexpected {s}"),
        }
    }
    assert!(
        (5..10).contains(&unauthorized),
        "{unauthorized} guesses were checked"
    );
    assert!(
        last_retry > 60,
        "the account is locked for minutes, not seconds: {last_retry}"
    );

    // The right password is refused too, from anywhere, while the lock lasts.
    for ip in ["127.0.0.1", "127.0.0.9"] {
        let res = attempt(&server, &client_from(ip), victim, common::MEMBER_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "from {ip}");
        assert!(retry_after(&res) > 60);
        assert!(res.headers().get("set-cookie").is_none());
    }

    // Other accounts are unaffected (from an address that did not attack).
    let res = attempt(
        &server,
        &client_from("127.0.0.7"),
        common::ADMIN_EMAIL,
        common::ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Every step was a security event.
    assert!(security_events(&server, "login_failed").await >= 5.0);
    assert!(security_events(&server, "login_throttled").await >= 1.0);
    assert!(security_events(&server, "account_locked").await >= 2.0);

    // Age the lock (and the failures) past their 15 minutes: the right password works again.
    let mut db = server.raw_db().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let aged = now - 16 * 60 * 1_000_000;
    let n = sqlx::query("UPDATE auth_throttle SET locked_until = CASE WHEN locked_until IS NULL THEN NULL ELSE $1 END, last_failure_at = $1")
        .bind(aged)
        .execute(&mut db)
        .await
        .unwrap()
        .rows_affected();
    assert!(n >= 6, "counters per account and per address: {n}");
    let res = attempt(&server, &attackers[0], victim, common::MEMBER_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A success resets the account's counter; its last login is recorded.
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_throttle WHERE key = $1")
        .bind(format!("login:acct:{victim}"))
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
async fn a_throttled_address_is_refused_for_every_account_until_its_back_off_passes() {
    let server = common::spawn().await;
    let attacker = client_from("127.0.0.3");
    // Spread over many (unknown) accounts: the address itself backs off.
    for i in 0..5 {
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
