//! Operator commands: organizations and audit verification. Operators manage the instance and
//! never see org data.

use crate::config::{DatabaseArgs, KeyedDatabaseArgs};
use anyhow::{anyhow, bail};
use labledger_domain::validate::{Email, NewPassword, OrgName, PersonName};
use labledger_domain::OrgId;
use labledger_store::{Actor, NewOwner, StoreOptions, Verification};

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Just-in-time support access to an organization's data.
    Access {
        #[command(subcommand)]
        command: AccessCommand,
    },
    /// User accounts (for instances without mail: no password-reset link can be sent).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// List user accounts: email, name, MFA, organizations, whether a reset awaits a change.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Give a user a one-time password (printed once) that serves only to choose a new one at
    /// the next login; ends all their sessions; recorded in each of their organizations' audit
    /// chains.
    ResetPassword {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        email: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AccessCommand {
    /// File a support access request for an existing user account that is not a member. It
    /// grants nothing until an Owner/Admin of the organization approves it; the grant then lasts
    /// the given hours (at most 8) and is recorded in the organization's audit chain.
    Request {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        org: String,
        /// The support user's email (an existing account).
        #[arg(long)]
        email: String,
        /// A built-in role other than Owner, e.g. Auditor.
        #[arg(long)]
        role: String,
        /// 1 to 8.
        #[arg(long)]
        hours: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(clap::Subcommand)]
pub enum OrgCommand {
    /// Create an organization and its first Owner. The owner's password comes from
    /// LABLEDGER_OWNER_PASSWORD, or is generated and printed once.
    Create {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
        #[arg(long, default_value = "Owner")]
        owner_name: String,
    },
    /// List organizations (names, status, member counts; no org data).
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Ask to move an organization's data to another region (`--region`). Nothing moves until
    /// an Owner of the organization approves it (org settings, `region`); then `--complete`
    /// runs it: the organization's writes pause, its files are copied to the new region's
    /// object store (`--regions`) and checked there, the organization switches region (only
    /// that region's nodes serve it from then on), and the copies elsewhere are removed. Each
    /// step is recorded in the organization's audit chain; an interrupted `--complete` carries
    /// on when run again.
    Move {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        org: String,
        /// The region's name (`eu`, `us-east`).
        #[arg(long, required_unless_present = "complete")]
        region: Option<String>,
        /// Run the approved move (or finish an interrupted one).
        #[arg(long, requires = "regions")]
        complete: bool,
        /// The regions map (JSON): where each region's files are stored.
        #[arg(long, env = "LABLEDGER_REGIONS_FILE")]
        regions: Option<std::path::PathBuf>,
        /// Keep the organization's files in the old region's store after the move (run
        /// `--complete` again without this flag to remove them).
        #[arg(long, requires = "complete")]
        keep_source: bool,
    },
    /// Disable an organization: its members can no longer reach its data.
    Disable {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        org: String,
    },
    /// Delete an organization by destroying its keys (crypto-shredding): its encrypted
    /// objects can never be decrypted again, its members lose access; its audit chain stays.
    Delete {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        id: String,
        /// The organization's exact name, to confirm.
        #[arg(long)]
        confirm: String,
    },
    /// Re-enable a disabled organization.
    Enable {
        #[command(flatten)]
        db: KeyedDatabaseArgs,
        #[arg(long)]
        org: String,
    },
}

fn operator() -> Actor {
    let who = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
    Actor::operator(&format!("cli:{who}"))
}

fn field<T>(r: Result<T, labledger_domain::FieldError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow!("{e}"))
}

fn org_id(raw: &str) -> anyhow::Result<OrgId> {
    raw.parse()
        .map_err(|_| anyhow!("`{raw}` is not an organization id"))
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    let command = match command {
        AdminCommand::Org { command } => command,
        AdminCommand::Access { command } => return access(command).await,
        AdminCommand::User { command } => return user(command).await,
    };
    match command {
        OrgCommand::Create {
            db,
            name,
            owner_email,
            owner_name,
        } => {
            let name = field(OrgName::parse("--name", &name))?;
            let email = field(Email::parse("--owner-email", &owner_email))?;
            let owner_name = field(PersonName::parse("--owner-name", &owner_name))?;
            let (password, generated) = match std::env::var("LABLEDGER_OWNER_PASSWORD") {
                Ok(p) => (
                    crate::serve::strong_password(
                        "LABLEDGER_OWNER_PASSWORD",
                        &p,
                        &[email.as_str(), owner_name.as_str(), name.as_str()],
                    )?,
                    false,
                ),
                Err(_) => (
                    field(NewPassword::parse(
                        "password",
                        &labledger_auth::generate_password(),
                    ))?,
                    true,
                ),
            };
            let password_hash = labledger_auth::hash_password_blocking(password.expose())?;
            let store = db.open(true).await?;
            let owner = NewOwner {
                email: email.clone(),
                name: owner_name,
                password_hash,
            };
            let (org, user, created) = store.create_org(name.clone(), owner, operator()).await?;
            println!("Created organization \"{name}\" ({org}); owner {email} ({user})");
            if created && generated {
                println!("Owner password (shown this once): {}", password.expose());
            } else if !created {
                println!("{email} already had an account: it keeps its password");
            }
        }
        OrgCommand::List { db } => {
            let store = db.open(StoreOptions::default()).await?;
            println!(
                "{:<36}  {:<8}  {:>7}  {:<16}  name",
                "id", "status", "members", "region"
            );
            for org in store.list_orgs().await? {
                let now = if org.region.is_empty() {
                    "-"
                } else {
                    org.region.as_str()
                };
                let to = org.region_move_to.as_str();
                let region = match org.region_move_phase {
                    labledger_store::MovePhase::None => now.to_owned(),
                    labledger_store::MovePhase::Requested => format!("{now} → {to}?"),
                    labledger_store::MovePhase::Approved => format!("{now} → {to} approved"),
                    labledger_store::MovePhase::Copying => format!("{now} → {to} moving"),
                };
                println!(
                    "{:<36}  {:<8}  {:>7}  {:<16}  {}",
                    org.id, org.status, org.members, region, org.name
                );
            }
        }
        OrgCommand::Move {
            db,
            org,
            region,
            complete,
            regions,
            keep_source,
        } => {
            let region = region
                .map(|r| labledger_domain::validate::RegionName::parse("--region", &r))
                .transpose()
                .map_err(|e| anyhow!("{e}"))?;
            match (complete, regions, region) {
                (true, Some(file), region) => {
                    let map = crate::regions::RegionMap::load(&file)?;
                    let store = db.open(false).await?;
                    let org = org_id(&org)?;
                    if let Some(region) = region {
                        let pending = store.org_region(org).await?.map(|r| r.move_to);
                        if pending
                            .as_deref()
                            .is_some_and(|p| !p.is_empty() && p != region.as_str())
                        {
                            bail!(
                                "the move pending for organization {org} is not to region {region}"
                            );
                        }
                    }
                    crate::region_move::complete(&store, &map, org, keep_source, operator())
                        .await?;
                }
                (_, _, Some(region)) => {
                    let store = db.open(false).await?;
                    store
                        .request_region_move(org_id(&org)?, region.clone(), operator())
                        .await?;
                    println!(
                        "Asked to move organization {org} to region {region}: waiting for an \
                         Owner's approval (organization settings), then run this command with \
                         --complete --regions FILE"
                    );
                }
                _ => bail!("give --region REGION to ask for a move, or --complete --regions FILE"),
            }
        }
        OrgCommand::Disable { db, org } => {
            let store = db.open(false).await?;
            store
                .set_org_disabled(org_id(&org)?, true, operator())
                .await?;
            println!("Disabled organization {org}");
        }
        OrgCommand::Delete { db, id, confirm } => {
            let store = db.open(false).await?;
            store.delete_org(org_id(&id)?, confirm, operator()).await?;
            println!("Deleted organization {id}: its keys are destroyed");
        }
        OrgCommand::Enable { db, org } => {
            let store = db.open(false).await?;
            store
                .set_org_disabled(org_id(&org)?, false, operator())
                .await?;
            println!("Enabled organization {org}");
        }
    }
    Ok(())
}

async fn access(command: AccessCommand) -> anyhow::Result<()> {
    let AccessCommand::Request {
        db,
        org,
        email,
        role,
        hours,
        reason,
    } = command;
    let org = org_id(&org)?;
    let email = field(Email::parse("--email", &email))?;
    let role = field(labledger_store::requestable_role("--role", &role))?;
    if !(1..=8).contains(&hours) {
        bail!("--hours: must be 1 to 8");
    }
    let minutes = field(labledger_store::check_duration("--hours", hours * 60))?;
    let reason = field(labledger_domain::validate::Reason::parse(
        "--reason", &reason,
    ))?;
    let store = db.open(false).await?;
    let id = store
        .request_support_access(
            org,
            email.clone(),
            labledger_store::NewAccessRequest {
                role,
                reason,
                duration_minutes: minutes,
            },
            operator(),
        )
        .await?;
    println!(
        "Filed support access request {id} for {email} as {} in organization {org} ({hours} h); \
         it grants nothing until an Owner or Admin of the organization approves it",
        role.name()
    );
    Ok(())
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::List { db } => {
            let store = db.open(StoreOptions::default()).await?;
            println!(
                "{:<36}  {:<3}  {:>4}  {:<14}  email (name)",
                "id", "mfa", "orgs", "password"
            );
            for u in store.list_users().await? {
                println!(
                    "{:<36}  {:<3}  {:>4}  {:<14}  {} ({})",
                    u.id,
                    if u.mfa { "on" } else { "off" },
                    u.orgs,
                    if u.must_change_password {
                        "must change"
                    } else {
                        "set"
                    },
                    u.email,
                    u.name
                );
            }
        }
        UserCommand::ResetPassword { db, email } => {
            let email = field(Email::parse("--email", &email))?;
            let store = db.open(false).await?;
            let password = labledger_auth::generate_password();
            let hash = labledger_auth::hash_password_blocking(&password)?;
            let done = store
                .reset_password_by_operator(email.as_str().to_owned(), hash, operator())
                .await?;
            println!(
                "Reset the password of {email} ({}): {} session(s) ended; recorded in {} \
                 organization(s)",
                done.user, done.sessions_ended, done.orgs
            );
            println!("One-time password (shown this once; it serves only to choose a new one): {password}");
        }
    }
    Ok(())
}

/// Verifies one org's chain or every org's, with each head's seal; returns the process exit code.
pub async fn audit_verify(db: KeyedDatabaseArgs, org: Option<String>) -> anyhow::Result<u8> {
    let store = db.open(false).await?;
    let orgs = store.list_orgs().await?;
    let targets: Vec<(OrgId, String)> = match org {
        Some(raw) => {
            let id = org_id(&raw)?;
            match orgs.into_iter().find(|o| o.id == id) {
                Some(o) => vec![(o.id, o.name)],
                None => bail!("no organization {id}"),
            }
        }
        None => orgs.into_iter().map(|o| (o.id, o.name)).collect(),
    };
    if targets.is_empty() {
        println!("no organizations in this database: nothing to verify");
        return Ok(0);
    }
    let (total, mut broken) = (targets.len(), 0);
    for (id, name) in targets {
        let started = std::time::Instant::now();
        match store.verify_audit_as_operator(id).await? {
            Verification::Intact { events, head_hash } => println!(
                "org {id} ({name}): intact, {events} events, chain head {} ({:.1?})",
                hex_head(&head_hash),
                started.elapsed()
            ),
            Verification::Broken(b) => {
                broken += 1;
                println!(
                    "org {id} ({name}): BROKEN at sequence number {}: {b}",
                    b.seq()
                );
            }
        }
    }
    if broken == 0 {
        println!("verdict: all {total} organization chain(s) intact");
        Ok(0)
    } else {
        println!("verdict: {broken} of {total} organization chain(s) BROKEN");
        Ok(1)
    }
}

fn hex_head(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
