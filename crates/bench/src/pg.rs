//! A throwaway PostgreSQL cluster with default, durable settings (fsync on, synchronous_commit
//! on, full_page_writes on): unlike the test helper `scripts/pg-throwaway.sh`, nothing is
//! relaxed, because benchmark figures must be for acknowledged-durable writes.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub(crate) url: String,
}

fn pg_bin() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (/usr/lib/postgresql)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no initdb under /usr/lib/postgresql/*/bin"),
    }
}

fn as_postgres(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("runuser")
        .arg("-u")
        .arg("postgres")
        .arg("--")
        .arg(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Cluster {
    /// initdb + pg_ctl start on 127.0.0.1:`port`, then a `labbench` database.
    pub(crate) fn start(port: u16) -> anyhow::Result<Cluster> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("labbench-pg.").tempdir()?;
        let root = dir
            .path()
            .to_str()
            .context("temp dir is not UTF-8")?
            .to_owned();
        let status = Command::new("chown")
            .args(["postgres:postgres", &root])
            .status()?;
        if !status.success() {
            bail!("chown postgres {root} failed (run as root, with the postgres user present)");
        }
        let data = format!("{root}/data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )?;
        let opts = format!("-p {port} -k {root} -c listen_addresses=127.0.0.1");
        let log = format!("{root}/server.log");
        as_postgres(
            &bin.join("pg_ctl"),
            &[
                "-D", &data, "-l", &log, "-w", "-t", "30", "-o", &opts, "start",
            ],
        )?;
        let cluster = Cluster {
            bin,
            dir,
            url: format!("postgres://postgres@127.0.0.1:{port}/labbench"),
        };
        as_postgres(
            &cluster.bin.join("createdb"),
            &["-h", "127.0.0.1", "-p", &port.to_string(), "labbench"],
        )?;
        Ok(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if let Some(data) = data.to_str() {
            if let Err(e) = as_postgres(
                &self.bin.join("pg_ctl"),
                &["-D", data, "-m", "fast", "-w", "stop"],
            ) {
                eprintln!("warning: stopping the PostgreSQL cluster: {e:#}");
            }
        }
    }
}

/// The durability settings of the server behind `url`, printed with every PostgreSQL figure.
pub(crate) async fn durability(url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let (version, fsync, sync_commit, fpw): (String, String, String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'), \
         current_setting('synchronous_commit'), current_setting('full_page_writes')",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(format!("PostgreSQL {version}: fsync={fsync} synchronous_commit={sync_commit} full_page_writes={fpw}"))
}
