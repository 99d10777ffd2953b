//! Restoring an archive into an empty target (a database URL and an object store), shared by
//! `backup restore` and the restore drill (`backup verify`), and checking what was restored.

use super::archive::{ArchiveError, ArchiveReader, EntryRecord, Next, Spool};
use super::manifest::{HeadRecord, Manifest, SnapshotEntry, MANIFEST, SNAPSHOT};
use super::progress::Progress;
use anyhow::Context;
use bytes::Bytes;
use futures::SinkExt;
use labledger_store::{Loader, Store, StoreError, StoreOptions, Verification};
use labledger_vault::Vault;

/// The target already holds data: nothing was changed (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetNotEmpty(pub String);

/// What a restore loaded.
pub struct Restored {
    pub manifest: Manifest,
    pub rows: u64,
    pub tables: u64,
    pub objects: u64,
    pub object_bytes: u64,
}

/// Refuses a target database that holds anything; changes nothing.
pub async fn check_target_database(url: &str) -> anyhow::Result<()> {
    match Loader::check_empty(url).await {
        Err(StoreError::Conflict(msg)) => Err(TargetNotEmpty(msg).into()),
        other => other.context("inspecting the target database"),
    }
}

/// Refuses a target whose database or object store holds anything; changes nothing.
pub async fn check_target(url: &str, vault: &Vault) -> anyhow::Result<()> {
    check_target_database(url).await?;
    if !vault
        .is_empty()
        .await
        .context("listing the target object store")?
    {
        return Err(TargetNotEmpty(format!(
            "the target object store ({}) already holds objects: a backup is restored only into \
             an empty one",
            vault.description()
        ))
        .into());
    }
    Ok(())
}

/// Restores `reader`'s archive into the target (checked empty with [`check_target`]): the rows
/// in one transaction committed only once the manifest matched every entry, the objects as
/// they come (removed again if anything fails).
pub async fn restore_into(
    reader: &mut ArchiveReader,
    url: &str,
    vault: &Vault,
    progress: &mut Progress,
) -> anyhow::Result<Restored> {
    let snapshot = match reader.next_entry().await? {
        Next::Entry(name) if name == SNAPSHOT => {
            let bytes = reader.read_entry(64 * 1024).await?;
            serde_json::from_slice::<SnapshotEntry>(&bytes)
                .map_err(|e| ArchiveError::Damaged(format!("{SNAPSHOT}: {e}")))?
        }
        _ => {
            return Err(ArchiveError::Damaged(format!("it does not begin with {SNAPSHOT}")).into())
        }
    };
    let mut loader = match Loader::open(url, snapshot.schema_version).await {
        Ok(l) => l,
        Err(StoreError::Refused(msg)) => {
            return Err(ArchiveError::Damaged(msg)).context("the backup's schema")
        }
        Err(e) => return Err(e).context("preparing the target database"),
    };
    match load(reader, &mut loader, vault, progress).await {
        Ok((manifest, tables, objects, object_bytes)) => {
            let rows = loader.rows();
            loader
                .finish()
                .await
                .context("committing the restored rows")?;
            Ok(Restored {
                manifest,
                rows,
                tables,
                objects,
                object_bytes,
            })
        }
        Err(e) => {
            loader.abort().await;
            if let Err(clean) = vault.remove_everything().await {
                eprintln!("warning: removing the objects restored so far failed: {clean}");
            }
            Err(e)
        }
    }
}

async fn load(
    reader: &mut ArchiveReader,
    loader: &mut Loader,
    vault: &Vault,
    progress: &mut Progress,
) -> anyhow::Result<(Manifest, u64, u64, u64)> {
    let (mut tables, mut objects, mut object_bytes) = (0, 0, 0);
    loop {
        let name = match reader.next_entry().await? {
            Next::Entry(name) => name,
            Next::End => {
                return Err(ArchiveError::Damaged(format!("it has no {MANIFEST}")).into());
            }
        };
        if let Some(table) = name.strip_prefix("table/") {
            tables += 1;
            if NOT_RESTORED.contains(&table) {
                // Read (the manifest covers its bytes) but not loaded.
                while reader.next_chunk().await?.is_some() {}
                continue;
            }
            loader.begin_table(table).await.map_err(damaged)?;
            while let Some(chunk) = reader.next_chunk().await? {
                loader.feed(&chunk).await.map_err(damaged)?;
                progress.tick(reader.spool.count(), loader.rows());
            }
            loader.end_table().await.map_err(damaged)?;
        } else if let Some(path) = name.strip_prefix("object/") {
            if !is_object_path(path) {
                return Err(ArchiveError::Damaged(format!("object name {path}")).into());
            }
            object_bytes += copy_object(reader, vault, path).await?;
            objects += 1;
            progress.tick(reader.spool.count(), object_bytes);
        } else if name == MANIFEST {
            let manifest = check_manifest(reader).await?;
            match reader.next_entry().await? {
                Next::End => return Ok((manifest, tables, objects, object_bytes)),
                Next::Entry(_) => {
                    return Err(ArchiveError::Damaged(format!("entries after {MANIFEST}")).into())
                }
            }
        } else {
            return Err(ArchiveError::Damaged(format!("unknown entry {name}")).into());
        }
    }
}

/// Tables whose rows a restore leaves out: a login session live when the backup was taken
/// must not come back to life on the restored instance (everyone signs in again). API tokens
/// are restored: integrations keep working, and a token revoked after the backup was taken is
/// live again — revoke it again (SECURITY.md).
const NOT_RESTORED: &[&str] = &["sessions"];

/// A row that does not load is damage of the archive (its bytes were authenticated, so this is
/// an archive made wrong, or for another schema).
fn damaged(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Corrupt(msg) => ArchiveError::Damaged(msg).into(),
        other => anyhow::Error::from(other).context("loading the restored rows"),
    }
}

/// `ORG/NAME` as the vault names objects: hex digits and dashes, nothing that could leave the
/// object store's root.
fn is_object_path(path: &str) -> bool {
    let Some((org, name)) = path.split_once('/') else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok(org) && ok(name)
}

async fn copy_object(reader: &mut ArchiveReader, vault: &Vault, path: &str) -> anyhow::Result<u64> {
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, String>>(2);
    let (target, name) = (vault.clone(), path.to_owned());
    let writer = tokio::spawn(async move { target.write_raw(&name, rx).await });
    let mut read_error = None;
    while let Some(chunk) = match reader.next_chunk().await {
        Ok(c) => c,
        Err(e) => {
            read_error = Some(e);
            None
        }
    } {
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            break;
        }
    }
    if let Some(e) = read_error {
        let _ = tx.send(Err("the archive is damaged".into())).await;
        drop(tx);
        let _ = writer.await;
        return Err(e);
    }
    drop(tx);
    writer
        .await
        .context("the object writer stopped")?
        .with_context(|| format!("writing object {path}"))
}

/// Reads the manifest and compares each of its entry lines with what was read.
async fn check_manifest(reader: &mut ArchiveReader) -> anyhow::Result<Manifest> {
    let spool = std::mem::replace(&mut reader.spool, Spool::new()?);
    let read_count = spool.count();
    let mut expected = spool.records()?;
    let mut manifest: Option<Manifest> = None;
    let mut partial: Vec<u8> = Vec::new();
    let mut listed = 0u64;
    let bad = |what: String| anyhow::Error::from(ArchiveError::Damaged(what));
    while let Some(chunk) = reader.next_chunk().await? {
        partial.extend_from_slice(&chunk);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let line = line.get(..end).unwrap_or_default();
            if manifest.is_none() {
                manifest = Some(
                    serde_json::from_slice(line).map_err(|e| bad(format!("{MANIFEST}: {e}")))?,
                );
                continue;
            }
            let listed_entry: EntryRecord =
                serde_json::from_slice(line).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
            listed += 1;
            let matches = match expected.next() {
                Some(read) => read? == listed_entry,
                None => false,
            };
            if !matches {
                return Err(bad(format!(
                    "entry {} does not match its SHA-256 and size in the manifest",
                    listed_entry.name
                )));
            }
        }
    }
    let manifest = manifest.ok_or_else(|| bad(format!("{MANIFEST} is empty")))?;
    if !partial.is_empty() || expected.next().is_some() || listed != read_count {
        return Err(bad(format!(
            "the manifest lists {listed} entries, the archive holds {read_count}"
        )));
    }
    if manifest.entries != read_count {
        return Err(bad(format!(
            "the manifest counts {} entries, the archive holds {read_count}",
            manifest.entries
        )));
    }
    Ok(manifest)
}

/// What checking the restored chains found: a line per org, and how many were broken.
pub struct ChainReport {
    pub lines: Vec<String>,
    pub broken: usize,
    pub orgs: usize,
    /// The head seals were checked (the master key was given).
    pub sealed: bool,
}

/// Verifies every org's chain in the restored database (links and head; the head's seal too
/// when `master` is given) and compares each head with the manifest's.
pub async fn check_chains(
    url: &str,
    master: Option<&[u8; 32]>,
    heads: &[HeadRecord],
) -> anyhow::Result<ChainReport> {
    let mut options = StoreOptions {
        existing_only: true,
        ..StoreOptions::default()
    };
    if let Some(master) = master {
        options = crate::config::sealed_options(options, master);
    }
    let store = Store::open(url, options)
        .await
        .context("opening the restored database")?;
    let orgs = store.list_orgs().await?;
    let mut report = ChainReport {
        lines: Vec::new(),
        broken: 0,
        orgs: orgs.len(),
        sealed: master.is_some(),
    };
    for org in &orgs {
        let id = org.id.to_string();
        if !heads.iter().any(|h| h.org_id == id) {
            report.broken += 1;
            report.lines.push(format!(
                "org {id}: BROKEN: its chain head is not in the manifest"
            ));
        }
    }
    for head in heads {
        let id: labledger_domain::OrgId = head
            .org_id
            .parse()
            .map_err(|_| ArchiveError::Damaged(format!("org id {}", head.org_id)))?;
        let line = match store.verify_audit_links(id).await {
            Ok(Verification::Intact { events, head_hash }) => {
                if events == head.seq && hex::encode(head_hash) == head.hash {
                    format!(
                        "org {id}: intact, {events} events, chain head {} equal to the manifest's",
                        head.hash
                    )
                } else {
                    report.broken += 1;
                    format!(
                        "org {id}: BROKEN: restored head {events}/{} differs from the manifest's {}/{}",
                        hex::encode(head_hash),
                        head.seq,
                        head.hash
                    )
                }
            }
            Ok(Verification::Broken(b)) => {
                report.broken += 1;
                format!("org {id}: BROKEN at sequence number {}: {b}", b.seq())
            }
            Err(StoreError::NotFound) => {
                report.broken += 1;
                format!("org {id}: BROKEN: no chain head restored")
            }
            Err(e) => return Err(e).context("verifying a restored chain"),
        };
        report.lines.push(line);
    }
    Ok(report)
}
