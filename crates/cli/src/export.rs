//! `labledger export verify FILE`: checks a signed `.eln` export offline. The zip must be the
//! canonical one (read strictly, every byte accounted for: see `labledger_domain::eln_zip`),
//! its entries exactly the manifest's, in order, then the three manifest files. Every entry's SHA-256
//! and size against `manifest.json`, the manifest's Ed25519 signature (`manifest.sig`) with the
//! embedded key (`manifest.pub`) or a given one (which must equal the embedded one), and the
//! `sha256` of every File in `ro-crate-metadata.json` against the manifest.

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::{Signature, VerifyingKey};
use labledger_domain::eln_zip;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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

fn key_bytes(hex_key: &str) -> Result<[u8; 32]> {
    let raw = hex::decode(hex_key.trim()).context("the public key is not hex")?;
    raw.try_into()
        .map_err(|_| anyhow!("the public key is not 32 bytes"))
}

/// Entries kept in memory while reading (the manifest files and the RO-Crate metadata), at
/// most this large.
const MAX_KEPT: u64 = 256 << 20;

/// What the strict pass over the zip found for one entry.
struct Read {
    name: String,
    size: u64,
    sha256: String,
    data: Option<Vec<u8>>,
}

/// Reads the whole file once, front to back, through the strict canonical-zip reader: every
/// byte is a canonical header, entry content (hashed here), the canonical central directory or
/// end record; nothing else is accepted.
fn read_strict(file: &Path) -> Result<Vec<Read>> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut zip = eln_zip::StrictReader::new(std::io::BufReader::with_capacity(1 << 20, f));
    let mut out = Vec::new();
    let keep = |name: &str| {
        name.matches('/').count() == 1
            && [
                "/manifest.json",
                "/manifest.sig",
                "/manifest.pub",
                "/ro-crate-metadata.json",
            ]
            .iter()
            .any(|s| name.ends_with(s))
    };
    loop {
        let entry = zip
            .next_entry()
            .map_err(|e| anyhow!("not a canonical LabLedger export zip: {e}"))?;
        let Some(entry) = entry else { break };
        let mut hasher = Sha256::new();
        let mut data = (keep(&entry.name) && entry.size <= MAX_KEPT).then(Vec::new);
        zip.read_data(|chunk| {
            hasher.update(chunk);
            if let Some(d) = data.as_mut() {
                d.extend_from_slice(chunk);
            }
        })
        .map_err(|e| anyhow!("not a canonical LabLedger export zip: {e}"))?;
        out.push(Read {
            name: entry.name,
            size: entry.size,
            sha256: hex::encode(hasher.finalize()),
            data,
        });
    }
    Ok(out)
}

fn kept<'a>(entries: &'a [Read], name: &str) -> Result<&'a [u8]> {
    entries
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.data.as_deref())
        .ok_or_else(|| anyhow!("{name}: missing"))
}

pub fn verify(file: &Path, expected_key: Option<&str>) -> Result<Summary> {
    let entries = read_strict(file)?;
    // The last three entries are the manifest, its signature and its key, in that order.
    let [.., m, s, p] = entries.as_slice() else {
        bail!("manifest.json: missing (fewer than three entries)");
    };
    let root = m
        .name
        .strip_suffix("/manifest.json")
        .filter(|r| !r.contains('/'))
        .ok_or_else(|| anyhow!("manifest.json: missing (the last three entries must be manifest.json, manifest.sig, manifest.pub)"))?
        .to_owned();
    if s.name != format!("{root}/manifest.sig") || p.name != format!("{root}/manifest.pub") {
        bail!("manifest.sig, manifest.pub: not where they belong (after manifest.json)");
    }
    let manifest_bytes = kept(&entries, &m.name)?;
    let sig_bytes = kept(&entries, &s.name)?;
    let pub_text = kept(&entries, &p.name)?;
    let embedded =
        key_bytes(std::str::from_utf8(pub_text).map_err(|_| anyhow!("manifest.pub: not text"))?)
            .context("manifest.pub")?;
    // Exactly the lowercase hex the exporter writes: no other spelling of the same key.
    if pub_text != hex::encode(embedded).as_bytes() {
        bail!("manifest.pub: not the key in lowercase hex");
    }
    if let Some(given) = expected_key {
        let given = key_bytes(given).context("--public-key")?;
        if given != embedded {
            bail!("manifest.pub: the archive's public key is not the given one");
        }
    }
    let key = VerifyingKey::from_bytes(&embedded)
        .map_err(|e| anyhow!("manifest.pub: not an Ed25519 key: {e}"))?;
    let sig: [u8; 64] = sig_bytes
        .try_into()
        .map_err(|_| anyhow!("manifest.sig: not a 64-byte signature"))?;
    key.verify_strict(manifest_bytes, &Signature::from_bytes(&sig))
        .map_err(|_| anyhow!("manifest.json: the signature does not verify"))?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
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
    // The archive holds exactly the manifest's entries, in its order, each with its size and
    // SHA-256, then the three manifest files.
    let content = entries.get(..entries.len() - 3).unwrap_or_default();
    if content.len() != manifest.entries.len() {
        bail!(
            "the archive holds {} entries besides the manifest files, the manifest lists {}",
            content.len(),
            manifest.entries.len()
        );
    }
    let mut bytes = 0u64;
    for (got, e) in content.iter().zip(&manifest.entries) {
        let name = format!("{root}/{}", e.path);
        if got.name != name {
            bail!("{}: the manifest lists {} here", got.name, e.path);
        }
        if got.size != e.size {
            bail!(
                "{}: {} bytes, the manifest says {}",
                e.path,
                got.size,
                e.size
            );
        }
        if got.sha256 != e.sha256 {
            bail!(
                "{}: SHA-256 {}, the manifest says {}",
                e.path,
                got.sha256,
                e.sha256
            );
        }
        bytes += got.size;
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
    let crate_bytes = kept(&entries, &format!("{root}/ro-crate-metadata.json"))?;
    let crate_json: serde_json::Value = serde_json::from_slice(crate_bytes)
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
