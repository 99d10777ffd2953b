//! The evidence vault, black-box: streamed encrypted uploads and verified downloads through the
//! real binary, tampering with the stored ciphertext on disk (and in S3), plaintext never at
//! rest, memory bounded for large files, and no way across orgs (dedup probing included).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Session;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SEG: usize = 64 * 1024;
const TAG: usize = 16;
const HEADER: usize = 16;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (((i as u64 * 2_654_435_761) >> 7) as u8) ^ seed)
        .collect()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
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

async fn upload_ok(s: &Session, org: &str, name: &str, body: Vec<u8>) -> Value {
    let res = upload(s, org, name, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn download(s: &Session, org: &str, id: &str, range: Option<&str>) -> reqwest::Response {
    try_download(s, org, id, range).await.unwrap()
}

async fn try_download(
    s: &Session,
    org: &str,
    id: &str,
    range: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    // A fresh connection each time: an aborted download closes its connection.
    let mut req = s
        .client
        .get(format!("{}/api/v1/orgs/{org}/files/{id}/content", s.base))
        .header("connection", "close");
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn objects_of(server: &common::TestServer, org: &str) -> Vec<PathBuf> {
    files_under(&server.data_dir.path().join("objects").join(org))
}

/// Uploads `body` and returns the id and the path of the new object on disk.
async fn upload_with_object(
    server: &common::TestServer,
    s: &Session,
    org: &str,
    body: Vec<u8>,
) -> (String, PathBuf) {
    let before = objects_of(server, org);
    let v = upload_ok(s, org, "tamper.bin", body).await;
    let after = objects_of(server, org);
    let new: Vec<_> = after.into_iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new.len(), 1, "one new object per new content");
    (v["id"].as_str().unwrap().to_owned(), new[0].clone())
}

/// A download that must not deliver: a 5xx problem before the first byte, or a body that
/// breaks off (the connection is reset) — never a completed 2xx.
async fn assert_download_fails(res: reqwest::Result<reqwest::Response>, what: &str) {
    // The server may abort before its first (buffered) bytes left: the connection closes
    // before a complete answer.
    let Ok(res) = res else {
        return;
    };
    let status = res.status();
    if status.is_server_error() {
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/integrity", "{what}: {p}");
        return;
    }
    assert!(status.is_success(), "{what}: unexpected {status}");
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        if chunk.is_err() {
            return;
        }
    }
    panic!("{what}: a download of altered ciphertext completed with {status}");
}

#[tokio::test]
async fn round_trips_every_edge_size_with_versions_ranges_and_audit() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    for (i, n) in [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 17]
        .into_iter()
        .enumerate()
    {
        let body = data(n, i as u8);
        let v = upload_ok(&owner, &org, &format!("edge-{n}.bin"), body.clone()).await;
        assert_eq!(v["size"], n as u64, "{n}");
        assert_eq!(v["sha256"], sha_hex(&body), "{n}");
        assert_eq!(v["version"], 1);
        let id = v["id"].as_str().unwrap();
        let res = download(&owner, &org, id, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "application/octet-stream");
        assert_eq!(res.headers()["content-length"], n.to_string().as_str());
        assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice(), "{n}");
        if n > 0 {
            // The last byte, a run across a segment boundary, and a suffix.
            let last = n - 1;
            let cases = [
                (format!("bytes={last}-{last}"), last, last),
                (format!("bytes={}-{}", n / 3, n - 1), n / 3, n - 1),
                ("bytes=-1".to_owned(), last, last),
            ];
            for (h, a, b) in cases {
                let res = download(&owner, &org, id, Some(&h)).await;
                assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{n} {h}");
                assert_eq!(
                    res.headers()["content-range"],
                    format!("bytes {a}-{b}/{n}").as_str()
                );
                assert_eq!(res.bytes().await.unwrap().as_ref(), &body[a..=b], "{n} {h}");
            }
        }
        let res = download(&owner, &org, id, Some(&format!("bytes={n}-"))).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{n}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes */{n}").as_str()
        );
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["type"], "/problems/range-not-satisfiable");
    }

    // The same name again is a new version, never an overwrite.
    let v1 = upload_ok(&owner, &org, "run.csv", b"a,b\n1,2\n".to_vec()).await;
    let v2 = upload_ok(&owner, &org, "run.csv", b"a,b\n1,3\n".to_vec()).await;
    assert_eq!(v2["version"], 2);
    let res = download(&owner, &org, v1["id"].as_str().unwrap(), None).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");
    let meta = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/files/{}",
            v1["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(meta["name"], "run.csv");
    assert_eq!(meta["version"], 1);
    let page = owner
        .get_json(&format!("/api/v1/orgs/{org}/files?name=run.csv"))
        .await;
    let versions: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1]);
    // Keyset paging visits every file once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_owned(),
        };
        let page = owner
            .get_json(&format!("/api/v1/orgs/{org}/files{q}"))
            .await;
        for f in page["items"].as_array().unwrap() {
            seen.push(f["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    seen.dedup();
    assert_eq!(seen.len(), 8);

    // Bad names are refused by field; a form is refused as a form.
    for bad in ["", "a/b", "..", "x\u{1}y"] {
        let res = upload(&owner, &org, bad, b"x".to_vec()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], "name");
    }
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files?name=f", owner.base))
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Without the CSRF token a cookie upload is refused.
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files?name=f", owner.base))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Uploads and downloads are in the audit trail.
    let audit = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?limit=200"))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == "file.upload").count(), 8);
    assert!(actions.iter().filter(|a| **a == "file.download").count() >= 6);
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "vault.org_key_create")
            .count(),
        1
    );
    common::audit_len(&owner, &org).await;
}

#[tokio::test]
async fn api_tokens_upload_and_download_within_their_permissions() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    async fn token(owner: &Session, org: &str, perms: &[&str]) -> String {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/api-tokens"),
                json!({"name": format!("t-{}", uuid::Uuid::now_v7()), "permissions": perms, "expires_in_days": 1}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    }
    let rw = token(&owner, &org, &["files:read", "files:write"]).await;
    let ro = token(&owner, &org, &["files:read"]).await;
    let client = reqwest::Client::new();
    let url = server.url(&format!("/api/v1/orgs/{org}/files?name=instrument.raw"));
    let res = client
        .post(&url)
        .bearer_auth(&rw)
        .body(data(100_000, 9))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let res = client
        .post(&url)
        .bearer_auth(&ro)
        .body(b"no".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .get(server.url(&format!(
            "/api/v1/orgs/{org}/files/{}/content",
            v["id"].as_str().unwrap()
        )))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        data(100_000, 9).as_slice()
    );
}

#[tokio::test]
async fn altered_ciphertext_never_downloads() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let full = SEG + TAG;

    // Each case on its own content (so no two share an object), restored afterwards.
    type Damage = fn(&mut Vec<u8>);
    let cases: Vec<(&str, Damage)> = vec![
        ("flip a byte in the first segment", |b| {
            b[HEADER + 10] ^= 0x01
        }),
        ("flip a byte in the middle segment", |b| {
            b[HEADER + SEG + TAG + 100] ^= 0x80
        }),
        ("flip a byte of the last tag", |b| {
            let n = b.len();
            b[n - 1] ^= 0x01
        }),
        ("flip a header byte", |b| b[9] ^= 0x01),
        ("truncate the last segment", |b| {
            let n = b.len();
            b.truncate(n - 5)
        }),
        ("drop the whole last segment", |b| {
            b.truncate(HEADER + 2 * (SEG + TAG))
        }),
        ("append bytes", |b| b.extend_from_slice(&[0u8; 40])),
        ("swap segments 1 and 2", |b| {
            let full = SEG + TAG;
            let s1 = b[HEADER + full..HEADER + 2 * full].to_vec();
            let s2 = b[HEADER + 2 * full..HEADER + 3 * full].to_vec();
            b[HEADER + full..HEADER + 2 * full].copy_from_slice(&s2);
            b[HEADER + 2 * full..HEADER + 3 * full].copy_from_slice(&s1);
        }),
        ("swap segments 0 and 1", |b| {
            let full = SEG + TAG;
            let s0 = b[HEADER..HEADER + full].to_vec();
            let s1 = b[HEADER + full..HEADER + 2 * full].to_vec();
            b[HEADER..HEADER + full].copy_from_slice(&s1);
            b[HEADER + full..HEADER + 2 * full].copy_from_slice(&s0);
        }),
    ];
    for (i, (what, damage)) in cases.into_iter().enumerate() {
        // Four segments: three full ones and a short last one.
        let body = data(3 * SEG + 1000, 40 + i as u8);
        let (id, object) = upload_with_object(&server, &owner, &org, body.clone()).await;
        let original = std::fs::read(&object).unwrap();
        assert_eq!(original.len(), HEADER + 3 * full + 1000 + TAG);
        let mut bad = original.clone();
        damage(&mut bad);
        std::fs::write(&object, &bad).unwrap();
        assert_download_fails(try_download(&owner, &org, &id, None).await, what).await;
        // A range over the damaged part fails too.
        let res = try_download(
            &owner,
            &org,
            &id,
            Some(&format!("bytes=0-{}", body.len() - 1)),
        )
        .await;
        assert_download_fails(res, &format!("{what} (range)")).await;
        // Restored, it reads again: the failure was the damage.
        std::fs::write(&object, &original).unwrap();
        let res = download(&owner, &org, &id, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{what}: restored");
        assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    // Damage in the first segment answers a clean problem before any byte.
    let (id, object) = upload_with_object(&server, &owner, &org, data(2 * SEG, 99)).await;
    let mut bad = std::fs::read(&object).unwrap();
    bad[HEADER + 1] ^= 1;
    std::fs::write(&object, &bad).unwrap();
    let res = download(&owner, &org, &id, None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], "/problems/integrity");
    // A missing object too.
    std::fs::remove_file(&object).unwrap();
    let res = download(&owner, &org, &id, None).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn no_plaintext_rests_in_the_data_directory() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let marker = b"LABLEDGER-KNOWN-PLAINTEXT-MARKER-7f3a9c";
    let body: Vec<u8> = marker.iter().copied().cycle().take(300_000).collect();
    upload_ok(&owner, &org, "marker.txt", body.clone()).await;
    upload_ok(&owner, &org, "tiny.txt", marker.to_vec()).await;
    let all = files_under(server.data_dir.path());
    assert!(
        all.iter()
            .any(|p| p.starts_with(server.data_dir.path().join("objects"))),
        "objects live under the data directory: {all:?}"
    );
    // Any 16-byte window of the marker would give plaintext away.
    let needles: Vec<&[u8]> = marker.windows(16).collect();
    for path in &all {
        let bytes = std::fs::read(path).unwrap();
        for w in bytes.windows(16) {
            assert!(
                !needles.contains(&w),
                "plaintext of the marker found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn other_orgs_cannot_read_list_or_probe_files() {
    let server = common::spawn().await;
    let owner_a = server.owner().await;
    let org_a = server.org_id.clone();
    let org_b = server.create_org("Org B", "boss@b.example", "org b owner long password");
    let owner_b = server
        .login("boss@b.example", "org b owner long password")
        .await;

    let secret = data(200_000, 77);
    let a = upload_ok(&owner_a, &org_a, "secret.bin", secret.clone()).await;
    let a_id = a["id"].as_str().unwrap();
    // Same content again in A: stored once (a second record, no second object).
    let objects_a = objects_of(&server, &org_a);
    assert_eq!(objects_a.len(), 1);
    let again = upload_ok(&owner_a, &org_a, "secret-copy.bin", secret.clone()).await;
    assert_eq!(again["sha256"], a["sha256"]);
    assert_eq!(objects_of(&server, &org_a), objects_a, "deduplicated in A");

    // B cannot see A's file by any path.
    for path in [
        format!("/api/v1/orgs/{org_a}/files"),
        format!("/api/v1/orgs/{org_a}/files/{a_id}"),
        format!("/api/v1/orgs/{org_a}/files/{a_id}/content"),
        format!("/api/v1/orgs/{org_b}/files/{a_id}"),
        format!("/api/v1/orgs/{org_b}/files/{a_id}/content"),
    ] {
        let res = owner_b.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = owner_b
        .send(
            Method::POST,
            &format!("/api/v1/orgs/{org_a}/files?name=x"),
            Some(Value::String("x".into())),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let listed = owner_b
        .get_json(&format!("/api/v1/orgs/{org_b}/files"))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);

    // Probing by uploading A's content in B: B's answer is that of any new content (version 1,
    // its own id), and B gets its own object under its own key; A's objects are untouched.
    let fresh = upload_ok(&owner_b, &org_b, "probe-fresh.bin", data(200_000, 78)).await;
    let probe = upload_ok(&owner_b, &org_b, "probe.bin", secret.clone()).await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&probe), keys(&fresh));
    assert_eq!(probe["version"], 1);
    assert_ne!(probe["id"], a["id"]);
    assert_eq!(
        objects_of(&server, &org_b).len(),
        2,
        "B stores its own copy"
    );
    assert_eq!(objects_of(&server, &org_a), objects_a, "A is untouched");
    let a_bytes = std::fs::read(&objects_a[0]).unwrap();
    for b_obj in objects_of(&server, &org_b) {
        let b_bytes = std::fs::read(&b_obj).unwrap();
        assert_ne!(a_bytes, b_bytes, "no shared ciphertext");
    }
    // A still reads its file; B reads its copy.
    let res = download(&owner_a, &org_a, a_id, None).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), secret.as_slice());
    let res = download(&owner_b, &org_b, probe["id"].as_str().unwrap(), None).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), secret.as_slice());
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_and_leave_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let server = common::spawn_on(data_dir, db, &["--max-file-size", "1MiB"]);
    let owner = server.owner().await;
    let org = server.org_id.clone();
    upload_ok(&owner, &org, "exactly.bin", data(1 << 20, 1)).await;
    let before = objects_of(&server, &org);
    // Declared too large (Content-Length) and streamed too large (chunked, no length).
    let res = upload(&owner, &org, "big.bin", data((1 << 20) + 1, 2)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|i| Ok(data(64 * 1024, i))).collect();
    let res = owner
        .client
        .post(format!(
            "{}/api/v1/orgs/{org}/files?name=big.bin",
            owner.base
        ))
        .header("x-csrf-token", &owner.csrf)
        .header("connection", "close")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let page = owner.get_json(&format!("/api/v1/orgs/{org}/files")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        objects_of(&server, &org),
        before,
        "nothing kept of a refused upload"
    );
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_large_file_streams_both_ways_in_bounded_memory() {
    const MIB: usize = 1024 * 1024;
    const TOTAL_MIB: usize = 300;
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let baseline = vm_hwm_kib(server.pid());

    // 300 MiB generated on the fly: never held by the client either.
    let chunk = data(MIB, 3);
    let mut expected = Sha256::new();
    for i in 0..TOTAL_MIB {
        let mut c = chunk.clone();
        c[0] = i as u8;
        expected.update(&c);
    }
    let expected = hex::encode(expected.finalize());
    let stream = futures::stream::iter((0..TOTAL_MIB).map(move |i| {
        let mut c = chunk.clone();
        c[0] = i as u8;
        Ok::<_, std::io::Error>(c)
    }));
    let res = owner
        .client
        .post(format!(
            "{}/api/v1/orgs/{org}/files?name=big.raw",
            owner.base
        ))
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["size"], (TOTAL_MIB * MIB) as u64);
    assert_eq!(v["sha256"], expected);
    let after_upload = vm_hwm_kib(server.pid());

    let res = download(&owner, &org, v["id"].as_str().unwrap(), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut got = Sha256::new();
    let mut n = 0usize;
    let mut body = res.bytes_stream();
    while let Some(c) = body.next().await {
        let c = c.unwrap();
        n += c.len();
        got.update(&c);
    }
    assert_eq!(n, TOTAL_MIB * MIB);
    assert_eq!(hex::encode(got.finalize()), expected);
    let after_download = vm_hwm_kib(server.pid());
    eprintln!(
        "server VmHWM: {baseline} KiB at start, {after_upload} KiB after upload, {after_download} KiB after download"
    );
    // Memory bounded: well under the file's size (parts in flight + segment buffers).
    let growth_mib = (after_download.saturating_sub(baseline)) / 1024;
    assert!(
        growth_mib < 64,
        "peak memory grew by {growth_mib} MiB for a {TOTAL_MIB} MiB file"
    );
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if reqwest::get(format!("{url}/")).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Moto { child, url }
}

#[tokio::test]
async fn s3_backend_round_trips_and_detects_tampering() {
    let moto = start_moto().await;
    let http = reqwest::Client::new();
    let res = http
        .put(format!("{}/evidence", moto.url))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    let data_dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let server = common::spawn_on_env(
        data_dir,
        db,
        &[
            "--object-store",
            "s3://evidence/vault",
            "--s3-endpoint",
            &moto.url,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let marker = b"S3-KNOWN-PLAINTEXT-MARKER-0042";
    // 20 MiB + 1: more than two multipart parts.
    let big: Vec<u8> = marker
        .iter()
        .copied()
        .cycle()
        .take(20 * 1024 * 1024 + 1)
        .collect();
    let mut ids = Vec::new();
    for (i, body) in [Vec::new(), vec![7u8], data(SEG + 1, 5), big.clone()]
        .into_iter()
        .enumerate()
    {
        let v = upload_ok(&owner, &org, &format!("s3-{i}"), body.clone()).await;
        assert_eq!(v["sha256"], sha_hex(&body));
        let id = v["id"].as_str().unwrap().to_owned();
        let res = download(&owner, &org, &id, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice(), "{i}");
        ids.push(id);
    }
    let res = download(&owner, &org, &ids[3], Some("bytes=10000000-10000099")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        &big[10_000_000..10_000_100]
    );
    assert!(
        !server.data_dir.path().join("objects").exists(),
        "with S3 nothing is stored locally"
    );

    // The bucket's objects: list them, check for plaintext, then tamper with the big one.
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
    let keys: Vec<String> = listing
        .split("<Key>")
        .skip(1)
        .map(|s| s.split("</Key>").next().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 4, "{listing}");
    let mut biggest = (String::new(), Vec::new());
    for key in &keys {
        let bytes = http
            .get(format!("{}/evidence/{key}", moto.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext in {key}"
        );
        if bytes.len() > biggest.1.len() {
            biggest = (key.clone(), bytes);
        }
    }
    let (key, original) = biggest;
    let mut bad = original.clone();
    bad[HEADER + 5 * (SEG + TAG) + 3] ^= 0x10;
    let res = http
        .put(format!("{}/evidence/{key}", moto.url))
        .body(bad)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_download_fails(try_download(&owner, &org, &ids[3], None).await, "S3 flip").await;
    let mut cut = original.clone();
    cut.truncate(original.len() - 100);
    http.put(format!("{}/evidence/{key}", moto.url))
        .body(cut)
        .send()
        .await
        .unwrap();
    assert_download_fails(
        try_download(&owner, &org, &ids[3], None).await,
        "S3 truncation",
    )
    .await;
}
