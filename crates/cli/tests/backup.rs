//! Encrypted backups and the restore drill, from outside: `labledger backup create | verify |
//! restore` against a real server's data, then a real server on the restored data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SAMPLE_MARKER: &str = "plasmamarkerqzx";
const FILE_MARKER: &[u8] = b"FILE-CONTENT-MARKER-7f3a9c";
const EMAIL_MARKER: &str = "marker.person.qzx@lab.example";

/// A backup key file (64 hex characters) in `dir`.
fn key_file(dir: &Path, byte: u8) -> PathBuf {
    let path = dir.join(format!("backup-{byte}.key"));
    std::fs::write(&path, hex::encode([byte; 32])).unwrap();
    path
}

/// A `labledger` command with no database configured by the environment.
fn bare() -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.env_remove("LABLEDGER_DATABASE_URL")
        .env_remove("LABLEDGER_DATA_DIR")
        .env_remove("LABLEDGER_MASTER_KEY")
        .env_remove("LABLEDGER_MASTER_KEY_FILE")
        .env_remove("LABLEDGER_BACKUP_KEY")
        .env_remove("LABLEDGER_BACKUP_KEY_FILE");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn create_command(server: &TestServer, key: &Path, out: &Path) -> Command {
    let mut cmd = server.cli();
    cmd.args(["backup", "create", "--out"])
        .arg(out)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .env("LABLEDGER_BACKUP_KEY_FILE", key);
    cmd
}

fn create(server: &TestServer, key: &Path, out: &Path) -> Output {
    create_command(server, key, out).output().unwrap()
}

fn verify(archive: &Path, key: &Path) -> Output {
    bare()
        .args(["backup", "verify"])
        .arg(archive)
        .env("LABLEDGER_BACKUP_KEY_FILE", key)
        .output()
        .unwrap()
}

/// Restores into a data dir (and, given, a PostgreSQL database), with the master key (the raw
/// `master.key` file of a data dir, given as hex).
fn restore(archive: &Path, key: &Path, dir: &Path, db: Option<&str>, master: &Path) -> Output {
    let mut cmd = bare();
    cmd.args(["backup", "restore"])
        .arg(archive)
        .arg("--data-dir")
        .arg(dir)
        .env("LABLEDGER_BACKUP_KEY_FILE", key)
        .env(
            "LABLEDGER_MASTER_KEY",
            hex::encode(std::fs::read(master).unwrap()),
        );
    if let Some(url) = db {
        cmd.args(["--database-url", url]);
    }
    cmd.output().unwrap()
}

/// A new empty PostgreSQL database when one can be made (LABLEDGER_TEST_PG_ADMIN_URL).
async fn postgres_database() -> Option<String> {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("LABLEDGER_TEST_PG_ADMIN_URL").ok()?;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0))
}

/// How many files are under `dir` (any depth).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                files_under(&path)
            } else {
                1
            }
        })
        .sum()
}

async fn upload(s: &Session, org: &str, name: &str, body: Vec<u8>) -> String {
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
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn download(s: &Session, org: &str, id: &str) -> Vec<u8> {
    let res = s
        .get(&format!("/api/v1/orgs/{org}/files/{id}/content"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.unwrap().to_vec()
}

/// Every item of a paged list.
async fn all_pages(s: &Session, base: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = format!("{base}?limit=50");
    loop {
        let page = s.get_json(&url).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{base}?limit=50&cursor={c}"),
            None => return items,
        }
    }
}

/// What the API shows of an org: samples, files, locations, audit events and the chain head.
async fn org_state(s: &Session, org: &str) -> Value {
    let verify = s
        .get_json(&format!("/api/v1/orgs/{org}/audit/verify"))
        .await;
    assert_eq!(verify["ok"], true, "{verify}");
    json!({
        "samples": all_pages(s, &format!("/api/v1/orgs/{org}/samples")).await,
        "files": all_pages(s, &format!("/api/v1/orgs/{org}/files")).await,
        "audit": all_pages(s, &format!("/api/v1/orgs/{org}/audit")).await,
        "locations": s.get_json(&format!("/api/v1/orgs/{org}/locations")).await,
        "head": [verify["verified_events"].clone(), verify["head_hash"].clone()],
    })
}

/// Two orgs with samples (one carrying a marker), a location tree, members, files (one carrying
/// a marker); answers the second org, its owner, and the files (org, id, bytes).
async fn populate(server: &TestServer) -> (String, Session, Vec<(String, String, Vec<u8>)>) {
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (other, other_owner) = server.other_org().await;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": SAMPLE_MARKER}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for _ in 0..3 {
        common::fixtures::sample(&owner, &org).await;
        common::fixtures::sample(&other_owner, &other).await;
    }
    common::fixtures::storage_box(&owner, &org).await;
    owner
        .add_member(server, &org, EMAIL_MARKER, &["Viewer"])
        .await;
    let mut marked = b"header ".to_vec();
    marked.extend_from_slice(FILE_MARKER);
    marked.extend_from_slice(b" trailer");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut files = Vec::new();
    for (s, o, name, body) in [
        (&owner, &org, "marked.txt", marked),
        (&owner, &org, "big.bin", big.clone()),
        (&other_owner, &other, "other.bin", big[..1000].to_vec()),
        (&owner, &org, "empty.bin", Vec::new()),
    ] {
        let id = upload(s, o, name, body.clone()).await;
        files.push((o.clone(), id, body));
    }
    (other, other_owner, files)
}

fn session_for<'a>(
    org: &str,
    first: &'a Session,
    other_org: &str,
    other: &'a Session,
) -> &'a Session {
    if org == other_org {
        other
    } else {
        first
    }
}

/// The restored schema keeps its triggers: events cannot be changed, and evidence for a
/// finished workflow run is still refused (the trigger the restore suspended is back).
async fn append_only_rules_hold(restored: &TestServer) {
    use sqlx::Executor;
    let mut db = restored.raw_db().await;
    let err = db
        .execute("UPDATE audit_events SET action = 'forged'")
        .await
        .expect_err("the restored chain is append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
    let present: i64 = if restored.database_url.is_some() {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'file_attachments_run_final' AND tgenabled = 'O'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap()
    } else {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'file_attachments_run_final'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap()
    };
    assert_eq!(
        present, 1,
        "the suspended insert trigger is back and enabled"
    );
}

/// Starts a server on restored data (its master key copied beside it) and checks it shows
/// exactly what the original showed, files' bytes included.
async fn check_restored(
    dir: tempfile::TempDir,
    db: Option<String>,
    original: &TestServer,
    live_at_backup: &Session,
    expected: &[(String, Value)],
    other_org: &str,
    files: &[(String, String, Vec<u8>)],
) {
    std::fs::copy(
        original.data_dir.path().join("master.key"),
        dir.path().join("master.key"),
    )
    .unwrap();
    let restored = common::spawn_on(dir, db, &[]);
    // A session live when the backup was taken does not come back to life.
    let res = live_at_backup
        .client
        .get(restored.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    append_only_rules_hold(&restored).await;
    let owner = restored.owner().await;
    let other = restored
        .login("boss@other.example", "other lab owner password")
        .await;
    for (org, state) in expected {
        let s = session_for(org, &owner, other_org, &other);
        assert_eq!(&org_state(s, org).await, state, "org {org} as restored");
    }
    for (org, id, bytes) in files {
        let s = session_for(org, &owner, other_org, &other);
        assert_eq!(&download(s, org, id).await, bytes, "file {id}");
    }
    // The restored instance takes new writes on the restored chains.
    let first_org = &expected[0].0;
    common::fixtures::sample(&owner, first_org).await;
    common::audit_len(&owner, first_org).await;
}

#[tokio::test]
async fn backup_verify_restore_give_back_every_record_file_and_chain_head() {
    let server = common::spawn().await;
    let (other, other_owner, files) = populate(&server).await;
    let owner = server.owner().await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 1);
    let mut expected = Vec::new();
    for org in [server.org_id.clone(), other.clone()] {
        let s = session_for(&org, &owner, &other, &other_owner);
        expected.push((org.clone(), org_state(s, &org).await));
    }

    let archive = keys.path().join("labledger.llbk");
    // What a killed run left (here readable by all) is replaced, not reused.
    let stale = keys.path().join("labledger.llbk.partial");
    std::fs::write(&stale, b"left by a killed backup").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = create(&server, &key, &archive);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!keys.path().join("labledger.llbk.partial").exists());

    // Nothing readable in it: not a sample's field, a file's bytes, a user's email, a table name.
    let bytes = std::fs::read(&archive).unwrap();
    for marker in [
        SAMPLE_MARKER.as_bytes(),
        FILE_MARKER,
        EMAIL_MARKER.as_bytes(),
        b"audit_events",
        b"sample_type",
    ] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} in the archive",
            String::from_utf8_lossy(marker)
        );
    }

    // The drill passes; pointed at the live instance it records its outcome there.
    let out = server
        .cli()
        .args(["backup", "verify"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .env("LABLEDGER_BACKUP_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(stdout.contains("links, heads and seals"), "{stdout}");
    assert_eq!(stdout.matches(": intact,").count(), 2, "{stdout}");
    {
        use sqlx::Row;
        let mut db = server.raw_db().await;
        let rows = sqlx::query("SELECT result, archive, archive_size FROM backup_drills")
            .fetch_all(&mut db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<String, _>("result"), "pass");
        assert_eq!(rows[0].get::<String, _>("archive"), "labledger.llbk");
        assert_eq!(rows[0].get::<i64, _>("archive_size"), bytes.len() as i64);
    }
    // ... where monitoring sees it.
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("labledger_backup_drill_last_passed 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "labledger_backup_drill_last_archive_bytes {}",
        bytes.len()
    )));
    // Without the live instance, nothing is recorded and no master key is needed.
    let out = verify(&archive, &key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Restore on this test's engine, then a server on it shows the same.
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let master = server.data_dir.path().join("master.key");
    let out = restore(&archive, &key, dir.path(), db.as_deref(), &master);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact and equal to the manifest"));
    check_restored(dir, db, &server, &owner, &expected, &other, &files).await;
}

/// Backs up a populated SQLite instance, restores it into a new PostgreSQL database.
#[tokio::test]
async fn an_sqlite_backup_restores_into_postgresql() {
    let Some(target) = postgres_database().await else {
        eprintln!("skipped: no PostgreSQL (LABLEDGER_TEST_PG_ADMIN_URL) to restore into");
        return;
    };
    let server = common::spawn_on(tempfile::tempdir().unwrap(), None, &[]);
    restores_across_engines(&server, Some(target), 2).await;
}

/// On a PostgreSQL run: a PostgreSQL backup restores into SQLite.
#[tokio::test]
async fn a_postgresql_backup_restores_into_sqlite() {
    if !common::is_postgres() {
        return;
    }
    let server = common::spawn().await;
    restores_across_engines(&server, None, 3).await;
}

/// Backs `server` up (under a key made of `key_byte`) and restores it into `target` (a
/// PostgreSQL URL) or a new SQLite data dir; the restored instance must show the same.
async fn restores_across_engines(server: &TestServer, target: Option<String>, key_byte: u8) {
    let (other, other_owner, files) = populate(server).await;
    let owner = server.owner().await;
    let mut expected = Vec::new();
    for org in [server.org_id.clone(), other.clone()] {
        let s = session_for(&org, &owner, &other, &other_owner);
        expected.push((org.clone(), org_state(s, &org).await));
    }
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), key_byte);
    let archive = keys.path().join("a.llbk");
    let out = create(server, &key, &archive);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let master = server.data_dir.path().join("master.key");
    let out = restore(&archive, &key, dir.path(), target.as_deref(), &master);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    check_restored(dir, target, server, &owner, &expected, &other, &files).await;
}

#[tokio::test]
async fn a_flipped_byte_anywhere_fails_the_drill_and_the_restore() {
    let server = common::spawn().await;
    populate(&server).await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 4);
    let archive = keys.path().join("good.llbk");
    assert!(create(&server, &key, &archive).status.success());
    let good = std::fs::read(&archive).unwrap();
    let n = good.len();
    let master = server.data_dir.path().join("master.key");
    // Header (magic, key id, salt, MAC), the body's own header, the middle, the last bytes.
    let offsets = [0, 9, 20, 40, 70, 91, 95, n / 3, n / 2, n - 17, n - 1];
    for (k, &at) in offsets.iter().enumerate() {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let path = keys.path().join(format!("bad-{at}.llbk"));
        std::fs::write(&path, &bad).unwrap();
        let out = verify(&path, &key);
        assert_eq!(out.status.code(), Some(1), "flip at {at}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: FAIL"));
        // The restore refuses too and leaves the target as it was (no database made).
        if k % 3 == 0 || at >= n / 2 {
            let dir = tempfile::tempdir().unwrap();
            let out = restore(&path, &key, dir.path(), None, &master);
            assert_eq!(
                out.status.code(),
                Some(1),
                "restore, flip at {at}: {}",
                text(&out)
            );
            assert!(!dir.path().join("labledger.db").exists(), "flip at {at}");
            let left = files_under(&dir.path().join("objects"));
            assert_eq!(left, 0, "objects left behind, flip at {at}");
        }
    }
    // Cut short anywhere, or grown at the end.
    for cut in [n - 1, n - 16, n / 2, 100] {
        let path = keys.path().join(format!("cut-{cut}.llbk"));
        std::fs::write(&path, &good[..cut]).unwrap();
        assert_eq!(verify(&path, &key).status.code(), Some(1), "cut at {cut}");
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0u8; 64]);
    let path = keys.path().join("longer.llbk");
    std::fs::write(&path, &longer).unwrap();
    assert_eq!(verify(&path, &key).status.code(), Some(1));
    // The untouched archive still passes.
    assert_eq!(verify(&archive, &key).status.code(), Some(0));
}

#[tokio::test]
async fn a_wrong_key_or_a_file_that_is_no_backup_exits_2() {
    let server = common::spawn().await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 5);
    let wrong = key_file(keys.path(), 6);
    let archive = keys.path().join("a.llbk");
    assert!(create(&server, &key, &archive).status.success());
    let out = verify(&archive, &wrong);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backup key"));
    let dir = tempfile::tempdir().unwrap();
    let master = server.data_dir.path().join("master.key");
    let out = restore(&archive, &wrong, dir.path(), None, &master);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!dir.path().join("labledger.db").exists());

    let other = keys.path().join("notes.txt");
    std::fs::write(&other, vec![b'x'; 500]).unwrap();
    let out = verify(&other, &key);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a LabLedger backup"));
    // No key at all.
    let out = bare()
        .args(["backup", "verify"])
        .arg(&archive)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LABLEDGER_BACKUP_KEY_FILE"));
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_to_chains_that_verify() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (other, other_owner) = server.other_org().await;
    common::fixtures::sample(&owner, &org).await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 7);
    let archive = keys.path().join("busy.llbk");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (s, o) in [(owner, org.clone()), (other_owner, other.clone())] {
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                common::fixtures::sample(&s, &o).await;
                if n.is_multiple_of(5) {
                    upload(&s, &o, "load.bin", n.to_be_bytes().repeat(1000)).await;
                }
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut cmd = create_command(&server, &key, &archive);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    assert!(out.status.success(), "{}", text(&out));
    assert!(written > 0);
    let out = verify(&archive, &key);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let master = server.data_dir.path().join("master.key");
    let out = restore(&archive, &key, dir.path(), db.as_deref(), &master);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::copy(&master, dir.path().join("master.key")).unwrap();
    let restored = common::spawn_on(dir, db, &[]);
    let owner = restored.owner().await;
    let n = common::audit_len(&owner, &org).await;
    assert!(n > 1);
    let other_owner = restored
        .login("boss@other.example", "other lab owner password")
        .await;
    common::audit_len(&other_owner, &other).await;
    // Every restored file's bytes are whole (its object came with its row).
    for f in all_pages(&owner, &format!("/api/v1/orgs/{org}/files")).await {
        let body = download(&owner, &org, f["id"].as_str().unwrap()).await;
        assert_eq!(body.len() as i64, f["size"].as_i64().unwrap());
    }
}

#[tokio::test]
async fn a_restore_into_a_target_that_holds_data_is_refused_and_changes_nothing() {
    let server = common::spawn().await;
    populate(&server).await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 8);
    let archive = keys.path().join("a.llbk");
    assert!(create(&server, &key, &archive).status.success());
    let master = server.data_dir.path().join("master.key");
    let owner = server.owner().await;
    let before = org_state(&owner, &server.org_id).await;
    // Into the live instance itself.
    let mut cmd = server.cli();
    cmd.args(["backup", "restore"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .env("LABLEDGER_BACKUP_KEY_FILE", &key)
        .env(
            "LABLEDGER_MASTER_KEY",
            hex::encode(std::fs::read(&master).unwrap()),
        );
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds data"));
    assert_eq!(org_state(&owner, &server.org_id).await, before);
    // A target restored once is not restored over.
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let out = restore(&archive, &key, dir.path(), db.as_deref(), &master);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let db_file = dir.path().join("labledger.db");
    let snapshot = std::fs::read(&db_file).ok();
    let out = restore(&archive, &key, dir.path(), db.as_deref(), &master);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read(&db_file).ok(), snapshot);
    // An empty database beside an object store that holds objects: refused, nothing made.
    if db.is_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("objects/x")).unwrap();
        std::fs::write(dir.path().join("objects/x/y"), b"someone's object").unwrap();
        let out = restore(&archive, &key, dir.path(), None, &master);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!dir.path().join("labledger.db").exists());
    }
}

#[tokio::test]
async fn create_and_a_recording_drill_refuse_a_place_without_labledger() {
    let server = common::spawn().await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 9);
    let archive = keys.path().join("a.llbk");
    assert!(create(&server, &key, &archive).status.success());
    let empty = tempfile::tempdir().unwrap();
    let out = bare()
        .args(["backup", "create", "--out"])
        .arg(keys.path().join("b.llbk"))
        .arg("--data-dir")
        .arg(empty.path())
        .env("LABLEDGER_BACKUP_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no LabLedger"));
    let out = bare()
        .args(["backup", "verify"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(empty.path())
        .env("LABLEDGER_BACKUP_KEY_FILE", &key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "nothing made"
    );
    assert!(!keys.path().join("b.llbk").exists());
    assert!(!keys.path().join("b.llbk.partial").exists());
}

#[tokio::test]
async fn prune_keeps_the_newest_per_period_and_lists_on_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Every 6 hours for 60 days: the newest of each of 7 days, 4 weeks, 12 months stay.
    let stamp = |t: i64| {
        let days = t.div_euclid(86_400);
        let sod = t.rem_euclid(86_400);
        // Civil date from days (the same algorithm as the code; checked against `date` below).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "labledger-{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z.llbk",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    };
    for k in 0..240 {
        std::fs::write(dir.path().join(stamp(now - k * 6 * 3600)), b"x").unwrap();
    }
    std::fs::write(dir.path().join("unrelated.txt"), b"x").unwrap();
    let run = |dry: bool| {
        let mut cmd = bare();
        cmd.args(["backup", "prune", "--keep", "7d,4w,12m", "--backup-dir"])
            .arg(dir.path());
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.output().unwrap()
    };
    let out = run(true);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("would remove"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 241);
    let out = run(false);
    assert!(out.status.success(), "{}", text(&out));
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.contains(&"unrelated.txt".to_owned()));
    assert!(left.contains(&stamp(now)), "the newest stays");
    // At most 7 days + 4 weeks + 3 months (60 days span at most 3 months), at least 7.
    let archives = left.len() - 1;
    assert!((7..=14).contains(&archives), "{left:?}");
}

/// A moto S3 server on a free loopback port with a bucket `evidence`, stopped when dropped.
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
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server is required (pip install \"moto[server]\"; scripts/test.sh does)");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reqwest::get(format!("{url}/")).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let res = reqwest::Client::new()
        .put(format!("{url}/evidence"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    Moto { child, url }
}

const S3_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

#[tokio::test]
async fn objects_in_s3_are_backed_up_and_restored_into_an_empty_bucket_prefix() {
    let moto = start_moto().await;
    let source = [
        "--object-store",
        "s3://evidence/live",
        "--s3-endpoint",
        moto.url.as_str(),
    ];
    let server = common::spawn_on_env(
        tempfile::tempdir().unwrap(),
        common::fresh_database().await,
        &source,
        &S3_ENV,
    );
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let body: Vec<u8> = (0..9_000_000u32).map(|i| (i % 253) as u8).collect();
    let id = upload(&owner, &org, "s3.bin", body.clone()).await;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), 10);
    let archive = keys.path().join("s3.llbk");
    let out = create_command(&server, &key, &archive)
        .args(source)
        .envs(S3_ENV)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 objects"));

    let target = [
        "--object-store",
        "s3://evidence/restored",
        "--s3-endpoint",
        moto.url.as_str(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let master = server.data_dir.path().join("master.key");
    let restore_to = |dir: &Path, db: Option<&str>| {
        let mut cmd = bare();
        cmd.args(["backup", "restore"])
            .arg(&archive)
            .arg("--data-dir")
            .arg(dir)
            .args(target)
            .envs(S3_ENV)
            .env("LABLEDGER_BACKUP_KEY_FILE", &key)
            .env(
                "LABLEDGER_MASTER_KEY",
                hex::encode(std::fs::read(&master).unwrap()),
            );
        if let Some(url) = db {
            cmd.args(["--database-url", url]);
        }
        cmd.output().unwrap()
    };
    let out = restore_to(dir.path(), db.as_deref());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The same prefix again, with an empty database: the bucket prefix holds objects, refused.
    let again = tempfile::tempdir().unwrap();
    let out = restore_to(again.path(), common::fresh_database().await.as_deref());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds objects"));

    std::fs::copy(&master, dir.path().join("master.key")).unwrap();
    let restored = common::spawn_on_env(dir, db, &target, &S3_ENV);
    let owner = restored.owner().await;
    assert_eq!(download(&owner, &org, &id).await, body);
}
