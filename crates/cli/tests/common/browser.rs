//! The browser harness of the UI tests: a chromedriver process and a headless Chromium session
//! driven through WebDriver (fantoccini), with helpers to find, fill and click, and checks that
//! the page ran its script without Content-Security-Policy violations.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process and a browser session on it; both end when dropped or closed.
pub struct Browser {
    pub client: Client,
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

pub fn tool(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a headless Chromium session; `None` only when the browser is missing
/// and `LABLEDGER_SKIP_BROWSER=1`.
pub async fn browser() -> Option<Browser> {
    // rustls has both providers enabled in this build (see crates/cli/Cargo.toml): pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

pub async fn connect(driver_url: &str, caps: serde_json::Map<String, Value>) -> Client {
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
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    /// Waits (up to 10 s) until the element's text contains `needle`, tolerating the page
    /// changing under it (a click's navigation may still be on its way).
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if t.contains(needle) {
                        return t;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{css}` never showed `{needle}`"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_path(&self, path: &str) {
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

    pub async fn login(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#login-email", email).await;
        self.fill("#login-password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// The browser console since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<Value> {
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
    pub async fn assert_no_csp_violations(&self) {
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

    pub async fn assert_script_ran(&self) {
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
