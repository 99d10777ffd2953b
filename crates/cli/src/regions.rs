//! The regions map (`--regions FILE`): which object store holds each region's files. Every node
//! and the operator's move command read the same file, so a node knows where its own region's
//! files belong (and refuses to start when `--object-store` says otherwise) and a move knows
//! where an org's files are and where they go.
//!
//! All regions share one database (the directory of orgs, their region and every record): a
//! database per region is not supported, and the file says nothing about databases. It holds
//! no secrets either: S3 credentials come from the standard `AWS_*` environment variables.
//!
//! ```json
//! { "regions": {
//!     "eu": { "object_store": "/srv/labledger/objects-eu" },
//!     "us": { "object_store": "s3://lab-us/objects", "s3_endpoint": "https://s3.example" } } }
//! ```

use anyhow::{anyhow, bail, Context};
use labledger_vault::Vault;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where one store of evidence objects is: a local directory or an S3-compatible bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectStoreSpec {
    Local(PathBuf),
    S3 {
        url: String,
        endpoint: Option<String>,
    },
}

impl ObjectStoreSpec {
    /// `s3://bucket[/prefix]`, or a directory (relative paths from `base`).
    pub fn parse(raw: &str, endpoint: Option<&str>, base: &Path) -> anyhow::Result<Self> {
        if raw.starts_with("s3://") {
            return Ok(Self::S3 {
                url: raw.trim_end_matches('/').to_owned(),
                endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            });
        }
        if raw.contains("://") {
            bail!("`{raw}` is neither an s3://bucket URL nor a directory");
        }
        let dir = base.join(raw);
        Ok(Self::Local(std::path::absolute(&dir).unwrap_or(dir)))
    }

    /// Opens the store under `master` (creating a local directory, readable by its owner only).
    pub fn open(&self, master: [u8; 32]) -> anyhow::Result<Vault> {
        match self {
            Self::S3 { url, endpoint } => Vault::s3(url, endpoint.as_deref(), master)
                .with_context(|| format!("configuring the object store {url}")),
            Self::Local(dir) => {
                crate::config::ensure_private_dir(dir)?;
                Vault::local(dir, master)
                    .with_context(|| format!("opening the object directory {}", dir.display()))
            }
        }
    }
}

impl std::fmt::Display for ObjectStoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(dir) => write!(f, "{}", dir.display()),
            Self::S3 {
                url,
                endpoint: Some(e),
            } => write!(f, "{url} at {e}"),
            Self::S3 {
                url,
                endpoint: None,
            } => write!(f, "{url}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionsFile {
    regions: BTreeMap<String, RegionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionEntry {
    /// `s3://bucket[/prefix]` or a directory (relative to the file's directory).
    object_store: String,
    s3_endpoint: Option<String>,
    /// Named only to refuse it clearly: every region shares the one database.
    database_url: Option<serde_json::Value>,
    database_url_file: Option<serde_json::Value>,
}

/// Each region's object store, as the regions file names them.
#[derive(Clone, Debug)]
pub struct RegionMap {
    file: PathBuf,
    stores: BTreeMap<String, ObjectStoreSpec>,
}

impl RegionMap {
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the regions file {}", file.display()))?;
        let parsed: RegionsFile = serde_json::from_str(&text)
            .with_context(|| format!("the regions file {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut stores = BTreeMap::new();
        for (name, entry) in parsed.regions {
            labledger_domain::validate::RegionName::parse("region", &name)
                .map_err(|e| anyhow!("the regions file {}: {e}", file.display()))?;
            if entry.database_url.is_some() || entry.database_url_file.is_some() {
                bail!(
                    "the regions file {}: region `{name}` names a database, but every region \
                     shares the one database (--database-url); a database per region is not \
                     supported",
                    file.display()
                );
            }
            let spec =
                ObjectStoreSpec::parse(&entry.object_store, entry.s3_endpoint.as_deref(), base)
                    .with_context(|| {
                        format!("the regions file {}: region `{name}`", file.display())
                    })?;
            stores.insert(name, spec);
        }
        if stores.is_empty() {
            bail!("the regions file {} names no region", file.display());
        }
        Ok(Self {
            file: file.to_path_buf(),
            stores,
        })
    }

    /// The object store of `region`.
    pub fn store_of(&self, region: &str) -> anyhow::Result<&ObjectStoreSpec> {
        self.stores.get(region).ok_or_else(|| {
            anyhow!(
                "region `{region}` is not in the regions file {} (it names {})",
                self.file.display(),
                self.stores.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Every region and its store, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ObjectStoreSpec)> {
        self.stores.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn load(text: &str) -> anyhow::Result<RegionMap> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("regions.json");
        std::fs::write(&file, text).unwrap();
        RegionMap::load(&file)
    }

    #[test]
    fn maps_regions_to_directories_and_buckets_and_refuses_databases() {
        let map = load(
            r#"{"regions": {"eu": {"object_store": "objects-eu"},
                "us": {"object_store": "s3://b/p/", "s3_endpoint": "http://127.0.0.1:9000"}}}"#,
        )
        .unwrap();
        assert!(
            matches!(map.store_of("eu").unwrap(), ObjectStoreSpec::Local(d) if d.is_absolute() && d.ends_with("objects-eu"))
        );
        assert_eq!(
            map.store_of("us").unwrap(),
            &ObjectStoreSpec::S3 {
                url: "s3://b/p".into(),
                endpoint: Some("http://127.0.0.1:9000".into())
            }
        );
        assert!(map
            .store_of("ap")
            .unwrap_err()
            .to_string()
            .contains("eu, us"));
        let db =
            load(r#"{"regions": {"eu": {"object_store": "/x", "database_url": "postgres://"}}}"#);
        assert!(format!("{:#}", db.unwrap_err()).contains("shares the one database"));
        assert!(load(r#"{"regions": {"EU!": {"object_store": "/x"}}}"#).is_err());
        assert!(load(r#"{"regions": {"eu": {"object_store": "gs://x"}}}"#).is_err());
        assert!(load(r#"{"regions": {"eu": {"objects": "/x"}}}"#).is_err());
        assert!(load(r#"{"regions": {}}"#).is_err());
    }
}
