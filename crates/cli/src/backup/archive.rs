//! The backup archive file.
//!
//! ```text
//! header (92 bytes): "LLBACKUP" ‖ format version (u16 BE) ‖ 0u16 ‖ key id (16) ‖ salt (32) ‖ MAC (32)
//!   key id = HMAC-SHA256(backup key, "labledger backup key id")[..16]   (tells a wrong key)
//!   MAC    = HMAC-SHA256(HMAC-SHA256(backup key, "labledger backup v1 header" ‖ salt),
//!                        "LLBACKUP" ‖ version ‖ 0u16 ‖ salt)
//! body: the vault's STREAM format (AES-256-GCM, 64 KiB segments; flips, truncation and
//!   reordering are detected) under HMAC-SHA256(backup key, "labledger backup v1 body" ‖ salt)
//! plaintext of the body: entries, then 'Z'
//!   entry = 'E' ‖ name length (u16 BE) ‖ name ‖ (chunk length (u32 BE) ‖ chunk)* ‖ 0u32
//! ```
//!
//! A fresh salt per archive gives each its own body key. Both directions stream in constant
//! memory: the writer seals as it goes, the reader releases only verified plaintext, and the
//! per-entry records the manifest needs are spooled to an anonymous temporary file.

use hmac::{Hmac, Mac};
use labledger_vault::keys::Key;
use labledger_vault::stream::{Decryptor, Encryptor, DEFAULT_SEGMENT};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Seek, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const MAGIC: &[u8; 8] = b"LLBACKUP";
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 92;
/// Entry chunks are at most this long (a reader refuses longer ones before allocating).
const MAX_CHUNK: usize = 4 * 1024 * 1024;
const READ_BLOCK: usize = 256 * 1024;

/// Why an archive cannot be read: the first two are "not this key / not a backup" (exit 2),
/// damage is a failed check (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0} is not a LabLedger backup archive")]
    NotABackup(String),
    #[error("cannot read {0}")]
    Unreadable(String),
    #[error("the backup key does not open this archive (LABLEDGER_BACKUP_KEY / _FILE)")]
    WrongKey,
    #[error("archive format version {0} is newer than this binary: use a newer LabLedger")]
    Unsupported(u16),
    #[error("the archive is damaged: {0}")]
    Damaged(String),
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn key_id(backup_key: &[u8; 32]) -> [u8; 16] {
    let full = hmac(backup_key, &[b"labledger backup key id"]);
    let mut id = [0u8; 16];
    id.iter_mut().zip(full).for_each(|(d, s)| *d = s);
    id
}

fn body_key(backup_key: &[u8; 32], salt: &[u8]) -> Key {
    Key::from_bytes(hmac(backup_key, &[b"labledger backup v1 body", salt]))
}

fn header_mac(backup_key: &[u8; 32], version: &[u8], reserved: &[u8], salt: &[u8]) -> [u8; 32] {
    let mac_key = hmac(backup_key, &[b"labledger backup v1 header", salt]);
    hmac(&mac_key, &[MAGIC, version, reserved, salt])
}

fn header(backup_key: &[u8; 32], salt: &[u8; 32]) -> Vec<u8> {
    let version = FORMAT_VERSION.to_be_bytes();
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&version);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&key_id(backup_key));
    h.extend_from_slice(salt);
    h.extend_from_slice(&header_mac(backup_key, &version, &[0, 0], salt));
    h
}

/// Checks a header: which of a wrong key, a foreign file or damage it is.
fn open_header(backup_key: &[u8; 32], h: &[u8], what: &str) -> Result<Key, ArchiveError> {
    let field = |a: usize, b: usize| h.get(a..b).unwrap_or_default();
    if h.len() < HEADER_LEN {
        return Err(ArchiveError::NotABackup(what.to_owned()));
    }
    let (magic, version, reserved, id, salt, mac) = (
        field(0, 8),
        field(8, 10),
        field(10, 12),
        field(12, 28),
        field(28, 60),
        field(60, 92),
    );
    let mac_ok = header_mac(backup_key, version, reserved, salt).as_slice() == mac;
    let key_ok = key_id(backup_key).as_slice() == id;
    let magic_ok = magic == MAGIC;
    match (mac_ok, key_ok, magic_ok) {
        (true, true, true) => {
            let v = u16::from_be_bytes(<[u8; 2]>::try_from(version).unwrap_or([0, 0]));
            if v != FORMAT_VERSION {
                return Err(ArchiveError::Unsupported(v));
            }
            Ok(body_key(backup_key, salt))
        }
        // The key is right (its MAC holds, or its id matches): a byte of the header changed.
        (true, _, _) | (false, true, _) => Err(ArchiveError::Damaged(
            "the header does not match its MAC".into(),
        )),
        (false, false, true) => Err(ArchiveError::WrongKey),
        (false, false, false) => Err(ArchiveError::NotABackup(what.to_owned())),
    }
}

/// One entry's record for the manifest.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct EntryRecord {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Entry records kept on disk (an anonymous temporary file) until the manifest is written or
/// checked: memory does not grow with the number of entries.
pub struct Spool {
    file: std::io::BufWriter<std::fs::File>,
    count: u64,
}

impl Spool {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            file: std::io::BufWriter::new(tempfile::tempfile()?),
            count: 0,
        })
    }
    pub fn push(&mut self, record: &EntryRecord) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.file, record)?;
        self.file.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The records back, in order.
    pub fn records(self) -> anyhow::Result<impl Iterator<Item = anyhow::Result<EntryRecord>>> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        Ok(std::io::BufReader::new(file)
            .lines()
            .map(|l| Ok(serde_json::from_str(&l?)?)))
    }
}

/// Writes an archive: entries in, sealed bytes out to the file.
pub struct ArchiveWriter {
    file: tokio::fs::File,
    enc: Encryptor,
    out: Vec<u8>,
    written: u64,
    entry: Option<(String, Sha256, u64)>,
    pub spool: Spool,
}

impl ArchiveWriter {
    pub async fn new(mut file: tokio::fs::File, backup_key: &[u8; 32]) -> anyhow::Result<Self> {
        let mut salt = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let header = header(backup_key, &salt);
        file.write_all(&header).await?;
        let enc = Encryptor::unhashed(&body_key(backup_key, &salt), DEFAULT_SEGMENT)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut out = Vec::with_capacity(2 * READ_BLOCK);
        out.extend_from_slice(&enc.header());
        Ok(Self {
            file,
            enc,
            out,
            written: header.len() as u64,
            entry: None,
            spool: Spool::new()?,
        })
    }

    async fn plain(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.enc
            .update(data, &mut self.out)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if self.out.len() >= READ_BLOCK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.file.write_all(&self.out).await?;
        self.written += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Bytes of the archive so far.
    pub fn written(&self) -> u64 {
        self.written + self.out.len() as u64
    }

    pub async fn begin_entry(&mut self, name: &str) -> anyhow::Result<()> {
        self.end_entry().await?;
        let len = u16::try_from(name.len())?;
        let mut head = Vec::with_capacity(3 + name.len());
        head.push(b'E');
        head.extend_from_slice(&len.to_be_bytes());
        head.extend_from_slice(name.as_bytes());
        self.plain(&head).await?;
        self.entry = Some((name.to_owned(), Sha256::new(), 0));
        Ok(())
    }

    /// The next bytes of the current entry.
    pub async fn write(&mut self, mut data: &[u8]) -> anyhow::Result<()> {
        let Some((_, sha, size)) = self.entry.as_mut() else {
            anyhow::bail!("archive data outside an entry");
        };
        sha.update(data);
        *size += data.len() as u64;
        while !data.is_empty() {
            let (chunk, rest) = data.split_at(data.len().min(MAX_CHUNK));
            data = rest;
            let len = u32::try_from(chunk.len())?;
            self.plain(&len.to_be_bytes()).await?;
            self.plain(chunk).await?;
        }
        Ok(())
    }

    pub async fn end_entry(&mut self) -> anyhow::Result<()> {
        if let Some((name, sha, size)) = self.entry.take() {
            self.plain(&0u32.to_be_bytes()).await?;
            self.spool.push(&EntryRecord {
                name,
                size,
                sha256: hex::encode(sha.finalize()),
            })?;
        }
        Ok(())
    }

    /// Ends the body and flushes the file to disk; answers the archive's size.
    pub async fn finish(mut self) -> anyhow::Result<u64> {
        self.end_entry().await?;
        self.plain(b"Z").await?;
        let ArchiveWriter {
            mut file,
            enc,
            mut out,
            written,
            ..
        } = self;
        enc.finish_unhashed(&mut out)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        file.write_all(&out).await?;
        file.flush().await?;
        file.sync_all().await?;
        Ok(written + out.len() as u64)
    }
}

/// What comes next in an archive.
pub enum Next {
    Entry(String),
    End,
}

/// Reads an archive: verified plaintext only, one entry at a time.
pub struct ArchiveReader {
    file: tokio::fs::File,
    dec: Option<Decryptor>,
    plain: Vec<u8>,
    pos: usize,
    block: Vec<u8>,
    /// The entry being read: name, hash and size so far.
    entry: Option<(String, Sha256, u64)>,
    /// Records of the entries read so far (for the manifest check).
    pub spool: Spool,
}

fn damaged(what: &str) -> anyhow::Error {
    ArchiveError::Damaged(what.to_owned()).into()
}

impl ArchiveReader {
    /// Opens an archive and checks its header against the key.
    pub async fn open(path: &std::path::Path, backup_key: &[u8; 32]) -> anyhow::Result<Self> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ArchiveError::Unreadable(format!("{}: {e}", path.display())))?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        (&mut file)
            .take(HEADER_LEN as u64)
            .read_to_end(&mut header)
            .await?;
        let key = open_header(backup_key, &header, &path.display().to_string())?;
        let dec = Decryptor::unhashed(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            file,
            dec: Some(dec),
            plain: Vec::new(),
            pos: 0,
            block: vec![0u8; READ_BLOCK],
            entry: None,
            spool: Spool::new()?,
        })
    }

    /// Makes at least `need` bytes of plaintext available (fails if the archive ends first).
    async fn fill(&mut self, need: usize) -> anyhow::Result<()> {
        while self.plain.len() - self.pos < need {
            if self.pos > 0 {
                self.plain.drain(..self.pos);
                self.pos = 0;
            }
            let Some(dec) = self.dec.as_mut() else {
                return Err(damaged("it ends in the middle"));
            };
            let n = self.file.read(&mut self.block).await?;
            let got = self.block.get(..n).unwrap_or_default();
            if n == 0 {
                if let Some(dec) = self.dec.take() {
                    dec.finish(&mut self.plain)
                        .map_err(|e| damaged(&format!("{e}")))?;
                }
            } else {
                dec.update(got, &mut self.plain)
                    .map_err(|e| damaged(&format!("{e}")))?;
            }
        }
        Ok(())
    }

    async fn take_array<const N: usize>(&mut self) -> anyhow::Result<[u8; N]> {
        <[u8; N]>::try_from(self.take(N).await?).map_err(|_| damaged("short read"))
    }

    async fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        self.fill(n).await?;
        let start = self.pos;
        self.pos += n;
        self.plain
            .get(start..start + n)
            .ok_or_else(|| damaged("short read"))
    }

    /// The next entry's name, or the end (after which the archive must end too).
    pub async fn next_entry(&mut self) -> anyhow::Result<Next> {
        if self.entry.is_some() {
            anyhow::bail!("the previous entry was not read to its end");
        }
        let tag = *self.take(1).await?.first().unwrap_or(&0);
        match tag {
            b'E' => {
                let len = u16::from_be_bytes(self.take_array().await?) as usize;
                let name = String::from_utf8(self.take(len).await?.to_vec())
                    .map_err(|_| damaged("an entry name is not UTF-8"))?;
                self.entry = Some((name.clone(), Sha256::new(), 0));
                Ok(Next::Entry(name))
            }
            b'Z' => {
                // Nothing may follow the end, and the last segment must be the STREAM's last.
                while let Some(dec) = self.dec.as_mut() {
                    let n = self.file.read(&mut self.block).await?;
                    if n == 0 {
                        if let Some(dec) = self.dec.take() {
                            dec.finish(&mut self.plain)
                                .map_err(|e| damaged(&format!("{e}")))?;
                        }
                    } else {
                        dec.update(self.block.get(..n).unwrap_or_default(), &mut self.plain)
                            .map_err(|e| damaged(&format!("{e}")))?;
                    }
                }
                if self.plain.len() > self.pos {
                    return Err(damaged("data after the end"));
                }
                Ok(Next::End)
            }
            _ => Err(damaged("an entry does not start where it should")),
        }
    }

    /// The next chunk of the current entry (None at its end; the entry is then recorded).
    pub async fn next_chunk(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let len = u32::from_be_bytes(self.take_array().await?) as usize;
        if len > MAX_CHUNK {
            return Err(damaged("an entry chunk is too long"));
        }
        if len == 0 {
            let (name, sha, size) = self
                .entry
                .take()
                .ok_or_else(|| damaged("a chunk outside an entry"))?;
            self.spool.push(&EntryRecord {
                name,
                size,
                sha256: hex::encode(sha.finalize()),
            })?;
            return Ok(None);
        }
        let chunk = self.take(len).await?.to_vec();
        if let Some((_, sha, size)) = self.entry.as_mut() {
            sha.update(&chunk);
            *size += len as u64;
        }
        Ok(Some(chunk))
    }

    /// The whole current entry (for the small JSON entries).
    pub async fn read_entry(&mut self, limit: usize) -> anyhow::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            all.extend_from_slice(&chunk);
            if all.len() > limit {
                return Err(damaged("a metadata entry is too long"));
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_byte_flip_of_the_header_is_damage_and_another_key_is_wrong() {
        let key = [7u8; 32];
        let h = header(&key, &[9u8; 32]);
        assert!(open_header(&key, &h, "x").is_ok());
        for i in 0..h.len() {
            let mut bad = h.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(open_header(&key, &bad, "x"), Err(ArchiveError::Damaged(_))),
                "byte {i}"
            );
        }
        assert!(matches!(
            open_header(&[8u8; 32], &h, "x"),
            Err(ArchiveError::WrongKey)
        ));
        assert!(matches!(
            open_header(&key, &[0u8; HEADER_LEN], "x"),
            Err(ArchiveError::NotABackup(_))
        ));
    }
}
