//! `labledger`: the one binary. `serve` runs the server; `admin` and `audit` are operator tools
//! that work on the same database, also while `serve` runs.

mod admin;
mod backup;
mod config;
mod export;
mod import;
mod keys;
mod region_move;
mod regions;
mod serve;
mod tls;
mod vault;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "labledger",
    version,
    about = "LabLedger: laboratory operations and regulated data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Instance administration (operators; no access to org data).
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Key management: rotate the master key or an organization's key.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The evidence vault's object store: `sweep` removes orphaned objects.
    Vault {
        #[command(subcommand)]
        command: vault::VaultCommand,
    },
    /// Encrypted backups: create, verify (the restore drill), restore, prune.
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Import from other ELNs: `import eln FILE --org ORG --as EMAIL`.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// Signed project exports (`.eln`).
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Check an export offline: every entry's SHA-256 against the signed manifest, the
    /// Ed25519 signature, and ro-crate-metadata.json's hashes. Exits 0 with a summary, 1
    /// naming the first bad entry.
    Verify {
        /// The `.eln` file.
        file: std::path::PathBuf,
        /// The org's export public key (hex, from `GET …/exports/public-key`); the archive's
        /// embedded key must equal it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every org's hash chain (or one org's) and check it against its chain head.
    /// Exits 0 when intact, 1 naming the first broken sequence number.
    Verify {
        #[command(flatten)]
        db: config::KeyedDatabaseArgs,
        /// Only this organization.
        #[arg(long)]
        org: Option<String>,
    },
}

/// The subcommand path of this invocation (`keys rotate`, `admin user reset-password`): the
/// words before the first flag, never a flag's value (it could be a key or a password).
fn command_path() -> String {
    std::env::args()
        .skip(1)
        .take_while(|a| !a.starts_with('-'))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // rustls is built with both of its crypto providers (mail: aws-lc-rs, the S3 client: ring),
    // so it cannot pick one by itself: TLS clients that ask for the default get aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Command::Export {
        command: ExportCommand::Verify { file, public_key },
    } = &cli.command
    {
        return match export::verify(file, public_key.as_deref()) {
            Ok(s) => {
                println!(
                    "OK: {} entries ({} bytes) under {}/ match the manifest signed by Ed25519 key {}",
                    s.entries, s.bytes, s.root, s.public_key
                );
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("export verification FAILED: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Operator commands that change the instance (keys, orgs, users, access, backups) are security
    // events themselves: they go to the same stream as the server's (`LABLEDGER_SECURITY_LOG`).
    let operator_command = matches!(
        cli.command,
        Command::Admin { .. } | Command::Keys { .. } | Command::Backup { .. }
    )
    .then(command_path);
    if operator_command.is_some() {
        // The same settings (and rotation) as `serve`'s, from the same environment.
        let sink = serve::SecurityLogArgs::from_env()
            .and_then(|args| args.sink())
            .unwrap_or_else(|e| {
                eprintln!("warning: the security log: {e:#}; security events go to stderr");
                labledger_server::security_log::SecuritySink::Stderr
            });
        serve::init_logging("text", "warn", sink);
    }
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await.map(|()| 0),
            Command::Admin { command } => admin::run(command).await.map(|()| 0),
            Command::Keys { command } => keys::run(command).await.map(|()| 0),
            Command::Audit {
                command: AuditCommand::Verify { db, org },
            } => admin::audit_verify(db, org).await,
            Command::Vault { command } => vault::run(command).await,
            Command::Backup { command } => backup::run(command).await,
            Command::Import { command } => import::run(command).await,
            Command::Export { .. } => Ok(0),
        }
    });
    if let Some(command) = &operator_command {
        let outcome = match &result {
            Ok(0) => "succeeded",
            _ => "failed",
        };
        let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        tracing::info!(
            target: "security",
            event = "operator_command",
            command = %command,
            outcome,
            actor = %format_args!("operator:{operator}"),
        );
    }
    match result {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            // A command pointed at no LabLedger at all is a usage error, told apart from a
            // failure of the command itself.
            let nothing_there = e.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<labledger_store::StoreError>(),
                    Some(labledger_store::StoreError::NoLabLedger(_))
                )
            });
            if nothing_there {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
