//! Encrypted objects in an object store (`object_store`: a local directory or S3-compatible).
//!
//! Keys: the master key wraps one key per org (context `org-key:<org>`), the org key wraps one
//! random data key per object (context `data-key:<org>:<path>`), so a wrapped key moved to
//! another org or object does not open. Content addressing is keyed per org: an object's
//! content key is `HMAC-SHA256(org key, sha256)`, so equal content is found again inside one
//! org while nobody (another org, whoever reads the bucket) can test a guessed hash.
//!
//! Writes stream: each body chunk is hashed and sealed segment by segment and handed to a
//! multipart upload with a bounded number of parts in flight, so memory does not grow with
//! the object. Reads stream too and release only verified plaintext; a full read compares the
//! plaintext's SHA-256 with the recorded one at the end.

use crate::keys::{self, Key};
use crate::stream::{self, Decryptor, Encryptor, HEADER_LEN, TAG_LEN};
use crate::VaultError;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use rand::RngCore;
use sha2::Sha256;
use std::sync::Arc;

mod raw;

/// Parts of a multipart upload: 8 MiB (S3 needs ≥ 5 MiB), at most two in flight.
const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;
/// Reads fetch 32 segments (about 2 MiB) at a time, one block ahead.
const READ_BLOCK_SEGMENTS: u64 = 32;
/// Sealed bytes are handed to the multipart writer in pieces of about 1 MiB.
const FLUSH_AT: usize = 1024 * 1024;
/// Body chunks queued for the hashing thread (bounds memory: the body is not read further
/// ahead); a download queues its (2 MiB) blocks of plaintext.
const HASH_QUEUE: usize = 4;
const HASH_QUEUE_READ: usize = 1;

/// SHA-256 on its own thread (another core), fed shared chunks; the handle answers the digest
/// once the sender is dropped.
fn spawn_hasher(
    queue: usize,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<[u8; 32]>,
) {
    let (to_hasher, mut chunks) = tokio::sync::mpsc::channel::<Bytes>(queue);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut sha = <Sha256 as sha2::Digest>::new();
        while let Some(chunk) = chunks.blocking_recv() {
            sha2::Digest::update(&mut sha, &chunk);
        }
        <[u8; 32]>::from(sha2::Digest::finalize(sha))
    });
    (to_hasher, hasher)
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The stored object is not what was written (altered, truncated, reordered, swapped).
    #[error("integrity check failed: {0}")]
    Integrity(&'static str),
    /// The upload is larger than the configured limit.
    #[error("the object exceeds the size limit")]
    TooLarge,
    /// Reading the request body failed (the client went away).
    #[error("reading the upload failed: {0}")]
    Body(String),
    #[error("encryption failed")]
    Encrypt,
    #[error("object storage: {0}")]
    Storage(String),
}

impl From<VaultError> for ObjectError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Integrity(m) => ObjectError::Integrity(m),
            VaultError::BadHeader => ObjectError::Integrity("the object header is not valid"),
            VaultError::Encrypt => ObjectError::Encrypt,
        }
    }
}

impl From<object_store::Error> for ObjectError {
    fn from(e: object_store::Error) -> Self {
        ObjectError::Storage(e.to_string())
    }
}

/// One org's key, unwrapped for the duration of a request.
#[derive(Clone, Debug)]
pub struct OrgKey {
    org: String,
    key: Key,
}

impl OrgKey {
    /// The keyed content address of a plaintext hash inside this org (hex).
    pub fn content_key(&self, sha256: &[u8; 32]) -> String {
        // HMAC accepts keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_bytes())
            .map(|mut m| {
                m.update(b"labledger-content-v1:");
                m.update(sha256);
                m.finalize().into_bytes()
            })
            .map(hex::encode)
            .unwrap_or_default();
        mac
    }
    fn data_key_context(&self, path: &str) -> String {
        format!("data-key:{}:{path}", self.org)
    }
}

/// What a finished upload stored.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Where the ciphertext lives in the object store.
    pub path: String,
    /// The object's data key, wrapped by the org key.
    pub wrapped_key: Vec<u8>,
    pub segment_size: usize,
    pub sha256: [u8; 32],
    pub size: u64,
    /// `HMAC(org key, sha256)`: equal content of one org has equal content keys.
    pub content_key: String,
}

/// A stored object to read, as recorded in the database.
#[derive(Clone, Debug)]
pub struct ObjectRef {
    pub path: String,
    pub wrapped_key: Vec<u8>,
    pub segment_size: usize,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// The object store, the master key and the format's settings; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn ObjectStore>,
    master: Key,
    segment: usize,
    description: String,
    /// The directory of a local store (where partial uploads are staged as `PATH#N` files).
    local_root: Option<std::path::PathBuf>,
}

/// An object the orphan sweep may remove: written by [`Vault::put`] (`ORG/32 hex digits`) or
/// a partial upload it left behind, last modified before the sweep's cut-off.
#[derive(Clone, Debug)]
pub struct SweepCandidate {
    /// The object's path in the store (for a partial upload: the staging file's path).
    pub path: String,
    pub size: u64,
    pub last_modified: std::time::SystemTime,
    /// A partial upload (a local staging file, never referenced by any record).
    pub partial: bool,
}

/// `ORG/NAME` as [`Vault::put`] names objects: a UUID, then 32 lowercase hex digits.
fn is_object_path(path: &str) -> bool {
    let Some((org, name)) = path.split_once('/') else {
        return false;
    };
    org.len() == 36
        && org.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && name.len() == 32
        && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.description)
    }
}

impl Vault {
    /// Objects under a local directory (created if missing).
    pub fn local(dir: &std::path::Path, master: [u8; 32]) -> Result<Self, ObjectError> {
        std::fs::create_dir_all(dir).map_err(|e| ObjectError::Storage(e.to_string()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            local_root: Some(dir.to_path_buf()),
            ..Self::with_store(Arc::new(store), master, format!("local {}", dir.display()))
        })
    }

    /// Objects in an S3-compatible bucket: `s3://bucket` (credentials and region from the
    /// standard `AWS_*` environment variables), optionally at another `endpoint`.
    pub fn s3(url: &str, endpoint: Option<&str>, master: [u8; 32]) -> Result<Self, ObjectError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| ObjectError::Storage(format!("`{url}` is not an s3:// URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_owned();
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build()?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                store,
                prefix.as_str(),
            ))
        };
        Ok(Self::with_store(store, master, url.to_owned()))
    }

    /// An in-memory store with a random master key (for tests and the default configuration
    /// of an in-process server; `serve` always configures a real one).
    /// A vault for key management only (no objects are read or written).
    pub fn keys_only(master: [u8; 32]) -> Self {
        Self::with_store(
            Arc::new(object_store::memory::InMemory::new()),
            master,
            "keys only".to_owned(),
        )
    }

    pub fn ephemeral() -> Self {
        Self::with_store(
            Arc::new(object_store::memory::InMemory::new()),
            *Key::generate().as_bytes(),
            "memory".to_owned(),
        )
    }

    pub fn with_store(store: Arc<dyn ObjectStore>, master: [u8; 32], description: String) -> Self {
        Self {
            store,
            master: Key::from_bytes(master),
            segment: stream::DEFAULT_SEGMENT,
            description,
            local_root: None,
        }
    }

    /// Where objects are stored (for logs).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A new org key: the key and its wrapped form (to store).
    pub fn new_org_key(&self, org: &str) -> Result<(OrgKey, Vec<u8>), ObjectError> {
        let key = Key::generate();
        let wrapped = keys::wrap(&self.master, &key, &format!("org-key:{org}"))?;
        Ok((
            OrgKey {
                org: org.to_owned(),
                key,
            },
            wrapped,
        ))
    }

    /// Unwraps a stored org key.
    pub fn org_key(&self, org: &str, wrapped: &[u8]) -> Result<OrgKey, ObjectError> {
        let key = keys::unwrap(&self.master, wrapped, &format!("org-key:{org}"))?;
        Ok(OrgKey {
            org: org.to_owned(),
            key,
        })
    }

    /// A short fingerprint of the master key (not secret: a keyed hash of a constant), so the
    /// database can record which master key wrapped an org key.
    pub fn master_key_id(&self) -> String {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(self.master.as_bytes())
            .map(|mut m| {
                m.update(b"labledger-master-key-id-v1");
                m.finalize().into_bytes()
            })
            .map(|b| hex::encode(b.get(..8).unwrap_or_default()))
            .unwrap_or_default();
        mac
    }

    /// Re-wraps an org key (wrapped by this vault's master key) under `new_master`.
    pub fn rewrap_org_key(
        &self,
        new_master: &Vault,
        org: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, ObjectError> {
        let key = self.org_key(org, wrapped)?;
        Ok(keys::wrap(
            &new_master.master,
            &key.key,
            &format!("org-key:{org}"),
        )?)
    }

    /// Re-wraps an object's data key from one org key to another (an org key rotation); the
    /// object's bytes are not touched.
    pub fn rewrap_data_key(
        old: &OrgKey,
        new: &OrgKey,
        path: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, ObjectError> {
        let data_key = keys::unwrap(&old.key, wrapped, &old.data_key_context(path))?;
        Ok(keys::wrap(
            &new.key,
            &data_key,
            &new.data_key_context(path),
        )?)
    }

    /// Streams `body` into a new encrypted object of `org`: hashed and sealed on the way,
    /// refused (and nothing kept) once it passes `max` bytes or when the body fails.
    pub async fn put<S, E>(&self, org: &OrgKey, body: S, max: u64) -> Result<Stored, ObjectError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut name = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut name);
        let path = format!("{}/{}", org.org, hex::encode(name));
        let location = Path::from(path.as_str());
        let data_key = Key::generate();
        let wrapped_key = keys::wrap(&org.key, &data_key, &org.data_key_context(&path))?;
        let upload = self.store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        match Self::seal_into(&mut writer, &data_key, self.segment, body, max).await {
            Ok((sha256, size)) => {
                writer.finish().await?;
                Ok(Stored {
                    content_key: org.content_key(&sha256),
                    path,
                    wrapped_key,
                    segment_size: self.segment,
                    sha256,
                    size,
                })
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, %path, "aborting a failed upload failed");
                }
                Err(e)
            }
        }
    }

    async fn seal_into<S, E>(
        writer: &mut WriteMultipart,
        data_key: &Key,
        segment: usize,
        mut body: S,
        max: u64,
    ) -> Result<([u8; 32], u64), ObjectError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // SHA-256 runs on another core, fed the same (shared, not copied) chunks, while this
        // task seals them: the two are the costly parts and take about as long each.
        let (to_hasher, hasher) = spawn_hasher(HASH_QUEUE);
        let mut enc = Encryptor::unhashed(data_key, segment)?;
        // Each buffer is sized for what it will hold: about 1 MiB of ciphertext (a held-back
        // segment and the tags on top), flushed before a chunk would overflow it.
        let capacity = FLUSH_AT + segment + 1024;
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(&enc.header());
        let mut total: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ObjectError::Body(e.to_string()))?;
            total = total.saturating_add(chunk.len() as u64);
            if total > max {
                return Err(ObjectError::TooLarge);
            }
            to_hasher
                .send(chunk.clone())
                .await
                .map_err(|_| ObjectError::Storage("the hashing task ended".into()))?;
            let bound = chunk.len() + segment + (chunk.len() / segment + 2) * TAG_LEN;
            if !out.is_empty() && out.len() + bound > capacity {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.put(Bytes::from(std::mem::replace(
                    &mut out,
                    Vec::with_capacity(capacity),
                )));
            }
            // Sealed straight into `out` (one copy), which is handed to the multipart writer
            // as it is (no further copy).
            enc.update(&chunk, &mut out)?;
        }
        drop(to_hasher);
        let size = enc.finish_unhashed(&mut out)?;
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.put(Bytes::from(out));
        let sha = hasher
            .await
            .map_err(|e| ObjectError::Storage(format!("the hashing task failed: {e}")))?;
        Ok((sha, size))
    }

    /// What the orphan sweep may remove: objects named as [`Vault::put`] names them and partial
    /// uploads (local directory: staging files `PATH#N`), last modified before `before`.
    /// Nothing else in the store is ever listed. Whether a record refers to an object is for
    /// the caller to ask, right before removing it. (Incomplete S3 multipart uploads are not
    /// visible through `object_store`: a bucket lifecycle rule aborts them.)
    /// Streamed: memory does not grow with the number of objects.
    pub fn sweep_candidates(
        &self,
        before: std::time::SystemTime,
    ) -> BoxStream<'static, Result<SweepCandidate, ObjectError>> {
        let listed = self.store.list(None).filter_map(move |meta| async move {
            match meta {
                Err(e) => Some(Err(ObjectError::from(e))),
                Ok(meta) => {
                    let path = meta.location.to_string();
                    let modified = std::time::SystemTime::from(meta.last_modified);
                    (is_object_path(&path) && modified < before).then_some(Ok(SweepCandidate {
                        path,
                        size: meta.size,
                        last_modified: modified,
                        partial: false,
                    }))
                }
            }
        });
        let root = self.local_root.clone();
        let partial = futures::stream::once(async move {
            let Some(root) = root else {
                return Ok(Vec::new());
            };
            tokio::task::spawn_blocking(move || partial_uploads(&root, before))
                .await
                .map_err(|e| ObjectError::Storage(e.to_string()))?
        })
        .flat_map(|found: Result<Vec<SweepCandidate>, ObjectError>| {
            let items: Vec<Result<SweepCandidate, ObjectError>> = match found {
                Ok(v) => v.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
        listed.chain(partial).boxed()
    }

    /// Removes what [`Vault::sweep_candidates`] found (a missing one counts as removed).
    pub async fn remove_candidate(&self, candidate: &SweepCandidate) -> Result<(), ObjectError> {
        if candidate.partial {
            let root = self
                .local_root
                .as_ref()
                .ok_or_else(|| ObjectError::Storage("not a local store".into()))?;
            return match std::fs::remove_file(root.join(&candidate.path)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(ObjectError::Storage(e.to_string()))
                }
                _ => Ok(()),
            };
        }
        match self
            .store
            .delete(&Path::from(candidate.path.as_str()))
            .await
        {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the object store answers (readiness): asking for an object that is never
    /// written must come back "not found", not fail.
    pub async fn reachable(&self) -> Result<(), ObjectError> {
        match self
            .store
            .head(&Path::from("labledger-readiness-probe"))
            .await
        {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an object (a duplicate of stored content, or a failed upload).
    pub async fn delete(&self, path: &str) -> Result<(), ObjectError> {
        Ok(self.store.delete(&Path::from(path)).await?)
    }

    /// Opens an object for reading: all of it, or the plaintext bytes `first..=last`. Checks
    /// the stored length and header before answering, so a truncated or foreign object fails
    /// before the first byte; later damage fails the stream where it is found.
    pub async fn open(
        &self,
        org: &OrgKey,
        object: &ObjectRef,
        range: Option<(u64, u64)>,
    ) -> Result<BoxStream<'static, Result<Bytes, ObjectError>>, ObjectError> {
        let data_key = keys::unwrap(
            &org.key,
            &object.wrapped_key,
            &org.data_key_context(&object.path),
        )?;
        let location = Path::from(object.path.as_str());
        let seg = object.segment_size as u64;
        let full = seg + TAG_LEN as u64;
        let total = stream::ciphertext_len(object.size, object.segment_size);
        let segments = if object.size == 0 {
            1
        } else {
            object.size.div_ceil(seg)
        };
        // The stored length first: a truncated or extended object fails before any byte.
        let meta = self.store.head(&location).await.map_err(read_error)?;
        if meta.size != total {
            return Err(ObjectError::Integrity(
                "the stored object has the wrong length (truncated or extended)",
            ));
        }
        let (dec, cipher_range, skip, take, last) = match range {
            None => (
                Decryptor::unhashed(&data_key)?,
                0..total,
                0,
                object.size,
                true,
            ),
            Some((first, last_byte)) => {
                if first > last_byte || last_byte >= object.size {
                    return Err(ObjectError::Integrity("range outside the object"));
                }
                let header = self
                    .store
                    .get_range(&location, 0..HEADER_LEN as u64)
                    .await
                    .map_err(read_error)?;
                if stream::segment_size(&header)? != object.segment_size {
                    return Err(ObjectError::Integrity(
                        "the object header does not match its record",
                    ));
                }
                let (s0, s1) = (first / seg, last_byte / seg);
                let index = u32::try_from(s0).map_err(|_| ObjectError::Integrity("range"))?;
                let start = HEADER_LEN as u64 + s0 * full;
                let end = (HEADER_LEN as u64 + (s1 + 1) * full).min(total);
                (
                    Decryptor::resume(&data_key, &header, index)?,
                    start..end,
                    first - s0 * seg,
                    last_byte - first + 1,
                    s1 + 1 == segments,
                )
            }
        };
        // Read in blocks of whole segments, one block ahead of the decryption: few large reads
        // (one blocking call or HTTP request each) instead of many small ones.
        let block = (READ_BLOCK_SEGMENTS * full).max(full);
        let ranges: Vec<std::ops::Range<u64>> = (cipher_range.start..cipher_range.end)
            .step_by(usize::try_from(block).unwrap_or(usize::MAX))
            .map(|start| start..(start + block).min(cipher_range.end))
            .collect();
        let store = self.store.clone();
        let inner = futures::stream::iter(ranges)
            .map(move |r| {
                let store = store.clone();
                let location = location.clone();
                async move { store.get_range(&location, r).await }
            })
            .buffered(2)
            .boxed();
        let reader = Reader {
            inner,
            // A whole read re-checks the SHA-256 on another core while this one decrypts.
            hasher: range.is_none().then(|| spawn_hasher(HASH_QUEUE_READ)),
            dec: Some(dec),
            skip,
            remaining: take,
            last,
            whole: range.is_none(),
            expected: object.sha256,
        };
        Ok(futures::stream::try_unfold(reader, Reader::next).boxed())
    }
}

/// Staging files of partial local uploads (`ORG/NAME#N`) last modified before `before`.
fn partial_uploads(
    root: &std::path::Path,
    before: std::time::SystemTime,
) -> Result<Vec<SweepCandidate>, ObjectError> {
    let io = |e: std::io::Error| ObjectError::Storage(e.to_string());
    let mut found = Vec::new();
    let orgs = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io(e)),
    };
    for org in orgs {
        let org = org.map_err(io)?;
        if !org.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let org_name = org.file_name().to_string_lossy().into_owned();
        for entry in std::fs::read_dir(org.path()).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((object, n)) = name.split_once('#') else {
                continue;
            };
            let path = format!("{org_name}/{object}");
            if !is_object_path(&path) || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let meta = entry.metadata().map_err(io)?;
            let modified = meta.modified().map_err(io)?;
            if meta.is_file() && modified < before {
                found.push(SweepCandidate {
                    path: format!("{org_name}/{name}"),
                    size: meta.len(),
                    last_modified: modified,
                    partial: true,
                });
            }
        }
    }
    Ok(found)
}

fn read_error(e: object_store::Error) -> ObjectError {
    match e {
        object_store::Error::NotFound { .. } => {
            ObjectError::Integrity("the stored object is missing")
        }
        e => ObjectError::Storage(e.to_string()),
    }
}

/// The state of a streaming read.
struct Reader {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    hasher: Option<(
        tokio::sync::mpsc::Sender<Bytes>,
        tokio::task::JoinHandle<[u8; 32]>,
    )>,
    dec: Option<Decryptor>,
    /// Plaintext bytes still to drop before the range starts.
    skip: u64,
    /// Plaintext bytes still to release.
    remaining: u64,
    /// The range ends with the object's last segment.
    last: bool,
    /// The whole object is read: its SHA-256 is compared at the end.
    whole: bool,
    expected: [u8; 32],
}

impl Reader {
    async fn next(mut self) -> Result<Option<(Bytes, Reader)>, ObjectError> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(None);
            };
            let mut out;
            let mut end = false;
            match self.inner.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    out = Vec::with_capacity(chunk.len());
                    dec.update(&chunk, &mut out)?;
                }
                None => {
                    out = Vec::new();
                    end = true;
                    let dec = self
                        .dec
                        .take()
                        .ok_or(ObjectError::Integrity("reader state"))?;
                    if self.whole {
                        dec.finish(&mut out)?;
                    } else {
                        dec.finish_range(&mut out, self.last)?;
                    }
                }
            }
            let bytes = self.trim(out);
            if let Some((to_hasher, _)) = &self.hasher {
                if !bytes.is_empty() {
                    to_hasher
                        .send(bytes.clone())
                        .await
                        .map_err(|_| ObjectError::Storage("the hashing task ended".into()))?;
                }
            }
            if end && self.whole {
                // The last bytes are released only once the whole content's hash matches.
                let (to_hasher, hasher) = self
                    .hasher
                    .take()
                    .ok_or(ObjectError::Integrity("reader state"))?;
                drop(to_hasher);
                let sha = hasher
                    .await
                    .map_err(|e| ObjectError::Storage(format!("the hashing task failed: {e}")))?;
                if sha != self.expected {
                    return Err(ObjectError::Integrity(
                        "the content's SHA-256 differs from the recorded one",
                    ));
                }
            }
            if !bytes.is_empty() {
                return Ok(Some((bytes, self)));
            }
        }
    }

    /// Applies the range to freshly verified plaintext.
    fn trim(&mut self, out: Vec<u8>) -> Bytes {
        let mut bytes = Bytes::from(out);
        let drop = self.skip.min(bytes.len() as u64);
        self.skip -= drop;
        let bytes = bytes.split_off(drop as usize);
        let keep = self.remaining.min(bytes.len() as u64);
        self.remaining -= keep;
        bytes.slice(..keep as usize)
    }
}

/// Other secrets of an org (e.g. its export signing key) wrapped by the org key, exactly as
/// object data keys are: AES-256-GCM with the purpose and org as associated data.
impl OrgKey {
    pub fn wrap_secret(&self, purpose: &str, secret: [u8; 32]) -> Result<Vec<u8>, VaultError> {
        keys::wrap(
            &self.key,
            &Key::from_bytes(secret),
            &format!("{purpose}:{}", self.org),
        )
    }

    pub fn unwrap_secret(&self, purpose: &str, wrapped: &[u8]) -> Result<[u8; 32], VaultError> {
        keys::unwrap(&self.key, wrapped, &format!("{purpose}:{}", self.org)).map(|k| *k.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn body(data: &[u8], chunk: usize) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures::stream::iter(
            data.chunks(chunk.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
    }

    async fn read(
        vault: &Vault,
        org: &OrgKey,
        obj: &ObjectRef,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, ObjectError> {
        let mut s = vault.open(org, obj, range).await?;
        let mut all = Vec::new();
        while let Some(b) = s.next().await {
            all.extend_from_slice(&b?);
        }
        Ok(all)
    }

    fn reference(s: &Stored) -> ObjectRef {
        ObjectRef {
            path: s.path.clone(),
            wrapped_key: s.wrapped_key.clone(),
            segment_size: s.segment_size,
            sha256: s.sha256,
            size: s.size,
        }
    }

    #[tokio::test]
    async fn round_trips_ranges_and_refuses_damage() {
        let vault = Vault::ephemeral();
        let (org, wrapped) = vault.new_org_key("org-a").unwrap();
        assert_eq!(
            vault.org_key("org-a", &wrapped).unwrap().key,
            org.key,
            "unwraps"
        );
        assert!(
            vault.org_key("org-b", &wrapped).is_err(),
            "bound to its org"
        );
        let seg = stream::DEFAULT_SEGMENT;
        for n in [0usize, 1, seg - 1, seg, seg + 1, 3 * seg + 5] {
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let stored = vault.put(&org, body(&data, 7777), u64::MAX).await.unwrap();
            assert_eq!(stored.size, n as u64);
            assert_eq!(stored.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
            let obj = reference(&stored);
            assert_eq!(read(&vault, &org, &obj, None).await.unwrap(), data, "{n}");
            if n > 0 {
                for (a, b) in [(0, n - 1), (n / 2, n - 1), (0, 0), (n - 1, n - 1)] {
                    let got = read(&vault, &org, &obj, Some((a as u64, b as u64)))
                        .await
                        .unwrap();
                    assert_eq!(got, &data[a..=b], "{n}: {a}-{b}");
                }
            }
            // Another org's key does not open it.
            let (other, _) = vault.new_org_key("org-b").unwrap();
            assert!(vault.open(&other, &obj, None).await.is_err());
            // A wrong recorded hash fails the full read at the end.
            let mut lying = obj.clone();
            lying.sha256[0] ^= 1;
            assert!(read(&vault, &org, &lying, None).await.is_err());
        }
        let too_big = vault.put(&org, body(&[1u8; 5000], 100), 4999).await;
        assert!(matches!(too_big, Err(ObjectError::TooLarge)));
    }

    #[test]
    fn the_sweep_only_considers_paths_the_vault_makes() {
        let org = "0192f0c4-1b2a-7c3d-8e4f-0123456789ab";
        assert!(is_object_path(&format!("{org}/{}", "a".repeat(32))));
        for bad in [
            format!("{org}/{}", "A".repeat(32)),
            format!("{org}/{}", "a".repeat(31)),
            format!("{org}/{}#1", "a".repeat(32)),
            format!("{org}/x/{}", "a".repeat(32)),
            format!("exports/{}", "a".repeat(32)),
            "README".to_owned(),
        ] {
            assert!(!is_object_path(&bad), "{bad}");
        }
    }

    #[test]
    fn content_keys_are_per_org() {
        let vault = Vault::ephemeral();
        let (a, _) = vault.new_org_key("a").unwrap();
        let (b, _) = vault.new_org_key("b").unwrap();
        let sha = [7u8; 32];
        assert_eq!(a.content_key(&sha), a.content_key(&sha));
        assert_ne!(a.content_key(&sha), b.content_key(&sha));
        assert_eq!(a.content_key(&sha).len(), 64);
    }
}
