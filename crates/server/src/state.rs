//! Shared state of the server: the store, the password pool, configuration, metrics.

use labledger_auth::{PasswordHasherPool, SecretBox};
use labledger_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// A session unused this long ends (seconds).
    pub session_idle_secs: i64,
    /// A session ends this long after login, used or not (seconds).
    pub session_lifetime_secs: i64,
    /// Largest accepted request body for JSON routes (bytes).
    pub body_limit: usize,
    /// Users reach this server over HTTPS (its own TLS, or a TLS proxy named by an `https://`
    /// public URL): cookies are `Secure`, the session cookie takes the `__Host-` prefix (no
    /// subdomain can set or shadow it), and responses carry HSTS.
    pub https: bool,
    /// Password hashes computed at once, at most. Default: one core fewer than the machine has
    /// (at least one), so a login storm can never take every core from the other requests.
    pub hash_permits: usize,
    /// Seals users' secrets at rest (TOTP secrets) with the platform `user-secrets` key, which
    /// the master key wraps. `serve` loads the real key; the default is an ephemeral one.
    pub secret_box: SecretBox,
    /// Sensitive actions need the password entered within this many seconds (step-up).
    pub step_up_window_secs: i64,
    /// Back-off and lockout of password guesses: per (account, address), per account, per
    /// address.
    pub throttle: labledger_domain::throttle::ThrottlePolicies,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--behind-proxy`).
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    /// SMTP server for invitations and password resets (`smtp://host:port`, `smtps://user:pass@host`).
    pub smtp_url: Option<String>,
    /// The From address of mail.
    pub smtp_from: String,
    /// The address users reach this server at, for links in mail (no trailing slash).
    pub public_url: String,
    /// Encrypted evidence objects (object store + master key). `serve` configures the data
    /// directory or S3; the default is in memory with an ephemeral key.
    pub vault: labledger_vault::Vault,
    /// Largest accepted evidence file (bytes).
    pub max_file_size: u64,
    /// A project export whose files add up to more than this (bytes) waits for a second admin.
    pub export_approval_bytes: u64,
    /// The region this node serves (`serve --region`): orgs pinned to another answer 421.
    pub region: Option<String>,
    /// Backups are scheduled this often (`serve --backup-every`): readiness watches them.
    pub backup_every: Option<std::time::Duration>,
}

impl ServerConfig {
    /// The session cookie's name: `__Host-` prefixed over HTTPS.
    pub fn session_cookie(&self) -> &'static str {
        if self.https {
            crate::extract::SESSION_COOKIE_HTTPS
        } else {
            crate::extract::SESSION_COOKIE
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 30 * 60,
            session_lifetime_secs: 12 * 3600,
            body_limit: 1024 * 1024,
            https: false,
            hash_permits: std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1).max(1))
                .unwrap_or(1),
            secret_box: SecretBox::ephemeral(),
            step_up_window_secs: 5 * 60,
            throttle: Default::default(),
            trusted_proxies: Default::default(),
            smtp_url: None,
            smtp_from: "LabLedger <labledger@localhost>".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            vault: labledger_vault::Vault::ephemeral(),
            max_file_size: 10 << 30,
            export_approval_bytes: labledger_domain::export::DEFAULT_APPROVAL_BYTES,
            backup_every: None,
            region: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hasher: PasswordHasherPool,
    config: ServerConfig,
    metrics: PrometheusHandle,
    mailer: Option<crate::mail::Mailer>,
    started_at: labledger_domain::time::Timestamp,
}

impl AppState {
    pub fn new(
        store: Store,
        hasher: PasswordHasherPool,
        config: ServerConfig,
        metrics: PrometheusHandle,
    ) -> Self {
        let mailer = match &config.smtp_url {
            Some(url) => match crate::mail::Mailer::new(url, &config.smtp_from) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "the SMTP configuration is unusable: mail is off");
                    None
                }
            },
            None => None,
        };
        Self {
            inner: Arc::new(Inner {
                store,
                hasher,
                config,
                metrics,
                mailer,
                started_at: labledger_domain::time::Timestamp::now(),
            }),
        }
    }
    /// The mailer, when SMTP is configured.
    pub fn mailer(&self) -> Option<&crate::mail::Mailer> {
        self.inner.mailer.as_ref()
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn hasher(&self) -> &PasswordHasherPool {
        &self.inner.hasher
    }
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.inner.metrics
    }
    /// When this process began serving.
    pub fn started_at(&self) -> labledger_domain::time::Timestamp {
        self.inner.started_at
    }
}
