//! `labledger keys rotate`: re-wrap every org key under a new master key (`--master`), or
//! replace one org's key and re-wrap its objects' data keys (`--org`) and the keys its org key
//! wraps (export signing key, field key of sensitive custom values). Objects are never
//! rewritten. Each org (and each object) is re-wrapped in its own transaction beside a record
//! of which key wraps it, so a run that stops halfway leaves everything readable and running
//! the command again finishes the job.

use crate::config::{sealed_options, DatabaseArgs, MasterKeyArgs, MASTER_KEY_FILE};
use anyhow::{anyhow, bail, Context};
use labledger_auth::SecretBox;
use labledger_domain::OrgId;
use labledger_store::{Actor, HeadSealKey, Store, StoreOptions};
use labledger_vault::{platform, Vault};

/// The next master key while a master rotation runs (data-dir key files only).
pub const NEXT_MASTER_KEY_FILE: &str = "master.key.next";

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Rotate the master key (`--master`) or one organization's key (`--org ID`).
    Rotate(RotateArgs),
}

#[derive(clap::Args)]
pub struct RotateArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    /// Re-wrap every org key under a new master key (from LABLEDGER_NEW_MASTER_KEY or
    /// LABLEDGER_NEW_MASTER_KEY_FILE, else generated); a data-dir key file is then replaced.
    #[arg(long, conflicts_with = "org", required_unless_present = "org")]
    master: bool,
    /// Replace this organization's key and re-wrap its objects' data keys.
    #[arg(long)]
    org: Option<String>,
    /// The new master key as 64 hexadecimal characters.
    #[arg(long, env = "LABLEDGER_NEW_MASTER_KEY", hide_env_values = true)]
    new_master_key: Option<String>,
    /// A file holding the new master key as 64 hexadecimal characters.
    #[arg(long, env = "LABLEDGER_NEW_MASTER_KEY_FILE")]
    new_master_key_file: Option<std::path::PathBuf>,
    /// Testing crash recovery: stop after re-wrapping this many keys.
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

fn operator() -> Actor {
    let who = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
    Actor::operator(&format!("cli:{who}"))
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate(args) = command;
    match &args.org {
        Some(org) => rotate_org(&args, org).await,
        None => rotate_master(&args).await,
    }
}

fn write_private(path: &std::path::Path, key: &[u8; 32]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(key)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The new master key: given, or the one a stopped run left in the data dir, or generated
/// (and kept in the data dir until the rotation completes).
fn new_master(args: &RotateArgs) -> anyhow::Result<[u8; 32]> {
    if let Some(hex) = &args.new_master_key {
        return labledger_auth::parse_master_key_hex(hex)
            .map_err(|e| anyhow!("LABLEDGER_NEW_MASTER_KEY: {e}"));
    }
    if let Some(file) = &args.new_master_key_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return labledger_auth::parse_master_key_hex(&text)
            .map_err(|e| anyhow!("{}: {e}", file.display()));
    }
    let path = args.db.data_dir.join(NEXT_MASTER_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow!("{} must hold exactly 32 bytes", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = *labledger_vault::keys::Key::generate().as_bytes();
            write_private(&path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

async fn rotate_master(args: &RotateArgs) -> anyhow::Result<()> {
    args.db.require_labledger().await?;
    let old_bytes = args.master_key.load_existing(&args.db.data_dir)?;
    let new_bytes = new_master(args)?;
    let old = Vault::keys_only(old_bytes);
    let new = Vault::keys_only(new_bytes);
    let new_id = new.master_key_id();
    let store = args
        .db
        .open(sealed_options(StoreOptions::default(), &old_bytes))
        .await?;
    // Users' TOTP secrets: one platform key to re-wrap (see `user_secrets_key`).
    if rotate_platform_keys(&store, &old_bytes, &new_bytes).await? {
        println!("Re-wrapped the platform key `{}`", platform::USER_SECRETS);
    }
    let mut done = 0usize;
    for row in store.org_key_rows().await? {
        if row.master_key_id == new_id {
            continue;
        }
        if args.stop_after.is_some_and(|n| done >= n) {
            println!("Stopped after {done} org keys (run again to finish)");
            return Ok(());
        }
        let org = row.org_id.clone();
        let wrapped = old
            .rewrap_org_key(&new, &org, &row.wrapped_key)
            .map_err(|e| anyhow!("the key of org {org} does not open with the master key: {e}"))?;
        let next = match &row.next_wrapped_key {
            Some(n) => Some(
                old.rewrap_org_key(&new, &org, n)
                    .map_err(|e| anyhow!("{e}"))?,
            ),
            None => None,
        };
        store
            .rewrap_org_key(row, wrapped, next, new_id.clone(), operator())
            .await?;
        done += 1;
    }
    // Every chain head is sealed with a key derived from the master key: move them to the new
    // one (each audited), before the new key replaces the old.
    let resealed = store
        .reseal_audit_heads(
            &HeadSealKey::from_master(&new_bytes),
            &old.master_key_id(),
            &new_id,
            operator(),
        )
        .await?;
    if resealed > 0 {
        println!("Resealed {resealed} audit chain heads with the new master key");
    }
    // Every org key now opens with the new master key: it replaces the old one.
    let uses_data_dir_key =
        args.master_key.master_key.is_none() && args.master_key.master_key_file.is_none();
    if uses_data_dir_key {
        let bytes = new_master(args)?;
        write_private(&args.db.data_dir.join(MASTER_KEY_FILE), &bytes)?;
        let _ = std::fs::remove_file(args.db.data_dir.join(NEXT_MASTER_KEY_FILE));
        println!("Re-wrapped {done} org keys; {MASTER_KEY_FILE} now holds the new master key");
    } else {
        println!(
            "Re-wrapped {done} org keys; now configure the new master key \
             (LABLEDGER_MASTER_KEY / _FILE) and restart the server"
        );
        if args.new_master_key.is_none() && args.new_master_key_file.is_none() {
            println!(
                "The generated new key is in {}",
                args.db.data_dir.join(NEXT_MASTER_KEY_FILE).display()
            );
        }
    }
    Ok(())
}

async fn rotate_org(args: &RotateArgs, raw: &str) -> anyhow::Result<()> {
    let org: OrgId = raw
        .parse()
        .map_err(|_| anyhow!("`{raw}` is not an organization id"))?;
    args.db.require_labledger().await?;
    let master = args.master_key.load_existing(&args.db.data_dir)?;
    let vault = Vault::keys_only(master);
    let store = args
        .db
        .open(sealed_options(StoreOptions::default(), &master))
        .await?;
    let Some(row) = store.org_key_row(org).await? else {
        bail!("organization {org} has no key (no files yet, or deleted)");
    };
    let org_text = org.to_string();
    let (_, fresh) = vault.new_org_key(&org_text).map_err(|e| anyhow!("{e}"))?;
    let next_wrapped = store.begin_org_rotation(org, fresh, operator()).await?;
    let old = vault
        .org_key(&org_text, &row.wrapped_key)
        .map_err(|e| anyhow!("the org key does not open: {e}"))?;
    let next = vault
        .org_key(&org_text, &next_wrapped)
        .map_err(|e| anyhow!("the next org key does not open: {e}"))?;
    let mut done = 0usize;
    loop {
        let page = store
            .objects_at_key_version(org, row.key_version, 500)
            .await?;
        if page.is_empty() {
            break;
        }
        // One transaction and one audit event per page.
        let mut rewrapped = Vec::new();
        let mut stopped = false;
        for obj in page {
            if args.stop_after.is_some_and(|n| done + rewrapped.len() >= n) {
                stopped = true;
                break;
            }
            let wrapped = Vault::rewrap_data_key(&old, &next, &obj.path, &obj.wrapped_key)
                .map_err(|e| anyhow!("object {}: {e}", obj.path))?;
            rewrapped.push((obj.content_key, wrapped));
        }
        let page_len = rewrapped.len();
        if page_len > 0 {
            store
                .rewrap_object_keys(org, row.key_version, rewrapped, operator())
                .await?;
        }
        done += page_len;
        if stopped {
            println!("Stopped after {done} object keys (run again to finish)");
            return Ok(());
        }
    }
    // The export signing secret is wrapped by the org key too: re-wrap it for the next key.
    let export_secret = match store.wrapped_export_secret(org).await? {
        None => None,
        Some(wrapped) => {
            let secret = old
                .unwrap_secret(labledger_vault::EXPORT_KEY_PURPOSE, &wrapped)
                .map_err(|e| anyhow!("the export signing key does not open: {e}"))?;
            Some(
                next.wrap_secret(labledger_vault::EXPORT_KEY_PURPOSE, secret)
                    .map_err(|e| anyhow!("re-wrapping the export signing key: {e}"))?,
            )
        }
    };
    // And the key of sensitive custom field values.
    let field_key = match store.wrapped_field_key(org).await? {
        None => None,
        Some(wrapped) => {
            let purpose = labledger_vault::fields::FIELD_KEY_PURPOSE;
            let key = old
                .unwrap_secret(purpose, &wrapped)
                .map_err(|e| anyhow!("the field key does not open: {e}"))?;
            Some(
                next.wrap_secret(purpose, key)
                    .map_err(|e| anyhow!("re-wrapping the field key: {e}"))?,
            )
        }
    };
    let version = store
        .finish_org_rotation(org, operator(), export_secret, field_key)
        .await?;
    println!(
        "Rotated the key of organization {org} (version {version}); re-wrapped {done} object keys"
    );
    Ok(())
}

/// The platform key that seals users' TOTP secrets, unwrapped with `master`: made (wrapped by
/// `master`) on first use. Secrets still sealed by the master key itself (written before
/// platform keys existed) are re-sealed under it here, one row at a time, so a server start or
/// a master rotation after an upgrade moves them and a crash halfway is harmless.
pub async fn user_secrets_key(store: &Store, master: &[u8; 32]) -> anyhow::Result<[u8; 32]> {
    let purpose = platform::USER_SECRETS;
    let master_id = Vault::keys_only(*master).master_key_id();
    let row = match store.platform_key(purpose).await? {
        Some(row) => row,
        None => {
            let (_, wrapped) = platform::new_key(master, purpose).map_err(|e| anyhow!("{e}"))?;
            store
                .ensure_platform_key(purpose, wrapped, master_id)
                .await?
        }
    };
    let key = platform::unwrap_key(master, purpose, &row.wrapped_key).map_err(|e| {
        anyhow!(
            "the platform key `{purpose}` does not open with this master key (it is wrapped by \
             master key {}; a `keys rotate --master` that stopped halfway finishes when run \
             again): {e}",
            row.master_key_id
        )
    })?;
    let legacy = store.legacy_totp_secrets().await?;
    if !legacy.is_empty() {
        let old = SecretBox::new(master);
        let new = SecretBox::new(key.as_bytes());
        let mut moved = 0usize;
        for secret in legacy {
            let aad = secret.user_id.clone();
            let Ok(plain) = old.open(aad.as_bytes(), &secret.secret_enc) else {
                tracing::warn!(user = %aad, "a TOTP secret does not open with the master key; left as it is");
                continue;
            };
            let sealed = new.seal(aad.as_bytes(), &plain)?;
            store.reseal_totp_secret(secret, sealed).await?;
            moved += 1;
        }
        tracing::info!(moved, "TOTP secrets re-sealed under the platform key");
    }
    Ok(*key.as_bytes())
}

/// Master rotation of the platform keys: legacy secrets are moved under the platform key first
/// (with the old master key), then the platform key is re-wrapped by the new master key.
/// Skipped when already done (a rotation run again).
async fn rotate_platform_keys(
    store: &Store,
    old: &[u8; 32],
    new: &[u8; 32],
) -> anyhow::Result<bool> {
    let purpose = platform::USER_SECRETS;
    let new_id = Vault::keys_only(*new).master_key_id();
    if let Some(row) = store.platform_key(purpose).await? {
        if row.master_key_id == new_id {
            return Ok(false);
        }
    }
    user_secrets_key(store, old).await?;
    let row = store
        .platform_key(purpose)
        .await?
        .ok_or_else(|| anyhow!("the platform key `{purpose}` vanished"))?;
    let wrapped = platform::rewrap_key(old, new, purpose, &row.wrapped_key)
        .map_err(|e| anyhow!("the platform key `{purpose}` does not open: {e}"))?;
    store
        .rewrap_platform_key(purpose, row, wrapped, new_id)
        .await?;
    Ok(true)
}
