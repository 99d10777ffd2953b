//! Black-box test harness: starts the real `labledger` binary on a loopback port, on a fresh
//! database of the engine `LABLEDGER_TEST_ENGINE` names (`sqlite`, the default, or `postgres`,
//! with a new database made through `LABLEDGER_TEST_PG_ADMIN_URL`), and talks HTTP to it.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub mod browser;
pub mod certs;
pub mod eln;
pub mod fixtures;

pub const ADMIN_EMAIL: &str = "owner@lab.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The password `Session::add_member` gives new members.
pub const MEMBER_PASSWORD: &str = "members own long password";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_labledger")
}

pub fn engine() -> String {
    std::env::var("LABLEDGER_TEST_ENGINE").unwrap_or_else(|_| "sqlite".to_owned())
}

pub fn is_postgres() -> bool {
    engine() == "postgres"
}

/// A fresh, empty database for one test: its URL (None for SQLite in the data dir).
pub async fn fresh_database() -> Option<String> {
    if !is_postgres() {
        return None;
    }
    use sqlx::{Connection, Executor};
    let admin = std::env::var("LABLEDGER_TEST_PG_ADMIN_URL")
        .expect("LABLEDGER_TEST_ENGINE=postgres needs LABLEDGER_TEST_PG_ADMIN_URL (scripts/test.sh sets it)");
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').expect("admin url has a database").0;
    Some(format!("{base}/{name}"))
}

/// A real SMTP server (Python's aiosmtpd) on a free loopback port, delivering into a Maildir;
/// killed when dropped.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    pub fn start() -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("smtp.log")).unwrap(),
            ))
            .spawn()
            .expect("start python3 -m aiosmtpd (pip install aiosmtpd)");
        let smtp = Smtp { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start: {}",
                std::fs::read_to_string(smtp.dir.path().join("smtp.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        smtp
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far (raw RFC 5322 text), oldest first.
    pub fn messages(&self) -> Vec<String> {
        maildir_messages(&self.dir.path().join("mail"))
    }

    /// Waits (up to 10 s) until `n` messages have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        wait_for_mail(&self.dir.path().join("mail"), n).await
    }
}

/// The Maildir of the SMTP server of the TestServer at `base` (for fixtures that need a mailed
/// token).
static MAILDIRS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

pub fn maildir_of(base: &str) -> PathBuf {
    MAILDIRS
        .lock()
        .unwrap()
        .iter()
        .find(|(b, _)| b == base)
        .map(|(_, p)| p.clone())
        .expect("this server has no SMTP server (start it with spawn_with_mail)")
}

/// The messages of a Maildir (raw text), oldest first.
pub fn maildir_messages(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                let meta = e.metadata().unwrap();
                files.push((meta.modified().unwrap(), e.path()));
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Waits (up to 10 s) until a Maildir holds `n` messages; returns them all.
pub async fn wait_for_mail(dir: &std::path::Path, n: usize) -> Vec<String> {
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let m = maildir_messages(dir);
            if m.len() >= n {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} mails, got {}",
                m.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// The decoded text body of a raw message (7bit or quoted-printable).
pub fn mail_body(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap();
    if headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        let joined = body.replace("=\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_owned()
    }
}

/// The header `name` of a raw message.
pub fn mail_header(raw: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    raw.lines()
        .take_while(|l| !l.trim().is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
}

/// The token of the link `…{path}?token=…` in a message body.
pub fn link_token(body: &str, path: &str) -> String {
    let marker = format!("{path}?token=");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in: {body}"))
        + marker.len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// A running server, killed when dropped.
pub struct TestServer {
    child: Child,
    /// The SMTP server the server sends its mail to.
    pub smtp: Option<Smtp>,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub org_id: String,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server logged (warnings and errors).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.data_dir.path().join("server.log"))
                .unwrap_or_default();
            for line in log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(40)
            {
                eprintln!("server: {line}");
            }
        }
    }
}

/// Starts a server on a fresh database; its first org is owned by ADMIN_EMAIL. It mails through
/// its own local SMTP server (so invitation routes work in the route-enumerating tests).
/// Waits for a change made outside the server (an operator command) to reach it: a server
/// remembers who may do what for at most a second (`store::recall`), so `check` must hold
/// within two. Returns the last answer of `check`.
pub async fn within_the_recall_bound<F, Fut, T>(mut check: F, holds: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let answer = check().await;
        if holds(&answer) || std::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn spawn() -> TestServer {
    spawn_with_mail(&[]).await
}

/// Starts a server with its own SMTP server (for invitations and password resets).
pub async fn spawn_with_mail(extra: &[&str]) -> TestServer {
    let smtp = Smtp::start();
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let url = smtp.url();
    let mut args: Vec<&str> = vec!["--smtp-url", &url];
    args.extend_from_slice(extra);
    let mut server = spawn_on(data_dir, database_url, &args);
    MAILDIRS
        .lock()
        .unwrap()
        .push((server.base.clone(), smtp.dir.path().join("mail")));
    server.smtp = Some(smtp);
    server
}

pub fn spawn_on(
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    extra: &[&str],
) -> TestServer {
    spawn_on_env(data_dir, database_url, extra, &[])
}

/// [`spawn_on`] with extra environment variables for the server.
pub fn spawn_on_env(
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> TestServer {
    let (child, base, org_id) = start(data_dir.path(), database_url.as_deref(), extra, envs);
    TestServer {
        child,
        smtp: None,
        base,
        data_dir,
        database_url,
        org_id,
    }
}

/// Starts `labledger serve` on a data dir (and database); returns the process, its base URL and
/// the id of the org it created on a first start (empty otherwise).
fn start(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (Child, String, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("server.log"))
        .unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--log-format", "text"]);
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("LABLEDGER_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("LABLEDGER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("LABLEDGER_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .envs(envs.iter().copied());
    if let Some(url) = database_url {
        cmd.env("LABLEDGER_DATABASE_URL", url);
    }
    let mut child = cmd.spawn().expect("start labledger serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut org_id = String::new();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("server exited before listening; log:\n{log}");
        };
        if let Some(rest) = line.strip_prefix("First start: created organization ") {
            org_id = rest
                .split('(')
                .nth(1)
                .unwrap()
                .split(')')
                .next()
                .unwrap()
                .to_owned();
        }
        if let Some(rest) = line.strip_prefix("LabLedger listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base, org_id)
}

impl TestServer {
    /// Kills the server with SIGKILL (no shutdown of any kind), then starts it again on the same
    /// data. Its base URL changes.
    pub fn crash_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let (child, base, _) = start(self.data_dir.path(), self.database_url.as_deref(), &[], &[]);
        self.child = child;
        self.base = base;
    }

    /// Another `serve` process on the same database and data dir (a second node), with its
    /// own flags and environment; stopped when dropped.
    pub fn second_node(&self, extra: &[&str], envs: &[(&str, &str)]) -> Node {
        let (child, base, _) = start(
            self.data_dir.path(),
            self.database_url.as_deref(),
            extra,
            envs,
        );
        Node { child, base }
    }

    /// The server's process id (e.g. to read its peak memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.base).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn org_path(&self, org: &str, rest: &str) -> String {
        format!("/api/v1/orgs/{org}{rest}")
    }

    /// The CLI against this server's database.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.env_remove("LABLEDGER_DATABASE_URL")
            .env_remove("LABLEDGER_OWNER_PASSWORD");
        if let Some(url) = &self.database_url {
            cmd.env("LABLEDGER_DATABASE_URL", url);
        }
        cmd
    }

    pub fn data_dir_arg(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.path().join("labledger.db")
    }

    /// A raw connection to the server's database, for tamper tests.
    pub async fn raw_db(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let url = match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.sqlite_path().display()),
        };
        sqlx::AnyConnection::connect(&url).await.unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let client = Client::builder().cookie_store(true).build().unwrap();
        let res = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login as {email}");
        let body: Value = res.json().await.unwrap();
        Session {
            client,
            base: self.base.clone(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            user_id: body["id"].as_str().unwrap().to_owned(),
            me: body,
        }
    }

    pub async fn owner(&self) -> Session {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A second org, "Other Lab", and its owner logged in: the usual party of a tenancy probe.
    pub async fn other_org(&self) -> (String, Session) {
        let (email, password) = ("boss@other.example", "other lab owner password");
        let org = self.create_org("Other Lab", email, password);
        (org, self.login(email, password).await)
    }

    /// Creates another org (through the operator CLI) owned by `email`; returns its id.
    pub fn create_org(&self, name: &str, email: &str, password: &str) -> String {
        let out = self
            .cli()
            .args([
                "admin",
                "org",
                "create",
                "--name",
                name,
                "--owner-email",
                email,
                "--data-dir",
            ])
            .arg(self.data_dir.path())
            .env("LABLEDGER_OWNER_PASSWORD", password)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "org create failed: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .split('(')
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .to_owned()
    }
}

/// A further `serve` process beside a [`TestServer`].
pub struct Node {
    child: Child,
    pub base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A logged-in HTTP client (session cookie + CSRF token).
pub struct Session {
    pub client: Client,
    pub base: String,
    pub csrf: String,
    pub user_id: String,
    pub me: Value,
}

impl Session {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{}", self.base, path));
        if method != Method::GET && method != Method::HEAD {
            req = req.header("x-csrf-token", &self.csrf);
        }
        match body {
            // A JSON string stands for a raw body (no JSON route takes a bare string): a file's
            // bytes for an upload, else CSV.
            Some(Value::String(raw)) if path.contains("/files?") => {
                req = req
                    .header("content-type", "application/octet-stream")
                    .body(raw)
            }
            // An .eln import: the archive, hex-encoded.
            Some(Value::String(hex_zip)) if path.contains("/imports/eln") => {
                req = req
                    .header("content-type", "application/vnd.eln+zip")
                    .body(hex::decode(hex_zip).unwrap())
            }
            Some(Value::String(csv)) => req = req.header("content-type", "text/csv").body(csv),
            Some(b) => req = req.json(&b),
            None => {}
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path, None).await
    }

    /// Adds a member with roles and logs them in.
    pub async fn add_member(
        &self,
        server: &TestServer,
        org: &str,
        email: &str,
        roles: &[&str],
    ) -> Session {
        let password = MEMBER_PASSWORD;
        let res = self
            .post(
                &server.org_path(org, "/members"),
                json!({"email": email, "name": email.split('@').next().unwrap(), "roles": roles, "password": password}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "add {email}: {}",
            res.text().await.unwrap()
        );
        server.login(email, password).await
    }
}

/// The number of events in an org's audit chain (via the owner's session).
pub async fn audit_len(owner: &Session, org: &str) -> i64 {
    let v = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit/verify"))
        .await;
    assert_eq!(v["ok"], true, "{v}");
    v["verified_events"].as_i64().unwrap()
}

/// The Prometheus text of `/metrics` of the server (or node) at `base`.
pub async fn metrics_at(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
