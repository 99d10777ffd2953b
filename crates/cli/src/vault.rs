//! `labledger vault sweep`: removes objects no record refers to (left by a crash between
//! writing an object and committing its record) and partial uploads, older than a grace period.

use crate::config::DatabaseArgs;
use crate::regions::ObjectStoreSpec;
use anyhow::Context;
use labledger_store::StoreOptions;
use labledger_vault::Vault;

#[derive(clap::Subcommand)]
pub enum VaultCommand {
    /// Remove objects of the object store that no record of any org refers to, and partial
    /// uploads, last modified more than `--older-than-hours` ago. Prints each one.
    Sweep(SweepArgs),
}

#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    objects: ObjectStoreArgs,
    /// Only objects last modified more than this many hours ago (an upload in flight is younger).
    #[arg(long, default_value_t = 24)]
    older_than_hours: u64,
    /// Only print what would be removed.
    #[arg(long)]
    dry_run: bool,
}

/// Where evidence objects are stored (shared by `serve` and `vault sweep`).
#[derive(clap::Args, Debug, Clone)]
pub struct ObjectStoreArgs {
    /// Where evidence objects are stored: unset for `DATA_DIR/objects` (local directory), a
    /// directory, or an S3-compatible bucket `s3://bucket[/prefix]` (credentials and region
    /// from the standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` variables).
    #[arg(long, env = "LABLEDGER_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// The S3 endpoint for a non-AWS S3-compatible server (e.g. `http://127.0.0.1:9000`).
    #[arg(long, env = "LABLEDGER_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
}

impl ObjectStoreArgs {
    /// The store these flags name: `DATA_DIR/objects` unless `--object-store` names a bucket
    /// or a directory.
    pub fn spec(&self, data_dir: &std::path::Path) -> anyhow::Result<ObjectStoreSpec> {
        match &self.object_store {
            Some(raw) => {
                ObjectStoreSpec::parse(raw, self.s3_endpoint.as_deref(), std::path::Path::new("."))
                    .context("--object-store")
            }
            None => {
                crate::config::ensure_private_dir(data_dir)?;
                ObjectStoreSpec::parse("objects", None, data_dir)
            }
        }
    }
}

/// The evidence vault: `DATA_DIR/objects` unless an S3 bucket or a directory is configured.
pub fn open_vault(
    data_dir: &std::path::Path,
    objects: &ObjectStoreArgs,
    master_key: [u8; 32],
) -> anyhow::Result<Vault> {
    let vault = objects.spec(data_dir)?.open(master_key)?;
    tracing::info!(store = vault.description(), "evidence vault");
    Ok(vault)
}

pub async fn run(command: VaultCommand) -> anyhow::Result<u8> {
    let VaultCommand::Sweep(args) = command;
    crate::serve::init_logging(
        "text",
        "info,sqlx=warn",
        labledger_server::security_log::SecuritySink::None,
    );
    let store = args.db.open(StoreOptions::default()).await?;
    // The sweep never decrypts: any key will do for listing and removing.
    let key = *labledger_vault::keys::Key::generate().as_bytes();
    let vault = open_vault(&args.db.data_dir, &args.objects, key)?;
    let grace = std::time::Duration::from_secs(args.older_than_hours.saturating_mul(3600));
    let report = labledger_server::sweep::sweep_orphans(&store, &vault, grace, args.dry_run)
        .await
        .map_err(anyhow::Error::msg)?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for c in &report.removed {
        let age = std::time::SystemTime::now()
            .duration_since(c.last_modified)
            .unwrap_or_default()
            .as_secs()
            / 3600;
        let what = if c.partial {
            "partial upload"
        } else {
            "unreferenced object"
        };
        println!(
            "{verb} {what} {} ({} bytes, last modified {age} h ago)",
            c.path, c.size
        );
    }
    println!(
        "{} {verb}, {} referenced kept, {} failed ({}; objects younger than {} h not considered)",
        report.removed.len(),
        report.referenced,
        report.failed,
        vault.description(),
        args.older_than_hours
    );
    Ok(u8::from(report.failed > 0))
}
