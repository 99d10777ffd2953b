//! `labledger serve`: first-start setup, then the HTTP server until SIGINT/SIGTERM.

use crate::config::{DatabaseArgs, MasterKeyArgs};
use anyhow::{bail, Context};
use axum::serve::ListenerExt;
use labledger_domain::validate::{Email, NewPassword, OrgName, PersonName};
use labledger_server::security_log::{SecurityLayer, SecuritySink};
use labledger_server::{build_app, ServerConfig};
use labledger_store::{Actor, NewOwner, SqliteSync, Store, StoreOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub master_key: MasterKeyArgs,
    /// Address to listen on. Without `--tls-cert`, plain HTTP is served on a loopback address,
    /// or on another address only behind the proxies named by `--behind-proxy`.
    #[arg(long, env = "LABLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (leaf first); re-read with the key on SIGHUP.
    #[arg(long, env = "LABLEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "LABLEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The lowest TLS version offered: `1.3` (the default) or `1.2`; nothing older, ever.
    #[arg(long, env = "LABLEDGER_TLS_MIN", default_value = "1.3", value_parser = ["1.3", "1.2"])]
    pub tls_min: String,
    /// SQLite durability: `full` (an acknowledged write survives power loss) or `normal`.
    #[arg(long, env = "LABLEDGER_SQLITE_SYNC", default_value = "full", value_parser = ["full", "normal"])]
    pub sqlite_sync: String,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "LABLEDGER_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: i64,
    /// Hours after login at which a session ends regardless.
    #[arg(long, env = "LABLEDGER_SESSION_LIFETIME_HOURS", default_value_t = 12)]
    pub session_lifetime_hours: i64,
    /// Largest accepted JSON request body, in KiB.
    #[arg(long, env = "LABLEDGER_BODY_LIMIT_KIB", default_value_t = 1024)]
    pub body_limit_kib: usize,
    /// Failed logins on one account from one address that cost nothing; after them an
    /// exponential back-off (1 s, 2 s, 4 s, … capped at 5 min) applies. A source address may fail
    /// four times as often (over all accounts) before it backs off.
    #[arg(long, env = "LABLEDGER_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,
    /// Failed logins on one account from one address that lock the account there (only there).
    #[arg(long, env = "LABLEDGER_LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: u32,
    /// Failed logins on one account from all addresses together that lock it everywhere; a fifth
    /// of them are free, then a back-off of at most a minute applies.
    #[arg(
        long,
        env = "LABLEDGER_LOGIN_ACCOUNT_MAX_FAILURES",
        default_value_t = 100
    )]
    pub login_account_max_failures: u32,
    /// Reverse proxies (CIDR ranges or addresses, comma or space separated) whose
    /// `X-Forwarded-For` names the client: only a request from one of them is attributed to the
    /// right-most forwarded address that is not itself a listed proxy (for throttling, security
    /// events, sessions and audit events). Without it the socket peer is the client.
    #[arg(long, env = "LABLEDGER_BEHIND_PROXY", num_args = 1.., value_delimiter = ',')]
    pub behind_proxy: Vec<String>,
    /// Minutes an account stays locked after too many failed logins.
    #[arg(long, env = "LABLEDGER_LOCKOUT_MINUTES", default_value_t = 15)]
    pub lockout_minutes: i64,
    /// SMTP server for invitations and password resets: `smtp://127.0.0.1:2525` (a local relay,
    /// no TLS), `smtps://user:pass@mail.example` (TLS) or `smtp://host:587?tls=required` (STARTTLS).
    /// Without it, invitations and resets answer 503.
    #[arg(long, env = "LABLEDGER_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From address of mail.
    #[arg(
        long,
        env = "LABLEDGER_SMTP_FROM",
        default_value = "LabLedger <labledger@localhost>"
    )]
    pub smtp_from: String,
    /// The URL users reach LabLedger at (for links in mail), e.g. `https://lab.example`.
    /// Defaults to `http://<listen address>`.
    #[arg(long, env = "LABLEDGER_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub objects: crate::vault::ObjectStoreArgs,
    /// Largest accepted evidence file, e.g. `10GiB`, `512MiB` or a byte count.
    #[arg(long, env = "LABLEDGER_MAX_FILE_SIZE", default_value = "10GiB",
          value_parser = labledger_domain::file::parse_size)]
    pub max_file_size: u64,
    /// A project export whose files add up to more than this (e.g. `1GiB`, `500MiB` or a byte
    /// count) waits for a second admin's approval; whole-org exports always do.
    #[arg(long, env = "LABLEDGER_EXPORT_APPROVAL_BYTES", default_value = "1GiB",
          value_parser = labledger_domain::file::parse_size)]
    pub export_approval_bytes: u64,
    /// Remove orphaned objects (no record refers to them; left by a crash mid-upload) older
    /// than this many hours, at start and then daily, in the background; 0 turns it off.
    #[arg(long, env = "LABLEDGER_ORPHAN_SWEEP_HOURS", default_value_t = 24)]
    pub orphan_sweep_hours: u64,
    #[command(flatten)]
    pub security: SecurityLogArgs,
    /// The data region this node serves (`eu`, `us-east`): organizations pinned to another
    /// region answer 421 `wrong-region` naming theirs; unpinned ones are served everywhere.
    /// Nodes of all regions share the database; each region's nodes store files in that
    /// region's object store (`--regions`).
    #[arg(long, env = "LABLEDGER_REGION")]
    pub region: Option<String>,
    /// The regions map (a JSON file, see ARCHITECTURE.md): each region's object store. This
    /// node then stores files in its region's store, and refuses to start when
    /// `--object-store` names another one.
    #[arg(long, env = "LABLEDGER_REGIONS_FILE", requires = "region")]
    pub regions: Option<PathBuf>,
    /// Take an encrypted backup this often (`24h`, `6h`, `7d`; one node at a time) into
    /// `--backup-dir`, under the backup key (`LABLEDGER_BACKUP_KEY_FILE`).
    #[arg(long, env = "LABLEDGER_BACKUP_EVERY", requires = "backup_dir",
          value_parser = crate::backup::schedule::parse_period)]
    pub backup_every: Option<std::time::Duration>,
    /// Where scheduled backups are written (`labledger-<time>.llbk`).
    #[arg(long, env = "LABLEDGER_BACKUP_DIR", requires = "backup_every")]
    pub backup_dir: Option<PathBuf>,
    /// Retention of scheduled backups: the newest of each of the last N days, ISO weeks and
    /// months (`7d,4w,12m`); the newest archive is always kept.
    #[arg(long, env = "LABLEDGER_BACKUP_KEEP", default_value = "7d,4w,12m")]
    pub backup_keep: String,
    #[command(flatten)]
    pub backup_key: crate::backup::BackupKeyArgs,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, env = "LABLEDGER_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

/// Logs to stderr (filtered by `LABLEDGER_LOG`) and the security stream (every security event,
/// whatever the filter) to its sink.
pub(crate) fn init_logging(format: &str, default_filter: &str, security: SecuritySink) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LABLEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log = if format == "json" {
        log.json().with_filter(filter).boxed()
    } else {
        log.with_filter(filter).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(SecurityLayer::new(security))
        .try_init();
}

/// Where security events go: `--security-log FILE`, `-` for stderr.
#[derive(clap::Args, Debug, Clone)]
pub struct SecurityLogArgs {
    /// Security events (failed logins, lockouts, refused cross-org and permission probes,
    /// privilege grants, key operations, exports, integrity failures) as JSON lines to this file
    /// (`-`: stderr, each line prefixed `SECURITY `).
    #[arg(long, env = "LABLEDGER_SECURITY_LOG")]
    pub security_log: Option<String>,
    /// The security log is rotated (renamed to FILE.1, …) when it would pass this size (MiB).
    #[arg(long, env = "LABLEDGER_SECURITY_LOG_MAX_MIB", default_value_t = 64)]
    pub security_log_max_mib: u64,
    /// Rotated security logs kept.
    #[arg(long, env = "LABLEDGER_SECURITY_LOG_KEEP", default_value_t = 9)]
    pub security_log_keep: u32,
}

impl SecurityLogArgs {
    /// The settings from the environment alone (`LABLEDGER_SECURITY_LOG…`), for commands
    /// other than `serve`.
    pub fn from_env() -> anyhow::Result<Self> {
        #[derive(clap::Parser)]
        struct FromEnv {
            #[command(flatten)]
            args: SecurityLogArgs,
        }
        use clap::Parser;
        Ok(FromEnv::try_parse_from(["labledger"])?.args)
    }

    pub fn sink(&self) -> anyhow::Result<SecuritySink> {
        match &self.security_log {
            None => Ok(SecuritySink::None),
            Some(spec) => SecuritySink::open(
                spec,
                self.security_log_max_mib.saturating_mul(1 << 20),
                self.security_log_keep,
            )
            .with_context(|| format!("--security-log {spec}")),
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format, "info,sqlx=warn", args.security.sink()?);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::CertFiles::load(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() && args.behind_proxy.is_empty() {
        bail!(
            "refusing to serve plain HTTP on {}: give --tls-cert and --tls-key, or listen on a \
             loopback address, or name the TLS-terminating proxy with --behind-proxy CIDR",
            args.listen
        );
    }
    let master_key = args.master_key.load(&args.db.data_dir)?;
    // Audit chain heads are sealed with a key derived from the master key.
    let options = crate::config::sealed_options(
        StoreOptions {
            sqlite_sync: if args.sqlite_sync == "normal" {
                SqliteSync::Normal
            } else {
                SqliteSync::Full
            },
            ..StoreOptions::default()
        },
        &master_key,
    );
    let region = match &args.region {
        Some(raw) => Some(
            labledger_domain::validate::RegionName::parse("--region", raw)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    // A schedule that cannot run is refused before anything starts.
    let backups = match (&args.backup_every, &args.backup_dir) {
        (Some(every), Some(dir)) => Some(crate::backup::schedule::BackupSchedule {
            dir: {
                crate::backup::schedule::prepare_dir(dir)?;
                dir.clone()
            },
            every: *every,
            keep: args
                .backup_keep
                .parse()
                .map_err(|e| anyhow::anyhow!("--backup-keep: {e:#}"))?,
            key: args.backup_key.load()?,
        }),
        _ => None,
    };
    let vault = open_vault(&args, master_key)?;
    let store = args.db.open_or_create(options).await?;
    first_start(&store).await?;
    // TOTP secrets are sealed by the platform key the master key wraps (not the master key).
    let user_secrets = crate::keys::user_secrets_key(&store, &master_key).await?;
    let throttle = labledger_domain::throttle::ThrottlePolicies::new(
        args.login_free_failures,
        args.login_max_failures,
        args.login_account_max_failures,
        args.lockout_minutes.max(1) * 60,
    );
    let trusted_proxies = labledger_server::client_addr::TrustedProxies::parse_list(
        args.behind_proxy.iter().map(String::as_str),
    )
    .map_err(|e| anyhow::anyhow!("--behind-proxy: {e}"))?;
    if let Some(url) = &args.smtp_url {
        labledger_server::mail::Mailer::new(url, &args.smtp_from).map_err(anyhow::Error::msg)?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let config = ServerConfig {
        throttle,
        trusted_proxies,
        smtp_url: args.smtp_url.clone(),
        smtp_from: args.smtp_from.clone(),
        // Behind a TLS proxy the public URL says so.
        https: tls.is_some() || public_url.starts_with("https://"),
        public_url,
        session_idle_secs: args.session_idle_minutes.max(1) * 60,
        session_lifetime_secs: args.session_lifetime_hours.max(1) * 3600,
        body_limit: args.body_limit_kib.max(1) * 1024,
        secret_box: labledger_auth::SecretBox::new(&user_secrets),
        vault: vault.clone(),
        max_file_size: args.max_file_size,
        export_approval_bytes: args.export_approval_bytes,
        backup_every: backups.as_ref().map(|b| b.every),
        region,
        ..ServerConfig::default()
    };
    let (app, _state) = build_app(store.clone(), config).map_err(anyhow::Error::msg)?;
    println!(
        "LabLedger listening on {scheme}://{addr} ({} database)",
        store.engine().name()
    );
    tracing::info!(%addr, engine = store.engine().name(), "listening");
    if let Some(schedule) = backups {
        crate::backup::schedule::spawn(store.clone(), vault.clone(), schedule);
    }
    if args.orphan_sweep_hours > 0 {
        labledger_server::sweep::spawn_sweeper(
            store.clone(),
            vault,
            std::time::Duration::from_secs(args.orphan_sweep_hours.saturating_mul(3600)),
            std::time::Duration::from_secs(24 * 3600),
        );
    }
    spawn_session_purge(store);
    match tls {
        Some(certs) => {
            let min = crate::tls::MinVersion::parse(&args.tls_min)?;
            let config = crate::tls::server_config(certs.clone(), min)?;
            crate::tls::reload_on_sighup(certs);
            // `tap_io` only so that axum hands the peer address over as `ConnectInfo`.
            let listener = crate::tls::TlsListener::new(listener, config)?.tap_io(|_| {});
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
    }
    Ok(())
}

/// The node's object store: its region's in the regions map, or else the one configured.
fn open_vault(args: &ServeArgs, master_key: [u8; 32]) -> anyhow::Result<labledger_vault::Vault> {
    let (Some(file), Some(region)) = (&args.regions, &args.region) else {
        return crate::vault::open_vault(&args.db.data_dir, &args.objects, master_key);
    };
    let map = crate::regions::RegionMap::load(file)?;
    let own = map.store_of(region)?;
    if args.objects.object_store.is_some() {
        let given = args.objects.spec(&args.db.data_dir)?;
        if &given != own {
            bail!(
                "--object-store {given} is not the object store of region {region} in {} \
                 ({own}): files of region {region} would land elsewhere",
                file.display()
            );
        }
    }
    let vault = own.open(master_key)?;
    tracing::info!(store = vault.description(), %region, "evidence vault of the node's region");
    Ok(vault)
}

/// On an empty database: the first organization and its Owner. The password comes from
/// `LABLEDGER_ADMIN_PASSWORD`, or is generated and printed this once.
async fn first_start(store: &Store) -> anyhow::Result<()> {
    if !store.is_empty().await? {
        return Ok(());
    }
    let email = std::env::var("LABLEDGER_ADMIN_EMAIL")
        .unwrap_or_else(|_| "admin@labledger.local".to_owned());
    let email =
        Email::parse("LABLEDGER_ADMIN_EMAIL", &email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let org_name = std::env::var("LABLEDGER_ORG_NAME").unwrap_or_else(|_| "My Lab".to_owned());
    let org_name =
        OrgName::parse("LABLEDGER_ORG_NAME", &org_name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (password, generated) = match std::env::var("LABLEDGER_ADMIN_PASSWORD") {
        Ok(p) => (
            strong_password(
                "LABLEDGER_ADMIN_PASSWORD",
                &p,
                &[email.as_str(), org_name.as_str()],
            )?,
            false,
        ),
        Err(_) => (
            NewPassword::parse("password", &labledger_auth::generate_password())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            true,
        ),
    };
    let hash = labledger_auth::hash_password_blocking(password.expose())?;
    let owner = NewOwner {
        email: email.clone(),
        name: PersonName::parse("name", "Administrator").map_err(|e| anyhow::anyhow!("{e}"))?,
        password_hash: hash,
    };
    let (org, _, _) = store
        .create_org(org_name.clone(), owner, Actor::system())
        .await?;
    println!("First start: created organization \"{org_name}\" ({org}) with owner {email}");
    if generated {
        println!("Owner password (shown this once): {}", password.expose());
    }
    Ok(())
}

/// A password set from the environment or the command line: long enough and not easy to guess
/// (the same rule as the API's).
pub fn strong_password(field: &str, raw: &str, context: &[&str]) -> anyhow::Result<NewPassword> {
    let password = NewPassword::parse(field, raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    labledger_auth::check_password_strength(password.expose(), context).map_err(|weak| {
        anyhow::anyhow!("{field} {weak} Choose a longer, less guessable password.")
    })?;
    Ok(password)
}

fn spawn_session_purge(store: Store) {
    let schedule = labledger_server::jobs::Schedule {
        job: "session_purge",
        every: std::time::Duration::from_secs(3600),
        lease: std::time::Duration::from_secs(600),
    };
    let purging = store.clone();
    labledger_server::jobs::spawn_scheduled(store, schedule, move || {
        let store = purging.clone();
        async move {
            let purged = store
                .purge_expired_sessions()
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!("{purged} expired sessions removed"))
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
