//! A real `labledger serve` for the HTTP benchmarks: started on a loopback port over a fresh data
//! directory (SQLite) or a given database URL, with a known first owner, and logged in.

// JSON answers are read with serde_json's `value["key"]`, which yields Null rather than panicking.
#![allow(clippy::indexing_slicing)]

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

pub(crate) const EMAIL: &str = "bench@lab.example";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) struct Server {
    child: tokio::process::Child,
    pub(crate) pid: u32,
    pub(crate) base: String,
    _data: tempfile::TempDir,
}

/// A logged-in session: a cookie-holding client and its CSRF token.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) client: reqwest::Client,
    pub(crate) csrf: String,
    pub(crate) org: String,
}

impl Server {
    /// `database_url`: `None` for the embedded SQLite default.
    pub(crate) async fn start(cli: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
        let data = tempfile::Builder::new().prefix("labbench-srv.").tempdir()?;
        let mut cmd = tokio::process::Command::new(cli);
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data.path())
        .env("LABLEDGER_ADMIN_EMAIL", EMAIL)
        .env("LABLEDGER_ADMIN_PASSWORD", PASSWORD)
        .env("LABLEDGER_LOG", "warn")
        .env_remove("LABLEDGER_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
        if let Some(url) = database_url {
            cmd.env("LABLEDGER_DATABASE_URL", url);
        }
        let mut child = cmd.spawn().context("starting labledger serve")?;
        let pid = child.id().context("the server exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let base = loop {
            let Some(line) = lines.next_line().await? else {
                bail!("the server exited before listening")
            };
            if let Some(rest) = line.strip_prefix("LabLedger listening on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            base,
            _data: data,
        })
    }

    /// Logs the first owner in; the session's org is their first one.
    pub(crate) async fn login(&self) -> anyhow::Result<Session> {
        let client = reqwest::Client::builder().cookie_store(true).build()?;
        let res = client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("login failed: {}", res.status());
        }
        let body: Value = res.json().await?;
        let csrf = body["csrf_token"]
            .as_str()
            .context("no csrf_token")?
            .to_owned();
        let org = body["memberships"][0]["org_id"]
            .as_str()
            .with_context(|| format!("no membership in the login answer: {body}"))?
            .to_owned();
        Ok(Session { client, csrf, org })
    }

    /// Peak resident memory of the server process so far (`VmHWM`).
    pub(crate) fn peak_rss(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| "?".into())
    }

    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}
