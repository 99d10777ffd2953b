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

use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A regions map naming a store directory under `dir` per region.
fn regions_file(dir: &Path, regions: &[&str]) -> PathBuf {
    let map: serde_json::Map<String, Value> = regions
        .iter()
        .map(|r| {
            let store = dir.join(format!("objects-{r}"));
            (r.to_string(), json!({"object_store": store}))
        })
        .collect();
    let file = dir.join("regions.json");
    std::fs::write(&file, json!({ "regions": map }).to_string()).unwrap();
    file
}

fn complete_command(server: &common::TestServer, org: &str, regions: &Path) -> Command {
    let mut cmd = server.cli();
    cmd.args([
        "admin",
        "org",
        "move",
        "--org",
        org,
        "--complete",
        "--regions",
    ])
    .arg(regions)
    .arg("--data-dir")
    .arg(server.data_dir_arg());
    cmd
}

fn complete_move(server: &common::TestServer, org: &str, regions: &Path) -> Output {
    complete_command(server, org, regions).output().unwrap()
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
    assert_eq!(approved["region"], "");
    assert_eq!(approved["region_move_to"], "us");
    assert_eq!(approved["region_move_phase"], "approved");
    // Approved, not yet run: still served here.
    let res = owner.get(&format!("/api/v1/orgs/{org}/samples")).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The operator runs it (no files to copy here).
    let stores = tempfile::tempdir().unwrap();
    let regions = regions_file(stores.path(), &["eu", "us"]);
    let out = complete_move(&server, &org, &regions);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

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
    let settings: Value = client
        .get(format!("{}{settings_path}", us.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["region"], "us");
    assert_eq!(settings["region_move_to"], Value::Null);
    assert_eq!(settings["region_move_phase"], Value::Null);
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
    for action in [
        "org.region_move_request",
        "org.region_move_approve",
        "org.region_move_start",
        "org.region_change",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
}

async fn upload(s: &Session, org: &str, name: &str, body: Vec<u8>) -> reqwest::Response {
    s.client
        .post(format!("{}/api/v1/orgs/{org}/files", s.base))
        .query(&[("name", name)])
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn uploaded(s: &Session, org: &str, name: &str, body: Vec<u8>) -> String {
    let res = upload(s, org, name, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn download(s: &Session, org: &str, id: &str) -> reqwest::Response {
    s.get(&format!("/api/v1/orgs/{org}/files/{id}/content"))
        .await
}

/// The same logged-in user (cookies are per host, not per port) talking to another node.
fn at(s: &Session, base: &str) -> Session {
    Session {
        client: s.client.clone(),
        base: base.to_owned(),
        csrf: s.csrf.clone(),
        user_id: s.user_id.clone(),
        me: s.me.clone(),
    }
}

/// The names of the objects stored under `dir` for `org` (the vault's `ORG/NAME` layout).
fn objects_of(dir: &Path, org: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(org))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn approve(owner: &Session, org: &str, region: &str) {
    let res = owner
        .patch(
            &format!("/api/v1/orgs/{org}/settings"),
            json!({ "region": region }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// The org's files follow it: after the approved move every object is in the new region's
/// store and nowhere else, the new region's node serves them byte-equal and the old one sends
/// the org's members there; while the files are copied the org reads but does not write, and
/// an interrupted move carries on when run again.
#[tokio::test]
async fn a_move_takes_the_org_files_to_the_new_region_store() {
    let stores = tempfile::tempdir().unwrap();
    let regions = regions_file(stores.path(), &["eu", "us"]);
    let (eu_dir, us_dir) = (
        stores.path().join("objects-eu"),
        stores.path().join("objects-us"),
    );
    let regions_arg = regions.to_str().unwrap();
    let eu = common::spawn_on(
        tempfile::tempdir().unwrap(),
        common::fresh_database().await,
        &["--region", "eu", "--regions", regions_arg],
    );
    let org = eu.org_id.clone();
    let owner = eu.owner().await;

    // A node whose --object-store contradicts the map does not start.
    let refused = eu
        .cli()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--region",
            "us",
            "--regions",
            regions_arg,
        ])
        .arg("--object-store")
        .arg(&eu_dir)
        .arg("--data-dir")
        .arg(eu.data_dir_arg())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not the object store of region us"), "{said}");

    // Pinned to eu first: its files are in eu's store.
    let first = vec![7u8; 300_000];
    let first_id = uploaded(&owner, &org, "first.bin", first.clone()).await;
    assert!(run_move(&eu, &org, "eu").status.success());
    approve(&owner, &org, "eu").await;
    let out = complete_move(&eu, &org, &regions);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let second_id = uploaded(&owner, &org, "second.txt", second.clone()).await;
    let eu_objects = objects_of(&eu_dir, &org);
    assert_eq!(eu_objects.len(), 2);
    assert!(objects_of(&us_dir, &org).is_empty());

    // Moving to us, approved; the first run is cut short: us's store cannot take the org's
    // objects (a file stands where its directory must go).
    assert!(run_move(&eu, &org, "us").status.success());
    approve(&owner, &org, "us").await;
    std::fs::create_dir_all(&us_dir).unwrap();
    std::fs::write(us_dir.join(&org), b"in the way").unwrap();
    let out = complete_move(&eu, &org, &regions);
    assert!(!out.status.success());
    let settings = owner
        .get_json(&format!("/api/v1/orgs/{org}/settings"))
        .await;
    assert_eq!(settings["region"], "eu");
    assert_eq!(settings["region_move_phase"], "copying");

    // Meanwhile the org reads but does not write, and says why.
    let res = download(&owner, &org, &first_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().to_vec(), first);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/region-move-in-progress");
    assert_eq!(problem["region"], "us");
    let res = upload(&owner, &org, "third.bin", vec![1u8; 1000]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let page = owner.get(&format!("/orgs/{org}")).await;
    assert_eq!(page.status(), StatusCode::OK);

    // Run again once the obstacle is gone: it carries on and finishes.
    std::fs::remove_file(us_dir.join(&org)).unwrap();
    let security_log = stores.path().join("security.log");
    let out = complete_command(&eu, &org, &regions)
        .env("LABLEDGER_SECURITY_LOG", &security_log)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("2 object(s) verified"), "{said}");
    // The security stream sees the move resumed and completed.
    let events: Vec<Value> = std::fs::read_to_string(&security_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e["kind"] == "region_move")
        .collect();
    let phases: Vec<&str> = events
        .iter()
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["resumed", "completed"], "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["org"] == org.as_str() && e["to_region"] == "us"));

    // Every object is in us's store, none is left in eu's.
    assert_eq!(objects_of(&us_dir, &org), eu_objects);
    assert!(objects_of(&eu_dir, &org).is_empty());

    // The us node serves the files byte-equal and takes new ones (into us's store).
    let us = eu.second_node(&["--region", "us", "--regions", regions_arg], &[]);
    let there = at(&owner, &us.base);
    for (id, bytes) in [(&first_id, &first), (&second_id, &second)] {
        let res = download(&there, &org, id).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(&res.bytes().await.unwrap().to_vec(), bytes);
    }
    uploaded(&there, &org, "third.bin", vec![3u8; 5000]).await;
    assert_eq!(objects_of(&us_dir, &org).len(), 3);
    assert!(objects_of(&eu_dir, &org).is_empty());

    // The eu node sends the org's members to us, for files too.
    let res = download(&owner, &org, &first_id).await;
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/wrong-region");
    assert_eq!(problem["region"], "us");

    // Recorded in the org's chain, which still verifies.
    let audit = there
        .get_json(&format!("/api/v1/orgs/{org}/audit?limit=50"))
        .await;
    let moves: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "org.region_change")
        .collect();
    assert_eq!(moves.len(), 2, "{audit}");
    let verify = eu
        .cli()
        .args(["audit", "verify", "--org", &org, "--data-dir"])
        .arg(eu.data_dir_arg())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Running it again has nothing left to do.
    let out = complete_move(&eu, &org, &regions);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("No move pending"));
}
