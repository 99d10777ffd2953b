//! The vault's object format and key hierarchy, free of I/O so it can be tested byte by byte.
//!
//! - [`keys`]: a 256-bit key wraps another with AES-256-GCM, bound to what the key is for
//!   (master key → org key → per-object data key).
//! - [`objects`]: encrypted objects in an object store (local directory or S3), streamed.
//! - [`stream`]: an object is encrypted in fixed-size segments with AES-256-GCM, the STREAM
//!   construction: each segment's nonce is the object's random prefix, the segment's number and a
//!   last-segment flag, so a flipped bit, a dropped or reordered segment and a cut-off end are
//!   each detected on read, never returned as data. The plaintext's SHA-256 is computed on the way.

pub mod fields;
pub mod keys;
pub mod objects;
pub mod platform;
pub mod stream;

pub use objects::{ObjectError, ObjectRef, OrgKey, Stored, Vault};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The stored bytes are not what was written: altered, truncated, reordered, or another key.
    #[error("integrity check failed: {0}")]
    Integrity(&'static str),
    #[error("not a LabLedger vault object (bad header)")]
    BadHeader,
    #[error("encryption failed")]
    Encrypt,
}

/// The purpose an org's export signing secret is wrapped under (by the org key): the server
/// wraps it, key rotation re-wraps it.
pub const EXPORT_KEY_PURPOSE: &str = "export-signing-key";
