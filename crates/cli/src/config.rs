//! Where the data lives: flags with `LABLEDGER_*` environment fallbacks.

use anyhow::Context;
use labledger_store::{HeadSealKey, Store, StoreOptions};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// The data directory (SQLite database, master key file, and the encrypted objects).
    #[arg(long, env = "LABLEDGER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://…`) to use instead of the embedded SQLite database.
    /// Prefer the environment variable or `--database-url-file`: a password on the command line
    /// is visible to other local users.
    #[arg(long, env = "LABLEDGER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A file holding the database URL (for secrets mounted as files).
    #[arg(long, env = "LABLEDGER_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The database URL: the one given, or the SQLite file of the data dir.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        if let Some(file) = &self.database_url_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            return Ok(text.trim().to_owned());
        }
        Ok(labledger_store::sqlite_url_for_data_dir(&self.data_dir))
    }

    /// Opens the LabLedger database that must already be there (operator commands): a wrong
    /// directory or URL is refused (exit 2), and nothing is created.
    pub async fn open(&self, options: StoreOptions) -> anyhow::Result<Store> {
        let url = self.url()?;
        let options = StoreOptions {
            existing_only: true,
            ..options
        };
        Store::open(&url, options)
            .await
            .context("opening the database")
    }

    /// Refuses a place without LabLedger before anything (a key file) is made there.
    pub async fn require_labledger(&self) -> anyhow::Result<()> {
        Ok(Store::require_labledger(&self.url()?).await?)
    }

    /// Opens the database, setting it up on first start (`serve`).
    pub async fn open_or_create(&self, options: StoreOptions) -> anyhow::Result<Store> {
        if self.database_url.is_none() && self.database_url_file.is_none() {
            ensure_private_dir(&self.data_dir)?;
        }
        let url = self.url()?;
        Store::open(&url, options)
            .await
            .context("opening the database")
    }
}

/// The database and the master key, for operator commands that append to or verify an org's
/// audit chain: its head is sealed with a key derived from the master key.
#[derive(clap::Args, Clone, Debug)]
pub struct KeyedDatabaseArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

impl KeyedDatabaseArgs {
    /// Opens the store able to seal chain heads; `create_key` allows making the data-dir master
    /// key on first use (as `serve` does); verification never makes one.
    pub async fn open(&self, create_key: bool) -> anyhow::Result<Store> {
        self.db.require_labledger().await?;
        let master = if create_key {
            self.master_key.load(&self.db.data_dir)?
        } else {
            self.master_key.load_existing(&self.db.data_dir)?
        };
        self.db
            .open(sealed_options(StoreOptions::default(), &master))
            .await
    }
}

/// Store options that seal audit chain heads with the key derived from `master`.
pub fn sealed_options(options: StoreOptions, master: &[u8; 32]) -> StoreOptions {
    StoreOptions {
        head_seal: Some(HeadSealKey::from_master(master)),
        ..options
    }
}

/// Creates the data directory readable by its owner only.
pub fn ensure_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Where the master key comes from: `LABLEDGER_MASTER_KEY` (64 hex characters),
/// `LABLEDGER_MASTER_KEY_FILE` (a file holding them), or else `DATA_DIR/master.key`
/// (32 random bytes, mode 0600), created on first start and reused after.
#[derive(clap::Args, Clone, Debug)]
pub struct MasterKeyArgs {
    /// The master key as 64 hexadecimal characters. Prefer the environment variable or the
    /// file: a secret on the command line is visible to other local users.
    #[arg(long, env = "LABLEDGER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// A file holding the master key as 64 hexadecimal characters.
    #[arg(long, env = "LABLEDGER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

pub const MASTER_KEY_FILE: &str = "master.key";

impl MasterKeyArgs {
    /// The 32-byte master key (never logged).
    pub fn load(&self, data_dir: &std::path::Path) -> anyhow::Result<[u8; 32]> {
        if let Some(hex) = &self.master_key {
            return labledger_auth::parse_master_key_hex(hex)
                .map_err(|e| anyhow::anyhow!("LABLEDGER_MASTER_KEY: {e}"));
        }
        if let Some(file) = &self.master_key_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            return labledger_auth::parse_master_key_hex(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()));
        }
        ensure_private_dir(data_dir)?;
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| anyhow::anyhow!("{} must hold exactly 32 bytes", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&path),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

impl MasterKeyArgs {
    /// The master key, refusing to make a new data-dir key file.
    pub fn load_existing(&self, data_dir: &std::path::Path) -> anyhow::Result<[u8; 32]> {
        let configured = self.master_key.is_some() || self.master_key_file.is_some();
        if !configured && !data_dir.join(MASTER_KEY_FILE).exists() {
            anyhow::bail!(
                "no master key: set LABLEDGER_MASTER_KEY or LABLEDGER_MASTER_KEY_FILE, or give the \
                 --data-dir holding {MASTER_KEY_FILE} (the audit chain heads are sealed with it)"
            );
        }
        self.load(data_dir)
    }
}

/// Writes 32 random bytes to a new file readable by its owner only (refusing to overwrite).
fn create_key_file(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    use rand::RngCore;
    use std::io::Write;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(&key)?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created a new master key file");
    Ok(key)
}
