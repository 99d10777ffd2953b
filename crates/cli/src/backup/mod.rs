//! `labledger backup create | verify | restore | prune`: encrypted backups and the restore
//! drill. The archive format is in [`archive`]; the database snapshot is the store's
//! (`labledger_store::DumpItem`, `Loader`).
//!
//! Exit codes: 0 done / passed; 1 a check failed (damaged archive, broken chain); 2 the command
//! cannot start (no backup key, a wrong key, not a backup, no LabLedger where one is needed, a
//! restore target that holds data).

mod archive;
mod create;
mod manifest;
mod progress;
mod prune;
mod restore;
pub mod schedule;

// For `serve`'s scheduled backups.
pub use create::{archive_name, create_backup};
pub use prune::{apply_retention, Keep};

use crate::config::{DatabaseArgs, MasterKeyArgs, MASTER_KEY_FILE};
use crate::vault::{open_vault, ObjectStoreArgs};
use anyhow::Context;
use archive::{ArchiveError, ArchiveReader};
use labledger_store::{BackupDrill, StoreOptions};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum BackupCommand {
    /// Write an encrypted backup of the database and the object store to `--out` (works while
    /// `serve` runs: a consistent snapshot).
    Create(CreateArgs),
    /// The restore drill: restore the archive into a temporary place, check every entry's
    /// SHA-256 against the manifest and every org's audit chain. Exits 0 (pass), 1 (fail) or 2
    /// (a wrong key, not a backup). Given the live instance (`--data-dir` / `--database-url`),
    /// records the outcome there.
    Verify(VerifyArgs),
    /// Restore an archive into an empty data directory or database (also across engines), then
    /// verify its chains.
    Restore(RestoreArgs),
    /// Delete old archives of a directory by a retention rule (`--keep 7d,4w,12m`).
    Prune(PruneArgs),
}

/// The backup key: 32 bytes as 64 hex characters, separate from the master key.
#[derive(clap::Args, Clone, Debug)]
pub struct BackupKeyArgs {
    /// The backup key as 64 hexadecimal characters (prefer the environment or the file).
    #[arg(long, env = "LABLEDGER_BACKUP_KEY", hide_env_values = true)]
    pub backup_key: Option<String>,
    /// A file holding the backup key as 64 hexadecimal characters.
    #[arg(long, env = "LABLEDGER_BACKUP_KEY_FILE")]
    pub backup_key_file: Option<PathBuf>,
}

/// No usable backup key: nothing can start (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoBackupKey(String);

impl BackupKeyArgs {
    pub fn load(&self) -> anyhow::Result<[u8; 32]> {
        let (text, source) = if let Some(hex) = &self.backup_key {
            (hex.clone(), "LABLEDGER_BACKUP_KEY".to_owned())
        } else if let Some(file) = &self.backup_key_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| NoBackupKey(format!("reading {}: {e}", file.display())))?;
            (text, file.display().to_string())
        } else {
            return Err(NoBackupKey(
                "no backup key: set LABLEDGER_BACKUP_KEY_FILE (a file holding 64 hex characters) \
                 or LABLEDGER_BACKUP_KEY; keep it apart from the master key"
                    .into(),
            )
            .into());
        };
        labledger_auth::parse_master_key_hex(&text)
            .map_err(|e| NoBackupKey(format!("{source}: {e}")).into())
    }
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The archive to write (through FILE.partial, renamed when complete; mode 0600).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    objects: ObjectStoreArgs,
    #[command(flatten)]
    key: BackupKeyArgs,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The archive.
    file: PathBuf,
    /// The live instance's data directory, to record the drill there (optional).
    #[arg(long, env = "LABLEDGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The live instance's PostgreSQL URL, to record the drill there (optional).
    #[arg(long, env = "LABLEDGER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    #[command(flatten)]
    key: BackupKeyArgs,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The archive.
    file: PathBuf,
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    objects: ObjectStoreArgs,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    #[command(flatten)]
    key: BackupKeyArgs,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// The directory of archives named `labledger-YYYYMMDDTHHMMSSZ.llbk`.
    #[arg(long)]
    backup_dir: PathBuf,
    /// Keep the newest archive per day, ISO week and month for this many of each.
    #[arg(long, default_value = "7d,4w,12m")]
    keep: prune::Keep,
    /// Only list what would be removed.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(command: BackupCommand) -> anyhow::Result<u8> {
    let result = match command {
        BackupCommand::Create(args) => create(args).await,
        BackupCommand::Verify(args) => verify(args).await,
        BackupCommand::Restore(args) => restore(args).await,
        BackupCommand::Prune(args) => {
            prune::prune(&args.backup_dir, args.keep, args.dry_run).map(|()| 0)
        }
    };
    result.or_else(|e| {
        eprintln!("error: {e:#}");
        Ok(exit_code(&e))
    })
}

/// 2 for what keeps a command from starting, 1 for a failed check or any other failure.
fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(a) = cause.downcast_ref::<ArchiveError>() {
            return match a {
                ArchiveError::Damaged(_) => 1,
                _ => 2,
            };
        }
        if cause.is::<NoBackupKey>() || cause.is::<restore::TargetNotEmpty>() {
            return 2;
        }
        if let Some(labledger_store::StoreError::NoLabLedger(_)) = cause.downcast_ref() {
            return 2;
        }
    }
    1
}

async fn create(args: CreateArgs) -> anyhow::Result<u8> {
    let key = args.key.load()?;
    let store = args.db.open(StoreOptions::default()).await?;
    // Objects are copied as stored (ciphertext): no key is needed to read them.
    let vault = open_vault(
        &args.db.data_dir,
        &args.objects,
        *labledger_vault::keys::Key::generate().as_bytes(),
    )?;
    let mut progress = progress::Progress::new("backup");
    let summary =
        create::create_backup_with(&store, &vault, &key, &args.out, &mut progress).await?;
    println!("{summary}");
    Ok(0)
}

/// The drill's verdict on an archive that opened.
struct Drill {
    passed: bool,
    detail: String,
}

async fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let key = args.key.load()?;
    let live = (args.data_dir.is_some() || args.database_url.is_some()).then(|| DatabaseArgs {
        data_dir: args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data")),
        database_url: args.database_url.clone(),
        database_url_file: None,
    });
    // Recording needs a LabLedger there: refuse a wrong place before doing anything.
    if let Some(db) = &live {
        db.require_labledger().await?;
    }
    let master = load_master(
        &args.master_key,
        live.as_ref().map(|d| d.data_dir.as_path()),
    )?;
    let started = std::time::Instant::now();
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let outcome = drill(&args.file, &key, master.as_ref()).await;
    let (code, passed, detail) = match &outcome {
        Ok(d) => (u8::from(!d.passed), d.passed, d.detail.clone()),
        Err(e) => (exit_code(e), false, format!("{e:#}")),
    };
    if let Err(e) = &outcome {
        eprintln!("error: {e:#}");
    }
    println!(
        "verdict: {} — {}",
        if passed { "PASS" } else { "FAIL" },
        detail
    );
    if let Some(db) = live {
        // The recorded drill also goes to the security stream (`LABLEDGER_SECURITY_LOG`).
        let store = db.open(StoreOptions::default()).await?;
        let archive = args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        store
            .record_backup_drill(BackupDrill {
                at: labledger_domain::Timestamp::now(),
                archive: archive.clone(),
                archive_size: size,
                passed,
                detail: detail.clone(),
                duration_ms,
            })
            .await
            .context("recording the drill")?;
        tracing::info!(target: "security", kind = "backup_drill", archive, passed, duration_ms, "restore drill recorded");
        println!("drill recorded in the live instance");
    }
    Ok(code)
}

/// Restores into a temporary SQLite database and object directory, then checks.
async fn drill(file: &Path, key: &[u8; 32], master: Option<&[u8; 32]>) -> anyhow::Result<Drill> {
    let tmp = tempfile::tempdir().context("making a temporary directory")?;
    let mut reader = ArchiveReader::open(file, key).await?;
    let url = labledger_store::sqlite_url_for_data_dir(tmp.path());
    let vault = labledger_vault::Vault::local(&tmp.path().join("objects"), [0u8; 32])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut progress = progress::Progress::new("verify");
    let restored = restore::restore_into(&mut reader, &url, &vault, &mut progress).await?;
    let chains = restore::check_chains(&url, master, &restored.manifest.heads).await?;
    for line in &chains.lines {
        println!("{line}");
    }
    println!(
        "archive {}: {} entries match the manifest ({} tables, {} rows, {} objects of {} bytes)",
        file.display(),
        restored.manifest.entries,
        restored.tables,
        restored.rows,
        restored.objects,
        restored.object_bytes
    );
    let seals = if chains.sealed {
        "links, heads and seals"
    } else {
        "links and heads; without the master key the seals are not checked"
    };
    Ok(if chains.broken == 0 {
        Drill {
            passed: true,
            detail: format!(
                "{} entries match the manifest; {} org chain(s) intact ({seals}), equal to the manifest's heads",
                restored.manifest.entries, chains.orgs
            ),
        }
    } else {
        Drill {
            passed: false,
            detail: format!("{} of {} org chain(s) BROKEN", chains.broken, chains.orgs),
        }
    })
}

/// The master key if one is configured or the data dir holds one (never made here).
fn load_master(args: &MasterKeyArgs, data_dir: Option<&Path>) -> anyhow::Result<Option<[u8; 32]>> {
    let configured = args.master_key.is_some() || args.master_key_file.is_some();
    match data_dir {
        _ if configured => Ok(Some(args.load(Path::new(".")).context("the master key")?)),
        Some(dir) if dir.join(MASTER_KEY_FILE).is_file() => {
            Ok(Some(args.load_existing(dir).context("the master key")?))
        }
        _ => Ok(None),
    }
}

async fn restore(args: RestoreArgs) -> anyhow::Result<u8> {
    let key = args.key.load()?;
    let mut reader = ArchiveReader::open(&args.file, &key).await?;
    let url = args.db.url()?;
    let sqlite_dir = args.db.database_url.is_none() && args.db.database_url_file.is_none();
    let db_file = args.db.data_dir.join("labledger.db");
    let existed = db_file.exists();
    // The database first: a target that holds data is refused before anything is made.
    restore::check_target_database(&url).await?;
    if sqlite_dir {
        crate::config::ensure_private_dir(&args.db.data_dir)?;
    }
    // The object store never decrypts here: a restore copies ciphertext.
    let vault = open_vault(&args.db.data_dir, &args.objects, [0u8; 32])?;
    restore::check_target(&url, &vault).await?;
    let mut progress = progress::Progress::new("restore");
    let restored = match restore::restore_into(&mut reader, &url, &vault, &mut progress).await {
        Ok(r) => r,
        Err(e) => {
            // A database file this restore created goes again: the target is as it was.
            if sqlite_dir && !existed {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", db_file.display()));
                }
            }
            return Err(e);
        }
    };
    println!(
        "restored {} tables ({} rows) and {} objects ({} bytes) from {} (taken {} on {}, schema {})",
        restored.tables,
        restored.rows,
        restored.objects,
        restored.object_bytes,
        args.file.display(),
        restored.manifest.created_at,
        restored.manifest.engine,
        restored.manifest.schema_version
    );
    let master = load_master(
        &args.master_key,
        sqlite_dir.then_some(args.db.data_dir.as_path()),
    )?;
    let chains = restore::check_chains(&url, master.as_ref(), &restored.manifest.heads).await?;
    for line in &chains.lines {
        println!("{line}");
    }
    if master.is_none() {
        println!(
            "note: the master key is not in the archive: give `serve` the instance's master key \
             (LABLEDGER_MASTER_KEY_FILE, or put it at {}/{MASTER_KEY_FILE}) before starting it",
            args.db.data_dir.display()
        );
    }
    if chains.broken == 0 {
        println!(
            "verdict: restored; all {} organization chain(s) intact and equal to the manifest",
            chains.orgs
        );
        Ok(0)
    } else {
        println!(
            "verdict: restored, but {} of {} organization chain(s) BROKEN",
            chains.broken, chains.orgs
        );
        Ok(1)
    }
}
