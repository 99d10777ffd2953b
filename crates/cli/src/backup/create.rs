//! `backup create`: a consistent snapshot of the database and the objects it refers to, in one
//! encrypted archive, written while `serve` runs.

use super::archive::ArchiveWriter;
use super::manifest::{HeadRecord, Manifest, SnapshotEntry, MANIFEST, SNAPSHOT};
use super::progress::Progress;
use anyhow::Context;
use futures::StreamExt;
use labledger_domain::Timestamp;
use labledger_store::{DumpItem, Store};
use labledger_vault::Vault;
use std::path::{Path, PathBuf};

/// What a backup wrote.
#[derive(Clone, Debug)]
pub struct BackupSummary {
    pub path: PathBuf,
    /// The archive's size in bytes.
    pub bytes: u64,
    pub tables: u64,
    pub objects: u64,
    pub object_bytes: u64,
    /// Objects the snapshot refers to that were gone when copied (deleted after the snapshot).
    pub missing_objects: u64,
    pub orgs: usize,
    pub schema_version: i64,
    pub duration: std::time::Duration,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup {}: {} bytes, {} tables, {} objects ({} bytes), {} org chain heads, schema {} in {:.1?}",
            self.path.display(),
            self.bytes,
            self.tables,
            self.objects,
            self.object_bytes,
            self.orgs,
            self.schema_version,
            self.duration
        )?;
        if self.missing_objects > 0 {
            write!(f, " ({} objects deleted meanwhile)", self.missing_objects)?;
        }
        Ok(())
    }
}

/// Writes a backup of `store` and the objects of `vault` to `out` (through `out.partial`, mode
/// 0600, renamed when complete). For `serve`'s scheduled backups: quiet.
pub async fn create_backup(
    store: &Store,
    vault: &Vault,
    backup_key: &[u8; 32],
    out: &Path,
) -> anyhow::Result<BackupSummary> {
    create_backup_with(store, vault, backup_key, out, &mut Progress::quiet()).await
}

/// The name of a backup file made at `at`, as `backup prune` reads it.
pub fn archive_name(at: Timestamp) -> String {
    super::prune::archive_name(at.micros().div_euclid(1_000_000))
}

pub(crate) async fn create_backup_with(
    store: &Store,
    vault: &Vault,
    backup_key: &[u8; 32],
    out: &Path,
    progress: &mut Progress,
) -> anyhow::Result<BackupSummary> {
    let started = std::time::Instant::now();
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    // A `.partial` left by a run that was killed goes first, whatever it is (a file of other
    // permissions, a symbolic link): the archive is always a new file of mode 0600.
    match tokio::fs::remove_file(&partial).await {
        Ok(()) => eprintln!(
            "removed {}, left by an unfinished backup",
            partial.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("removing the stale {}", partial.display()))
        }
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let file = options
        .open(&partial)
        .await
        .with_context(|| format!("creating {}", partial.display()))?;
    let result = write_archive(store, vault, backup_key, file, progress).await;
    let (bytes, mut summary) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&partial, out)
        .await
        .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    summary.path = out.to_path_buf();
    summary.bytes = bytes;
    summary.duration = started.elapsed();
    Ok(summary)
}

async fn write_archive(
    store: &Store,
    vault: &Vault,
    backup_key: &[u8; 32],
    file: tokio::fs::File,
    progress: &mut Progress,
) -> anyhow::Result<(u64, BackupSummary)> {
    let mut w = ArchiveWriter::new(file, backup_key).await?;
    let created_at = Timestamp::now();
    let mut summary = BackupSummary {
        path: PathBuf::new(),
        bytes: 0,
        tables: 0,
        objects: 0,
        object_bytes: 0,
        missing_objects: 0,
        orgs: 0,
        schema_version: 0,
        duration: Default::default(),
    };
    let mut missing = Vec::new();
    let mut dump = store.dump();
    let info = loop {
        let item = dump
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("the database snapshot ended early"))?
            .context("reading the database snapshot")?;
        match item {
            DumpItem::Begin {
                schema_version,
                engine,
            } => {
                summary.schema_version = schema_version;
                w.begin_entry(SNAPSHOT).await?;
                let entry = SnapshotEntry {
                    format: super::archive::FORMAT_VERSION,
                    labledger: env!("CARGO_PKG_VERSION").to_owned(),
                    created_at: created_at.to_rfc3339(),
                    engine: engine.name().to_owned(),
                    schema_version,
                };
                w.write(&serde_json::to_vec(&entry)?).await?;
            }
            DumpItem::Table(name) => {
                summary.tables += 1;
                w.begin_entry(&format!("table/{name}")).await?;
            }
            DumpItem::Rows(bytes) => {
                w.write(&bytes).await?;
                progress.tick(w.spool.count(), w.written());
            }
            DumpItem::Object(path) => {
                w.end_entry().await?;
                let Some((_, mut body)) = vault
                    .read_raw(&path)
                    .await
                    .with_context(|| format!("reading object {path}"))?
                else {
                    // Deleted after the snapshot (its record's deletion committed meanwhile).
                    summary.missing_objects += 1;
                    if missing.len() < 1000 {
                        missing.push(path);
                    }
                    continue;
                };
                w.begin_entry(&format!("object/{path}")).await?;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.with_context(|| format!("reading object {path}"))?;
                    summary.object_bytes += chunk.len() as u64;
                    w.write(&chunk).await?;
                    progress.tick(w.spool.count(), w.written());
                }
                summary.objects += 1;
            }
            DumpItem::End(info) => break info,
        }
    };
    w.end_entry().await?;
    summary.orgs = info.heads.len();
    let manifest = Manifest {
        created_at: created_at.to_rfc3339(),
        engine: info.engine.name().to_owned(),
        schema_version: info.schema_version,
        entries: w.spool.count(),
        heads: info
            .heads
            .iter()
            .map(|h| HeadRecord {
                org_id: h.org_id.clone(),
                seq: h.seq,
                hash: hex::encode(&h.hash),
            })
            .collect(),
        missing_objects: missing,
    };
    // The manifest: its summary line, then one line per entry (from the spool, in order).
    let spool = std::mem::replace(&mut w.spool, super::archive::Spool::new()?);
    w.begin_entry(MANIFEST).await?;
    let mut line = serde_json::to_vec(&manifest)?;
    line.push(b'\n');
    w.write(&line).await?;
    for record in spool.records()? {
        let mut line = serde_json::to_vec(&record?)?;
        line.push(b'\n');
        w.write(&line).await?;
    }
    let bytes = w.finish().await?;
    progress.done(bytes);
    Ok((bytes, summary))
}
