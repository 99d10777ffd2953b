//! `admin org move --org ORG --complete --regions FILE`: runs the region move an Owner approved.
//! The org's writes are paused (committed first, in its chain), every object its records refer
//! to is copied as stored (ciphertext; no key is needed) from whichever other region's store
//! holds it into the new region's store and read back there, its SHA-256 and size compared with
//! the source's; only then does the org switch region (in its chain), and then the copies left
//! in other regions' stores are removed (unless `--keep-source`). Interrupted anywhere, running
//! it again carries on: objects already in the target with the source's hash are not copied
//! again, and once the org has switched a run only removes the leftovers.

use crate::regions::RegionMap;
use anyhow::{anyhow, bail};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use labledger_domain::OrgId;
use labledger_store::{Actor, MovePhase, Store};
use labledger_vault::objects::ObjectError;
use labledger_vault::Vault;
use sha2::{Digest, Sha256};

type Body = BoxStream<'static, Result<Bytes, ObjectError>>;

pub async fn complete(
    store: &Store,
    map: &RegionMap,
    org: OrgId,
    keep_source: bool,
    actor: Actor,
) -> anyhow::Result<()> {
    let now = store
        .org_region(org)
        .await?
        .ok_or_else(|| anyhow!("no organization {org}"))?;
    // Objects are copied as stored: the vaults never decrypt, any key will do.
    let key = *labledger_vault::keys::Key::generate().as_bytes();
    match now.phase {
        MovePhase::Requested => bail!(
            "the move of organization {org} to region {} waits for an Owner's approval (the \
             organization's settings, `region`)",
            now.move_to
        ),
        MovePhase::None if now.region.is_empty() => {
            bail!("no region move is pending for organization {org}")
        }
        MovePhase::None => {
            let target = map.store_of(&now.region)?.open(key)?;
            let removed = if keep_source {
                0
            } else {
                remove_elsewhere(store, map, org, &now.region, &target, key).await?
            };
            println!(
                "No move pending: organization {org} lives in region {}; removed {removed} \
                 leftover object(s) from other regions' stores",
                now.region
            );
            return Ok(());
        }
        MovePhase::Approved | MovePhase::Copying => {}
    }
    let to = now.move_to.clone();
    let target = map.store_of(&to)?.open(key)?;
    // The org's current region first: that is where its objects should be.
    let mut sources = Vec::new();
    for (region, spec) in map.iter() {
        if region != to {
            let first = region == now.region;
            let entry = (region.to_owned(), spec.open(key)?);
            if first {
                sources.insert(0, entry);
            } else {
                sources.push(entry);
            }
        }
    }
    store.start_region_move(org, actor.clone()).await?;
    let phase = if now.phase == MovePhase::Approved {
        "started"
    } else {
        "resumed"
    };
    security_event(phase, org, &now.region, &to, 0);
    println!("Moving organization {org} to region {to}: its writes are paused until it is done");
    // Listed after the pause committed: no object is recorded any more until the switch.
    let paths = store.org_object_paths(org).await?;
    let (mut copied, mut present) = (0u64, 0u64);
    for (n, path) in paths.iter().enumerate() {
        if copy_verified(path, &sources, &target).await? {
            copied += 1;
        } else {
            present += 1;
        }
        if (n + 1) % 100 == 0 {
            eprintln!("{}/{} objects", n + 1, paths.len());
        }
    }
    store
        .finish_region_move(org, paths.len() as u64, actor)
        .await?;
    security_event("completed", org, &now.region, &to, paths.len() as u64);
    println!(
        "Moved organization {org} to region {to}: {} object(s) verified in {} ({copied} copied, \
         {present} already there); only nodes of region {to} serve it now",
        paths.len(),
        target.description()
    );
    if keep_source {
        println!(
            "Kept the copies in other regions' stores: run this command again without \
             --keep-source to remove them"
        );
    } else {
        let removed = remove_elsewhere(store, map, org, &to, &target, key).await?;
        println!("Removed {removed} object(s) of the organization from other regions' stores");
    }
    Ok(())
}

/// Makes sure `path` is in `target` with the bytes of the source that holds it; true when it
/// was copied (false: it was there already).
async fn copy_verified(
    path: &str,
    sources: &[(String, Vault)],
    target: &Vault,
) -> anyhow::Result<bool> {
    let in_target = match target.read_raw(path).await? {
        Some((_, body)) => Some(digest(body).await?),
        None => None,
    };
    let mut source = None;
    for (region, vault) in sources {
        if let Some((_, body)) = vault.read_raw(path).await? {
            source = Some((region, vault, digest(body).await?));
            break;
        }
    }
    let Some((region, vault, expected)) = source else {
        return match in_target {
            // Only the target holds it (moved by an earlier run): nothing to compare with.
            Some(_) => Ok(false),
            None => bail!(
                "object {path} of the organization is in no region's object store: the move \
                 stops here (writes stay paused); restore the object, then run this again"
            ),
        };
    };
    if in_target == Some(expected) {
        return Ok(false);
    }
    let (_, body) = vault
        .read_raw(path)
        .await?
        .ok_or_else(|| anyhow!("object {path} vanished from region {region}'s store"))?;
    target.write_raw(path, body).await?;
    let (_, copy) = target
        .read_raw(path)
        .await?
        .ok_or_else(|| anyhow!("object {path} is not in the target store after copying it"))?;
    if digest(copy).await? != expected {
        bail!(
            "object {path}: the copy in {} differs from region {region}'s; the move stops here \
             (writes stay paused)",
            target.description()
        );
    }
    Ok(true)
}

/// Removes the org's objects from every store but `region`'s, each only once `target` holds it.
async fn remove_elsewhere(
    store: &Store,
    map: &RegionMap,
    org: OrgId,
    region: &str,
    target: &Vault,
    key: [u8; 32],
) -> anyhow::Result<u64> {
    let paths = store.org_object_paths(org).await?;
    let mut removed = 0;
    for (name, spec) in map.iter() {
        if name == region || map.store_of(region)? == spec {
            continue;
        }
        let other = spec.open(key)?;
        for path in &paths {
            if other.read_raw(path).await?.is_some() && target.read_raw(path).await?.is_some() {
                other.delete(path).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// SHA-256 and length of a stored object's bytes.
async fn digest(mut body: Body) -> anyhow::Result<([u8; 32], u64)> {
    let mut sha = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        sha.update(&chunk);
    }
    Ok((sha.finalize().into(), size))
}

fn security_event(phase: &str, org: OrgId, from: &str, to: &str, objects: u64) {
    tracing::info!(
        target: "security",
        event = "region_move",
        phase,
        org = %org,
        from_region = from,
        to_region = to,
        objects,
        "region move {phase}"
    );
}
