//! The archive's two metadata entries: `snapshot.json` first (what a restore must know before
//! the rows: the schema version), `manifest.json` last (every entry's SHA-256 and size, every
//! org's chain head).

use serde::{Deserialize, Serialize};

pub const SNAPSHOT: &str = "snapshot.json";
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub format: u16,
    pub labledger: String,
    pub created_at: String,
    pub engine: String,
    pub schema_version: i64,
}

/// The manifest's first line; one [`super::archive::EntryRecord`] line per entry follows.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub created_at: String,
    pub engine: String,
    pub schema_version: i64,
    /// How many entry lines follow (every entry before the manifest).
    pub entries: u64,
    pub heads: Vec<HeadRecord>,
    /// Objects the snapshot referred to that were deleted before they were copied (at most
    /// 1,000 named).
    pub missing_objects: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeadRecord {
    pub org_id: String,
    pub seq: i64,
    /// Hex.
    pub hash: String,
}
