//! Where the data lives: flags with `LABLEDGER_*` environment fallbacks.

use anyhow::Context;
use labledger_store::{Store, StoreOptions};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// The data directory (SQLite database and, later, the encrypted object vault).
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
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        if let Some(file) = &self.database_url_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            return Ok(text.trim().to_owned());
        }
        ensure_private_dir(&self.data_dir)?;
        Ok(labledger_store::sqlite_url_for_data_dir(&self.data_dir))
    }

    pub async fn open(&self, options: StoreOptions) -> anyhow::Result<Store> {
        let url = self.url()?;
        Store::open(&url, options)
            .await
            .context("opening the database")
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
