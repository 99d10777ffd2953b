//! Reading an uploaded `.eln` (a zip in a temporary file) defensively: one root folder, no entry
//! outside it (`../`, absolute paths), no symlinks, no unnamed entries, at most
//! [`Limits::max_entries`] entries; each entry decompressed into a temporary file of its own,
//! counted as it comes (a header that lies about its size is caught), the total expanded size
//! and each entry's compression ratio bounded (a zip bomb stops at the limit, never in memory).
//! Blocking: run it on a blocking thread.

use labledger_domain::eln_crate::entry_path;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};

/// The limits of one import (documented in the README).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The archive as uploaded.
    pub max_archive: u64,
    /// All entries decompressed, together.
    pub max_expanded: u64,
    /// Decompressed / compressed, per entry larger than [`RATIO_FLOOR`].
    pub max_ratio: u64,
    pub max_entries: usize,
    /// `ro-crate-metadata.json`, decompressed.
    pub max_metadata: u64,
}

/// Entries smaller than this may compress as well as they like (a page of zeros is not a bomb).
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_archive: 256 << 20,
            max_expanded: 1 << 30,
            max_ratio: 100,
            max_entries: 10_000,
            max_metadata: 32 << 20,
        }
    }
}

/// Why an archive is refused; each maps to its own status.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a zip, or a zip whose layout is hostile (400).
    #[error("{0}")]
    Malformed(String),
    /// Over a size, ratio or count limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// A readable zip whose crate is not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    #[error("reading the archive: {0}")]
    Io(#[from] std::io::Error),
}

fn malformed(m: impl Into<String>) -> ArchiveError {
    ArchiveError::Malformed(m.into())
}

/// An opened archive: the root folder and every file entry by its path below it.
pub struct Opened<R: Read + Seek> {
    zip: zip::ZipArchive<R>,
    pub root: String,
    /// Path below the root (normalised) → entry index.
    pub files: HashMap<String, usize>,
    limits: Limits,
    expanded: u64,
}

/// An entry decompressed into a temporary file (rewound), with its SHA-256 and size.
pub struct Extracted {
    pub file: File,
    pub sha256: [u8; 32],
    pub size: u64,
}

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Opens and checks the archive's layout (nothing decompressed yet).
pub fn open<R: Read + Seek>(reader: R, limits: Limits) -> Result<Opened<R>, ArchiveError> {
    let mut zip = zip::ZipArchive::new(reader)
        .map_err(|e| malformed(format!("the body is not a zip archive (.eln): {e}")))?;
    if zip.len() > limits.max_entries {
        return Err(ArchiveError::TooLarge(format!(
            "the archive has {} entries; an import takes at most {}",
            zip.len(),
            limits.max_entries
        )));
    }
    let mut root: Option<String> = None;
    let mut files = HashMap::new();
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| malformed(format!("entry {}: {e}", i + 1)))?;
        let raw = String::from_utf8(entry.name_raw().to_vec())
            .map_err(|_| malformed(format!("entry {}: its name is not UTF-8", i + 1)))?;
        if raw.trim().is_empty() {
            return Err(malformed(format!("entry {} has no name", i + 1)));
        }
        if entry.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK) {
            return Err(malformed(format!(
                "the archive entry {raw:?} is a symbolic link; an .eln holds files only"
            )));
        }
        let path = entry_path(&raw).map_err(|e| malformed(e.0))?;
        let (first, rest) = match path.split_once('/') {
            Some((f, r)) => (f.to_owned(), r.to_owned()),
            None if entry.is_dir() => (path.clone(), String::new()),
            None => {
                return Err(malformed(format!(
                    "the archive entry {raw:?} is outside the root folder"
                )))
            }
        };
        match &root {
            None => root = Some(first),
            Some(r) if *r == first => {}
            Some(r) => {
                return Err(malformed(format!(
                    "the archive has more than one root folder ({r:?} and {first:?})"
                )))
            }
        }
        if entry.is_dir() {
            continue;
        }
        if rest.is_empty() {
            return Err(malformed(format!("entry {} has no file name", i + 1)));
        }
        declared = declared.saturating_add(entry.size());
        if files.insert(rest.clone(), i).is_some() {
            return Err(malformed(format!("the archive holds {rest:?} twice")));
        }
    }
    let root = root.ok_or_else(|| malformed("the archive is empty"))?;
    if declared > limits.max_expanded {
        return Err(ArchiveError::TooLarge(format!(
            "the archive expands to {declared} bytes; an import takes at most {}",
            limits.max_expanded
        )));
    }
    Ok(Opened {
        zip,
        root,
        files,
        limits,
        expanded: 0,
    })
}

impl<R: Read + Seek> Opened<R> {
    /// Decompresses the file at `path` (below the root) into a temporary file, within `max`
    /// bytes and the archive's limits.
    pub fn extract(&mut self, path: &str, max: u64) -> Result<Extracted, ArchiveError> {
        let index = *self
            .files
            .get(path)
            .ok_or_else(|| ArchiveError::Invalid(format!("the archive has no file {path:?}")))?;
        let mut entry = self
            .zip
            .by_index(index)
            .map_err(|e| malformed(format!("{path}: {e}")))?;
        let compressed = entry.compressed_size().max(1);
        let budget = max.min(self.limits.max_expanded.saturating_sub(self.expanded));
        let mut out = tempfile::tempfile()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(malformed(format!("{path}: does not decompress: {e}"))),
            };
            size += n as u64;
            if size > budget {
                return Err(ArchiveError::TooLarge(format!(
                    "{path} expands past the import's limit of {} bytes",
                    budget.min(self.limits.max_expanded)
                )));
            }
            if size > RATIO_FLOOR && size / compressed > self.limits.max_ratio {
                return Err(ArchiveError::TooLarge(format!(
                    "{path} expands more than {}× its compressed size (a zip bomb?)",
                    self.limits.max_ratio
                )));
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            out.write_all(chunk)?;
        }
        self.expanded += size;
        out.rewind()?;
        Ok(Extracted {
            file: out,
            sha256: hasher.finalize().into(),
            size,
        })
    }

    /// The crate's `ro-crate-metadata.json`, parsed.
    pub fn metadata(&mut self) -> Result<(Vec<u8>, serde_json::Value), ArchiveError> {
        if !self.files.contains_key("ro-crate-metadata.json") {
            return Err(ArchiveError::Invalid(format!(
                "the root folder {:?} has no ro-crate-metadata.json: not an .eln",
                self.root
            )));
        }
        let max = self.limits.max_metadata;
        let mut x = self.extract("ro-crate-metadata.json", max)?;
        let mut bytes = Vec::new();
        x.file.read_to_end(&mut bytes)?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ArchiveError::Invalid(format!("ro-crate-metadata.json is not valid JSON: {e}"))
        })?;
        Ok((bytes, value))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn hostile_layouts_are_refused() {
        for entries in [
            vec![("../x/ro-crate-metadata.json", b"{}".as_slice())],
            vec![("/abs/ro-crate-metadata.json", b"{}".as_slice())],
            vec![("a/ro-crate-metadata.json", b"{}".as_slice()), ("b/c", b"")],
            vec![("top.txt", b"".as_slice())],
        ] {
            let z = zip_of(&entries);
            assert!(
                open(Cursor::new(z), Limits::default()).is_err(),
                "{entries:?}"
            );
        }
        assert!(open(Cursor::new(b"not a zip".to_vec()), Limits::default()).is_err());
    }

    #[test]
    fn random_bytes_and_mangled_zips_never_panic() {
        // A bounded property test: deterministic pseudo-random inputs, every outcome an Err or
        // an archive whose every entry extracts within the limits.
        let good = zip_of(&[
            ("r/ro-crate-metadata.json", b"{\"@graph\": []}".as_slice()),
            ("r/a.txt", &[7u8; 5000]),
        ]);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let limits = Limits {
            max_expanded: 10_000,
            ..Limits::default()
        };
        for round in 0..3000 {
            let mut bytes = if round % 3 == 0 {
                (0..(next() % 400))
                    .map(|_| next() as u8)
                    .collect::<Vec<_>>()
            } else {
                good.clone()
            };
            for _ in 0..(1 + next() % 8) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if let Ok(mut opened) = open(Cursor::new(bytes), limits) {
                let paths: Vec<String> = opened.files.keys().cloned().collect();
                for p in paths {
                    let _ = opened.extract(&p, 10_000);
                }
                let _ = opened.metadata();
            }
        }
    }
}
