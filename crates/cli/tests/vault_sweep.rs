//! `labledger vault sweep`, black-box: objects left by a crash between writing an object and
//! committing its record (and partial uploads) are removed once older than the grace period;
//! an object a record refers to, a fresh orphan (an upload that may be about to commit) and
//! files the vault did not name are never touched. Local directory and S3 (moto).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

async fn upload_ok(s: &Session, org: &str, name: &str, body: Vec<u8>) -> Value {
    let res = s
        .client
        .post(format!("{}/api/v1/orgs/{org}/files", s.base))
        .query(&[("name", name)])
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn download(s: &Session, org: &str, id: &str) -> (StatusCode, Vec<u8>) {
    let res = s
        .client
        .get(format!("{}/api/v1/orgs/{org}/files/{id}/content", s.base))
        .send()
        .await
        .unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

fn backdate(path: &Path, hours: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
        .unwrap();
}

fn random_name() -> String {
    hex::encode(uuid::Uuid::now_v7().as_bytes()).replace('-', "")
}

/// Runs `labledger vault sweep` with `args`; answers (exit success, stdout, stderr).
fn sweep(server: &TestServer, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = server
        .cli()
        .args(["vault", "sweep", "--data-dir"])
        .arg(server.data_dir.path())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn sweep_removes_old_orphans_and_keeps_referenced_and_fresh_objects() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let file = upload_ok(&owner, &org, "kept.bin", body.clone()).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let dir = server.data_dir.path().join("objects").join(&org);
    let objects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let referenced = objects[0].clone();
    let ciphertext = std::fs::read(&referenced).unwrap();

    // What a crash leaves: an object written but never recorded (old, and one just written),
    // and a partial upload's staging file; plus a file the vault did not name.
    let old_orphan = dir.join(random_name());
    let fresh_orphan = dir.join(random_name());
    let partial = dir.join(format!("{}#7", random_name()));
    let foreign = server.data_dir.path().join("objects").join("README");
    for p in [&old_orphan, &fresh_orphan, &partial, &foreign] {
        std::fs::write(p, &ciphertext).unwrap();
    }
    for p in [&referenced, &old_orphan, &partial, &foreign] {
        backdate(p, 48);
    }
    let rel = |p: &Path| {
        p.strip_prefix(server.data_dir.path().join("objects"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };

    // A dry run names the two old orphans and removes nothing.
    let (ok, out, err) = sweep(&server, &["--dry-run"], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "would remove unreferenced object {}",
            rel(&old_orphan)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("would remove partial upload {}", rel(&partial))),
        "{out}"
    );
    assert!(
        out.contains("2 would remove, 1 referenced kept, 0 failed"),
        "{out}"
    );
    for p in [&referenced, &old_orphan, &fresh_orphan, &partial, &foreign] {
        assert!(p.exists(), "dry run removed {}", p.display());
    }

    // The sweep removes them, logs each as an operational security event, and keeps the rest.
    let (ok, out, err) = sweep(&server, &[], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("removed unreferenced object {}", rel(&old_orphan))),
        "{out}"
    );
    assert!(
        out.contains("2 removed, 1 referenced kept, 0 failed"),
        "{out}"
    );
    assert_eq!(err.matches("orphan_object_removed").count(), 2, "{err}");
    assert!(!old_orphan.exists() && !partial.exists());
    assert!(referenced.exists(), "a referenced object was removed");
    assert!(
        fresh_orphan.exists(),
        "an object younger than the grace period was removed"
    );
    assert!(
        foreign.exists(),
        "a file the vault did not name was removed"
    );
    assert_eq!(
        download(&owner, &org, &id).await,
        (StatusCode::OK, body.clone())
    );

    // A second sweep finds nothing; with no grace period the fresh orphan goes too, and still
    // never the referenced object.
    let (ok, out, _) = sweep(&server, &[], &[]);
    assert!(ok && out.contains("0 removed, 1 referenced kept"), "{out}");
    let (ok, out, _) = sweep(&server, &["--older-than-hours", "0"], &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "removed unreferenced object {}",
            rel(&fresh_orphan)
        )),
        "{out}"
    );
    assert!(!fresh_orphan.exists());
    assert!(referenced.exists() && foreign.exists());
    assert_eq!(download(&owner, &org, &id).await, (StatusCode::OK, body));

    // Content uploaded twice is stored once: the second object (a duplicate) was removed by
    // the upload itself, and the sweep keeps the one the records share.
    let again = upload_ok(&owner, &org, "kept-again.bin", (0..10u8).collect()).await;
    let (ok, out, _) = sweep(&server, &["--older-than-hours", "0"], &[]);
    assert!(ok && out.contains("0 removed, 2 referenced kept"), "{out}");
    let again_id = again["id"].as_str().unwrap();
    assert_eq!(download(&owner, &org, again_id).await.0, StatusCode::OK);
}

/// A moto S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: std::process::Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server is required (pip install \"moto[server]\"; scripts/test.sh does)");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/")).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto { child, url }
}

async fn bucket_keys(http: &reqwest::Client, moto: &Moto, org: &str) -> Vec<String> {
    let listing = http
        .get(format!(
            "{}/evidence?list-type=2&prefix=vault/{org}/",
            moto.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut keys: Vec<String> = listing
        .split("<Key>")
        .skip(1)
        .map(|s| s.split("</Key>").next().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn sweep_works_on_the_s3_backend() {
    let moto = start_moto().await;
    let http = reqwest::Client::new();
    let res = http
        .put(format!("{}/evidence", moto.url))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let aws = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let store = [
        "--object-store",
        "s3://evidence/vault",
        "--s3-endpoint",
        &moto.url,
    ];
    let server = common::spawn_on_env(
        tempfile::tempdir().unwrap(),
        common::fresh_database().await,
        &store,
        &aws,
    );
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let body = vec![42u8; 100_000];
    let file = upload_ok(&owner, &org, "s3-kept.bin", body.clone()).await;
    let kept = bucket_keys(&http, &moto, &org).await;
    assert_eq!(kept.len(), 1);
    let orphan = format!("vault/{org}/{}", random_name());
    let res = http
        .put(format!("{}/evidence/{orphan}", moto.url))
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    // Fresh: kept by the default grace period.
    let (ok, out, err) = sweep(&server, &store, &aws);
    assert!(
        ok && out.contains("0 removed, 0 referenced kept"),
        "{out}\n{err}"
    );
    assert_eq!(bucket_keys(&http, &moto, &org).await.len(), 2);
    // Without a grace period the orphan goes and the referenced object stays.
    let mut args = store.to_vec();
    args.extend(["--older-than-hours", "0"]);
    let (ok, out, err) = sweep(&server, &args, &aws);
    assert!(ok, "{out}\n{err}");
    let orphan_path = orphan.strip_prefix("vault/").unwrap();
    assert!(
        out.contains(&format!("removed unreferenced object {orphan_path}")),
        "{out}"
    );
    assert!(
        out.contains("1 removed, 1 referenced kept, 0 failed"),
        "{out}"
    );
    assert_eq!(bucket_keys(&http, &moto, &org).await, kept);
    let id = file["id"].as_str().unwrap();
    assert_eq!(download(&owner, &org, id).await, (StatusCode::OK, body));
}
