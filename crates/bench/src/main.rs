//! `labledger-bench`: LabLedger's performance benchmarks (DESIGN.md, "Performance targets").
//!
//! Subcommands (each run is meant to stay well under a minute on the 2-core machine):
//!
//! - `append --engine sqlite|postgres [--url URL] [--sync full|normal] --seconds N --concurrency C
//!   [--roles R] [--orgs K] [--op role|sample]`: audited writes through the store (`update_role` or
//!   a one-sample `register_samples`, one event per transaction) from C concurrent tasks; events/s and per-call latency.
//! - `raw-sqlite --seconds N [--sync full|normal] [--per-tx K] [--shape insert|audit]
//!   [--driver sqlx|rusqlite]`: baselines on SQLite WAL with no store in between.
//! - `verify --events N [--data-dir DIR] [--cli PATH] [--pg on]`: fills one org's chain through the
//!   store, then times `verify_audit_as_operator` and the real `labledger audit verify` beside a
//!   bare row scan and `openssl dgst -sha256` of the hashed bytes; `--pg on` repeats it on a
//!   throwaway PostgreSQL cluster holding a copy of the chain.
//! - `idle-rss [--cli PATH] [--starts N]`: resident memory of an idle `labledger serve`.
//! - `login-storm [--cli PATH] [--seconds N] [--storm C] [--readers R]`: p99 of authenticated
//!   reads alone and during C concurrent password logins, and the server's peak memory.
//! - `http-register` / `sample-search`: audited sample registration and paged sample search over
//!   HTTP against a real server on loopback (see samples_http.rs).
//!
//! Without `--url`, `--engine postgres` starts a throwaway PostgreSQL cluster with default
//! (durable) settings: fsync on, synchronous_commit on.

mod append;
mod args;
mod ingest;
mod pg;
mod raw;
mod rss;
mod samples_http;
mod server;
mod stats;
mod storm;
mod verify;

use anyhow::{bail, Context};
use std::path::PathBuf;

const USAGE: &str = "usage: labledger-bench <command> [--flag value ...]
  append      --engine sqlite|postgres [--url URL] [--sync full|normal] [--seconds 10] [--warmup 1]
              [--concurrency 1] [--roles C] [--orgs 1] [--op role|sample] [--pg-port 54400]
  raw-sqlite  [--seconds 10] [--sync full|normal] [--per-tx 1] [--shape insert|audit]
              [--driver sqlx|rusqlite]
  verify      [--events 1000000] [--data-dir DIR] [--fill-concurrency 256] [--fill-roles 4]
              [--cli PATH] [--runs 3] [--pg on] [--pg-port 54402]
  idle-rss    [--cli PATH] [--starts 3] [--settle 2]
  login-storm [--cli PATH] [--seconds 8] [--storm 200] [--readers 4]
  http-register [--engine sqlite|postgres] [--url URL] [--seconds 10] [--warmup 2] [--concurrency 64]
  sample-search [--engine sqlite|postgres] [--url URL] [--samples 1000000] [--seconds 10] [--concurrency 4]

  ingest      [--mib 1024] [--runs 3] [--dir DIR]";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        bail!("{USAGE}")
    };
    if command == "-h" || command == "--help" {
        println!("{USAGE}");
        return Ok(());
    }
    let flags = args::Flags::parse(argv)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async move {
        match command.as_str() {
            "append" => append::run(&flags).await,
            "raw-sqlite" => raw::run(&flags).await,
            "verify" => verify::run(&flags).await,
            "idle-rss" => rss::run(&flags).await,
            "login-storm" => storm::run(&flags).await,
            "http-register" => samples_http::register(&flags).await,
            "sample-search" => samples_http::search(&flags).await,
            "ingest" => ingest::run(&flags).await,
            other => bail!("unknown command `{other}`\n{USAGE}"),
        }
    })
}

/// The `labledger` binary: `--cli PATH`, else the one built next to this benchmark.
pub(crate) fn cli_path(flags: &args::Flags) -> anyhow::Result<PathBuf> {
    let path = match flags.get("cli") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?.with_file_name("labledger"),
    };
    if !path.is_file() {
        bail!("no labledger binary at {} (build it with `cargo build --release -p labledger`, or pass --cli)", path.display());
    }
    Ok(path)
}
