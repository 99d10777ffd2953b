//! `labledger export verify FILE`: checks a signed `.eln` export offline. Every entry's SHA-256
//! and size against `manifest.json`, the manifest's Ed25519 signature (`manifest.sig`) with the
//! embedded key (`manifest.pub`) or a given one (which must equal the embedded one), and the
//! `sha256` of every File in `ro-crate-metadata.json` against the manifest.

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

#[derive(Deserialize)]
struct Manifest {
    format: String,
    root: String,
    signature: ManifestSignature,
    entries: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestSignature {
    algorithm: String,
    public_key: String,
}

#[derive(Deserialize)]
struct ManifestEntry {
    path: String,
    sha256: String,
    size: u64,
}

/// What a passing check found.
pub struct Summary {
    pub entries: usize,
    pub bytes: u64,
    pub public_key: String,
    pub root: String,
}

fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| anyhow!("entry {name}: {e}"))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)
        .map_err(|e| anyhow!("entry {name}: {e}"))?;
    Ok(out)
}

fn key_bytes(hex_key: &str) -> Result<[u8; 32]> {
    let raw = hex::decode(hex_key.trim()).context("the public key is not hex")?;
    raw.try_into()
        .map_err(|_| anyhow!("the public key is not 32 bytes"))
}

pub fn verify(file: &Path, expected_key: Option<&str>) -> Result<Summary> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| anyhow!("not a readable zip archive: {e}"))?;
    // The top folder: the one holding manifest.json.
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    let manifest_name = names
        .iter()
        .find(|n| n.matches('/').count() == 1 && n.ends_with("/manifest.json"))
        .cloned()
        .ok_or_else(|| anyhow!("manifest.json: missing"))?;
    let root = manifest_name
        .strip_suffix("/manifest.json")
        .unwrap_or_default()
        .to_owned();
    let manifest_bytes = read_entry(&mut zip, &manifest_name)?;
    let sig_bytes = read_entry(&mut zip, &format!("{root}/manifest.sig"))?;
    let embedded = String::from_utf8(read_entry(&mut zip, &format!("{root}/manifest.pub"))?)
        .map_err(|_| anyhow!("manifest.pub: not text"))?;
    let embedded = key_bytes(&embedded).context("manifest.pub")?;
    if let Some(given) = expected_key {
        let given = key_bytes(given).context("--public-key")?;
        if given != embedded {
            bail!("manifest.pub: the archive's public key is not the given one");
        }
    }
    let key = VerifyingKey::from_bytes(&embedded)
        .map_err(|e| anyhow!("manifest.pub: not an Ed25519 key: {e}"))?;
    let sig: [u8; 64] = sig_bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("manifest.sig: not a 64-byte signature"))?;
    key.verify_strict(&manifest_bytes, &Signature::from_bytes(&sig))
        .map_err(|_| anyhow!("manifest.json: the signature does not verify"))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| anyhow!("manifest.json: not a manifest: {e}"))?;
    if manifest.format != "labledger-export-manifest/1" || manifest.signature.algorithm != "Ed25519"
    {
        bail!("manifest.json: unknown format {}", manifest.format);
    }
    if manifest.root != root {
        bail!(
            "manifest.json: names another top folder ({})",
            manifest.root
        );
    }
    if key_bytes(&manifest.signature.public_key)? != embedded {
        bail!("manifest.json: signed for another public key than manifest.pub");
    }
    // Every archive entry is listed (or is one of the three manifest files), and every listed
    // entry is present with its hash and size.
    let listed: BTreeMap<String, &ManifestEntry> = manifest
        .entries
        .iter()
        .map(|e| (format!("{root}/{}", e.path), e))
        .collect();
    let own = [
        manifest_name.clone(),
        format!("{root}/manifest.sig"),
        format!("{root}/manifest.pub"),
    ];
    for name in &names {
        if name.ends_with('/') || own.contains(name) {
            continue;
        }
        if !listed.contains_key(name) {
            bail!("{name}: not in the manifest");
        }
    }
    let mut bytes = 0u64;
    for e in &manifest.entries {
        let name = format!("{root}/{}", e.path);
        let mut entry = zip
            .by_name(&name)
            .map_err(|err| anyhow!("{}: {err}", e.path))?;
        let mut hasher = Sha256::new();
        let n = std::io::copy(&mut entry, &mut hasher)
            .map_err(|err| anyhow!("{}: unreadable: {err}", e.path))?;
        if n != e.size {
            bail!("{}: {n} bytes, the manifest says {}", e.path, e.size);
        }
        let got = hex::encode(hasher.finalize());
        if got != e.sha256 {
            bail!("{}: SHA-256 {got}, the manifest says {}", e.path, e.sha256);
        }
        bytes += n;
    }
    // ro-crate-metadata.json agrees with the manifest.
    let by_path: BTreeMap<&str, &str> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    if !by_path.contains_key("ro-crate-metadata.json") {
        bail!("ro-crate-metadata.json: not in the manifest");
    }
    let crate_bytes = read_entry(&mut zip, &format!("{root}/ro-crate-metadata.json"))?;
    let crate_json: serde_json::Value = serde_json::from_slice(&crate_bytes)
        .map_err(|e| anyhow!("ro-crate-metadata.json: not JSON: {e}"))?;
    let graph = crate_json
        .get("@graph")
        .and_then(|g| g.as_array())
        .ok_or_else(|| anyhow!("ro-crate-metadata.json: no @graph"))?;
    for node in graph {
        let (Some(id), Some(sha)) = (
            node.get("@id").and_then(|v| v.as_str()),
            node.get("sha256").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let path = id.strip_prefix("./").unwrap_or(id);
        match by_path.get(path) {
            Some(m) if *m == sha => {}
            Some(m) => {
                bail!("ro-crate-metadata.json: {path} has sha256 {sha}, the manifest says {m}")
            }
            None => bail!("ro-crate-metadata.json: {path} is not in the manifest"),
        }
    }
    Ok(Summary {
        entries: manifest.entries.len(),
        bytes,
        public_key: hex::encode(embedded),
        root,
    })
}
