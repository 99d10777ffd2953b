//! Region pinning, from outside: an operator asks to move an org's data to a region, only an
//! Owner's approval makes it so, and from then on a node of another region refuses the org's
//! members with 421 naming the right region (API, tokens and UI alike) while a node of that
//! region serves it; outsiders still get the 404 of an org they cannot see.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};

fn run_move(server: &common::TestServer, org: &str, region: &str) -> std::process::Output {
    server
        .cli()
        .args([
            "admin",
            "org",
            "move",
            "--org",
            org,
            "--region",
            region,
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .output()
        .unwrap()
}

#[tokio::test]
async fn an_org_moved_to_another_region_is_served_only_there() {
    let server = common::spawn_on(
        tempfile::tempdir().unwrap(),
        common::fresh_database().await,
        &["--region", "eu"],
    );
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let settings = owner
        .get_json(&format!("/api/v1/orgs/{org}/settings"))
        .await;
    assert_eq!(settings["region"], "");
    assert_eq!(settings["region_move_to"], Value::Null);
    // Unpinned: a node of any region serves it.
    let res = owner.get(&format!("/api/v1/orgs/{org}/samples")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let settings_path = format!("/api/v1/orgs/{org}/settings");
    // Nothing to approve yet.
    let res = owner.patch(&settings_path, json!({"region": "us"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Not a region name.
    let res = owner
        .patch(&settings_path, json!({"region": "US East!"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = run_move(&server, &org, "US");
    assert!(!bad.status.success());

    // The operator asks; nothing moves yet.
    let out = run_move(&server, &org, "us");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settings = owner.get_json(&settings_path).await;
    assert_eq!(settings["region"], "");
    assert_eq!(settings["region_move_to"], "us");
    let listing = server
        .cli()
        .args(["admin", "org", "list", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&org) && l.contains("- → us?")),
        "the pending move shows: {listing}"
    );

    // An Admin may change settings, but not where the data lives.
    let admin = owner
        .add_member(&server, &org, "admin@lab.example", &["Admin"])
        .await;
    let res = admin.patch(&settings_path, json!({"region": "us"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The Owner approves only the move that was asked for.
    let res = owner.patch(&settings_path, json!({"region": "ap"})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = owner.patch(&settings_path, json!({"region": "us"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let approved: Value = res.json().await.unwrap();
    assert_eq!(approved["region"], "us");
    assert_eq!(approved["region_move_to"], Value::Null);

    // This node (eu) now refuses the org's members, naming the region, on every org route.
    for path in [
        format!("/api/v1/orgs/{org}/samples"),
        format!("/api/v1/orgs/{org}/settings"),
        format!("/api/v1/orgs/{org}"),
    ] {
        let res = owner.get(&path).await;
        assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["type"], "/problems/wrong-region");
        assert_eq!(problem["region"], "us");
    }
    // No write lands here either (a file would land in this region's object store).
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    // The UI says so too.
    let page = owner.get(&format!("/orgs/{org}")).await;
    assert_eq!(page.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(page.text().await.unwrap().contains("region us"));

    // Someone who is not a member learns nothing about it: the usual 404.
    let (_, outsider) = server.other_org().await;
    let res = outsider.get(&format!("/api/v1/orgs/{org}/samples")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A node of region us on the same database serves it.
    let us = server.second_node(&["--region", "us"], &[]);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/api/v1/auth/login", us.base))
        .json(&json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .get(format!("{}/api/v1/orgs/{org}/samples", us.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let audit: Value = client
        .get(format!("{}/api/v1/orgs/{org}/audit?limit=20", us.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"org.region_move_request"), "{actions:?}");
    assert!(actions.contains(&"org.region_change"), "{actions:?}");
}
