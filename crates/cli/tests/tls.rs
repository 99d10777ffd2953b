//! TLS built into `serve`, tried as a client and a scanner would: `openssl s_client` for the
//! protocol versions and the certificate served, an HTTPS client for HSTS and the session
//! cookie, SIGHUP for a certificate change under a live connection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fresh_database, spawn_on, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A self-signed certificate for 127.0.0.1 with the given common name: (cert, key) files.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    common::certs::self_signed(dir, name, "IP:127.0.0.1")
}

struct TlsServer {
    server: TestServer,
    certs: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

async fn spawn_tls(extra: &[&str]) -> TlsServer {
    let certs = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = make_cert(certs.path(), "labledger-test-a");
    // The server reads fixed paths: what is there at a SIGHUP is what it serves next.
    let (cert, key) = (certs.path().join("live.crt"), certs.path().join("live.key"));
    std::fs::copy(&a_cert, &cert).unwrap();
    std::fs::copy(&a_key, &key).unwrap();
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = spawn_on(tempfile::tempdir().unwrap(), fresh_database().await, &args);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    TlsServer {
        server,
        certs,
        cert,
        key,
    }
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("https://").to_owned()
}

/// `openssl s_client` with one protocol flag: whether the handshake succeeded, and the
/// subject of the certificate served.
fn s_client(base: &str, protocol: &str) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &host_port(base), protocol])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let subject = text
        .lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or_default()
        .to_owned();
    let established = out.status.success() && text.contains("Cipher is") && !subject.is_empty();
    (established, subject)
}

fn client_trusting(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_1_3_only_by_default_with_hsts_and_a_host_only_secure_cookie() {
    let tls = spawn_tls(&[]).await;
    let base = &tls.server.base;

    let (ok13, subject) = s_client(base, "-tls1_3");
    assert!(ok13, "a TLS 1.3 handshake succeeds");
    assert!(subject.contains("labledger-test-a"), "{subject}");
    let (ok12, _) = s_client(base, "-tls1_2");
    assert!(!ok12, "TLS 1.2 is refused unless --tls-min 1.2");

    let client = client_trusting(&tls.cert);
    let res = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.contains("max-age=63072000"), "{hsts}");

    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-labledger_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "host-only: {cookie}");
    // The cookie is the session: the same client is signed in, a plain-named cookie is not.
    let me = client
        .get(format!("{base}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-labledger_session=")
        .to_owned();
    let plain = client_trusting(&tls.cert)
        .get(format!("{base}/api/v1/me"))
        .header("cookie", format!("labledger_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);

    // The UI's login form works over TLS too (its cookies are Secure).
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn tls_min_1_2_allows_1_2_and_never_anything_older() {
    let tls = spawn_tls(&["--tls-min", "1.2"]).await;
    let base = &tls.server.base;
    assert!(s_client(base, "-tls1_2").0, "TLS 1.2 allowed on request");
    assert!(s_client(base, "-tls1_3").0);
    assert!(!s_client(base, "-tls1_1").0, "TLS 1.1 never");

    let refused = Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-min", "1.1"])
        .arg("--tls-cert")
        .arg(&tls.cert)
        .arg("--tls-key")
        .arg(&tls.key)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("1.1"));
}

#[tokio::test]
async fn sighup_serves_the_new_certificate_without_dropping_a_connection() {
    let tls = spawn_tls(&[]).await;
    let base = tls.server.base.clone();
    // A client that trusts both certificates keeps its connection across the reload.
    let (b_cert, b_key) = make_cert(tls.certs.path(), "labledger-test-b");
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&tls.cert).unwrap()).unwrap(),
        )
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&b_cert).unwrap()).unwrap(),
        )
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let before = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(before.status(), StatusCode::OK);

    // A broken pair is refused at SIGHUP; the certificate in use stays.
    std::fs::write(&tls.cert, "-----BEGIN CERTIFICATE-----\nnot one\n").unwrap();
    hangup(&tls.server);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(s_client(&base, "-tls1_3").1.contains("labledger-test-a"));

    std::fs::copy(&b_cert, &tls.cert).unwrap();
    std::fs::copy(&b_key, &tls.key).unwrap();
    hangup(&tls.server);
    let mut subject = String::new();
    for _ in 0..50 {
        subject = s_client(&base, "-tls1_3").1;
        if subject.contains("labledger-test-b") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        subject.contains("labledger-test-b"),
        "served after SIGHUP: {subject}"
    );
    // The connection opened under the old certificate still answers.
    let after = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

fn hangup(server: &TestServer) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn plain_http_off_loopback_needs_a_named_proxy() {
    let data = tempfile::tempdir().unwrap();
    let refused = Command::new(common::bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env_remove("LABLEDGER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("--behind-proxy"), "{message}");
    assert!(
        std::fs::read_dir(data.path()).unwrap().next().is_none(),
        "nothing is made before refusing"
    );

    // Named proxies make plain HTTP on any address acceptable.
    let server = spawn_on(
        tempfile::tempdir().unwrap(),
        fresh_database().await,
        &["--listen", "0.0.0.0:0", "--behind-proxy", "127.0.0.1/32"],
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let res = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A bad certificate or key stops `serve` before it listens, naming the file.
#[tokio::test]
async fn a_bad_certificate_stops_serve_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = make_cert(dir.path(), "one");
    let (_, other_key) = make_cert(dir.path(), "two");
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&other_key)
        .env_remove("LABLEDGER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("--tls-key"), "{message}");
}
