//! MFA in the web UI, driven through a real headless Chromium (the harness of ui_browser.rs):
//! enrol by reading the secret from the page, log in with a pyotp code, and the enforcement page.
//!
//! Chromium and chromedriver come from Debian (`apt-get install chromium chromium-driver`);
//! `$CHROMIUM` and `$CHROMEDRIVER` override their paths. Without them the browser tests fail,
//! unless `LABLEDGER_SKIP_BROWSER=1` says to skip them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A chromedriver process and a browser session on it; both end when dropped or closed.
struct Browser {
    client: Client,
    driver: Child,
    driver_url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a headless Chromium session; `None` only when the browser is missing
/// and `LABLEDGER_SKIP_BROWSER=1`.
async fn browser() -> Option<Browser> {
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    if !chromium.exists() || !chromedriver.exists() {
        let message = format!(
            "browser tests need Chromium ({}) and chromedriver ({}): apt-get install -y chromium chromium-driver",
            chromium.display(),
            chromedriver.display()
        );
        if std::env::var("LABLEDGER_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("skipped (LABLEDGER_SKIP_BROWSER=1): {message}");
            return None;
        }
        panic!("{message}; or set LABLEDGER_SKIP_BROWSER=1 to skip them");
    }
    let port = free_port();
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let driver_url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let browser = Browser {
        client: connect(&driver_url, caps).await,
        driver,
        driver_url,
        _profile: profile,
    };
    browser.client.set_window_size(1280, 1000).await.unwrap();
    Some(browser)
}

async fn connect(driver_url: &str, caps: serde_json::Map<String, Value>) -> Client {
    let mut last = None;
    for _ in 0..3 {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(driver_url)
            .await
        {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("cannot open a browser session: {last:?}");
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits until the page's path is `path`.
    async fn wait_path(&self, path: &str) {
        let started = Instant::now();
        loop {
            if self.path().await == path {
                return;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let page = self.client.source().await.unwrap_or_default();
                panic!(
                    "expected {path}, still at {}; the page:\n{page}",
                    self.path().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn login(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#login-email", email).await;
        self.fill("#login-password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// The browser console since the last call (chromedriver's log endpoint).
    async fn console(&self) -> Vec<Value> {
        let session = self.client.session_id().await.unwrap().unwrap();
        let http = reqwest::Client::new();
        for path in ["se/log", "log"] {
            let res = http
                .post(format!("{}/session/{session}/{path}", self.driver_url))
                .json(&json!({"type": "browser"}))
                .send()
                .await
                .unwrap();
            if res.status().is_success() {
                let body: Value = res.json().await.unwrap();
                return body["value"].as_array().cloned().unwrap_or_default();
            }
        }
        panic!("chromedriver offers no browser log endpoint");
    }

    /// Fails on any Content-Security-Policy violation the console reported.
    async fn assert_no_csp_violations(&self) {
        let entries = self.console().await;
        let violations: Vec<&Value> = entries
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))
            })
            .collect();
        assert!(
            violations.is_empty(),
            "CSP violations in the console: {violations:#?}"
        );
        for e in &entries {
            if e["level"] == "SEVERE" {
                eprintln!("console error: {}", e["message"]);
            }
        }
    }

    async fn assert_script_ran(&self) {
        let flag = self
            .client
            .execute(
                "return document.documentElement.dataset.js || null;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            flag,
            json!("on"),
            "app.js did not run (blocked by the CSP, or not loaded)"
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code pyotp (an independent RFC 6238 implementation) computes for `secret` at `at`.
fn pyotp(secret: &str, at: Option<u64>) -> String {
    let script = match at {
        None => "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())".to_owned(),
        Some(t) => format!("import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at({t}))"),
    };
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret])
        .output()
        .expect("python3 with pyotp (pip install pyotp)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A moment well inside a 30-second step (codes of the steps around it stay valid ~25 s).
fn settled_now() -> u64 {
    let now = unix_now();
    if now % 30 > 22 {
        std::thread::sleep(Duration::from_secs(31 - now % 30));
    }
    unix_now()
}

#[tokio::test]
async fn enrol_from_the_page_log_in_with_pyotp_and_meet_the_enforcement_page() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let member_password = "members own long password";
    owner
        .add_member(&server, &org, "ada@lab.example", &["Scientist"])
        .await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();

    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("#nav-security").await;
    b.wait_path("/security").await;
    assert!(b.text("#mfa-state").await.contains("off"));
    b.assert_script_ran().await;
    b.click("#mfa-enrol").await;
    let secret = b.text("#totp-secret").await.trim().to_owned();
    assert_eq!(secret.len(), 32, "{secret}");
    let qr = b.find("#totp-qr").await.attr("src").await.unwrap().unwrap();
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    // The QR image loaded (the CSP allows data: images).
    let width = b
        .client
        .execute(
            "return document.getElementById('totp-qr').naturalWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(width.as_u64().unwrap() > 0, "the QR code did not render");

    let t = settled_now();
    b.fill("#totp-code", &pyotp(&secret, Some(t - 30))).await;
    b.click("#mfa-confirm").await;
    b.find("#recovery-codes").await;
    assert_eq!(b.count("#recovery-codes li").await, 10);
    assert!(b.text("#mfa-state").await.contains("on"));
    b.assert_no_csp_violations().await;

    // Log out; the password alone no longer logs in; password + pyotp's code does.
    b.click(".logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    let error = b.text(".flash-error").await;
    assert!(error.contains("authenticator"), "{error}");
    assert_eq!(b.path().await, "/login");
    b.fill("#login-email", common::ADMIN_EMAIL).await;
    b.fill("#login-password", common::ADMIN_PASSWORD).await;
    b.fill("#login-totp", &pyotp(&secret, None)).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_path(&format!("/orgs/{org}")).await;

    // The org now requires MFA (set over the API with the next step's code).
    let owner = {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = client
            .post(server.url("/api/v1/auth/login"))
            .json(
                &json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD,
                "totp_code": pyotp(&secret, Some(t + 30))}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let me: Value = res.json().await.unwrap();
        common::Session {
            client,
            base: base.clone(),
            csrf: me["csrf_token"].as_str().unwrap().to_owned(),
            user_id: me["id"].as_str().unwrap().to_owned(),
            me,
        }
    };
    let res = owner
        .patch(
            &server.org_path(&org, "/settings"),
            json!({"require_mfa": true}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    // A member without MFA lands on the enrolment page, whatever org page they ask for.
    b.click(".logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, "ada@lab.example", member_password).await;
    b.wait_path("/security").await;
    let notice = b.text("#mfa-required").await;
    assert!(notice.contains("requires"), "{notice}");
    b.goto(&format!("{base}/orgs/{org}/members")).await;
    b.wait_path("/security").await;
    b.find("#mfa-enrol").await;
    b.assert_no_csp_violations().await;
    let _ = b.client.clone().close().await;
}
