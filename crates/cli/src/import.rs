//! `labledger import eln FILE --org ORG --as EMAIL --data-dir DIR [--dry-run]`: imports a `.eln`
//! from another ELN as a new project of the org, through the very service the API and UI call
//! (`labledger_server::eln_import`). It acts as the named member: their permissions are checked
//! (samples:write + files:write) and the audit trail names them, as if they had uploaded it.

use crate::config::KeyedDatabaseArgs;
use crate::vault::ObjectStoreArgs;
use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use labledger_domain::validate::Email;
use labledger_domain::OrgId;
use labledger_server::eln_import;
use labledger_server::error::ApiError;
use labledger_server::state::{AppState, ServerConfig};
use labledger_store::RequestMeta;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import a `.eln` (RO-Crate zip from eLabFTW, SampleDB, Kadi4Mat, PASTA, LabLedger, …) as a
    /// new project: samples, custom fields, files (into the evidence vault) and the original
    /// metadata. All or nothing; `--dry-run` lists what each entity would become.
    Eln {
        /// The `.eln` file.
        file: PathBuf,
        /// The organization's id.
        #[arg(long)]
        org: String,
        /// The member the import is done as (their permissions apply; the audit names them).
        #[arg(long = "as", value_name = "EMAIL")]
        as_email: String,
        /// List what each entity of the crate would become; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[command(flatten)]
        objects: ObjectStoreArgs,
    },
}

/// What an API error says to a person at a terminal.
fn explain(e: ApiError) -> anyhow::Error {
    let p = e.problem();
    let mut text = p.detail.unwrap_or_else(|| p.title.to_string());
    for f in &p.errors {
        text.push_str(&format!("\n  {f}"));
    }
    anyhow!("{text} ({})", p.status)
}

pub async fn run(command: ImportCommand) -> Result<u8> {
    let ImportCommand::Eln {
        file,
        org,
        as_email,
        dry_run,
        db,
        objects,
    } = command;
    let store = db.open(false).await?;
    let master = db.master_key.load_existing(&db.db.data_dir)?;
    let vault = crate::vault::open_vault(&db.db.data_dir, &objects, master)?;
    let org: OrgId = org
        .trim()
        .parse()
        .map_err(|_| anyhow!("--org: `{org}` is not an organization id"))?;
    let email = Email::parse("--as", &as_email).map_err(|e| anyhow!("{e}"))?;
    let user = store
        .user_by_email(&email)
        .await?
        .ok_or_else(|| anyhow!("--as: no user {as_email}"))?;
    let scope = store
        .resolve_scope(user.id, org, RequestMeta::default())
        .await?
        .ok_or_else(|| anyhow!("{as_email} is not a member of organization {org}"))?;
    let config = ServerConfig {
        vault,
        ..ServerConfig::default()
    };
    let hasher = labledger_auth::PasswordHasherPool::new(1)?;
    let metrics = labledger_server::metrics_handle().map_err(|e| anyhow!(e))?;
    let state = AppState::new(store, hasher, config, metrics);
    let handle =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let upload = eln_import::upload_from_file(handle).map_err(explain)?;
    let prepared = eln_import::prepare(&state, &scope, upload)
        .await
        .map_err(explain)?;
    if dry_run {
        for e in eln_import::entities(&prepared) {
            let reason = e.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            println!("{} [{}] → {}{reason}", e.id, e.kind, e.becomes);
        }
        return Ok(0);
    }
    let done = eln_import::import(&state, &scope, prepared)
        .await
        .map_err(explain)?;
    println!(
        "Imported {} samples and {} files into the new project {} (as {as_email}).",
        done.samples, done.files, done.project_id
    );
    Ok(0)
}
