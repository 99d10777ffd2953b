//! LabLedger's storage: the only code that speaks SQL.
//!
//! Org data has one door: [`Store::org`] takes an [`OrgScope`] (which only the store can make,
//! after checking membership) and every query behind it binds that org's id. Its writes run in
//! one transaction that also appends their audit events to the org's hash chain; a write that
//! records no event is refused and rolled back. Operator commands reach an org's data only through
//! `Store::operator_write`, under the same rules; every chain head carries a keyed seal.

mod access;
mod analyses;
mod attachments;
mod batches;
mod chain;
mod compliance;
mod credentials;
mod dashboard;
mod drills;
mod eln_import;
mod engine;
mod error;
mod export_requests;
mod exports;
mod file_links;
mod files;
mod instance;
mod invitations;
mod leases;
mod lineage;
mod members;
mod mfa;
mod operator;
mod operator_users;
mod org;
mod projects;
mod protocols;
mod read_conn;
mod recall;
mod retention;
mod review;
mod roles;
mod rotation;
mod sample_fields;
mod samples;
mod scope;
mod seal;
mod security;
mod sensitive;
mod sessions;
mod signatures;
mod snapshot;
mod storage;
#[cfg(test)]
mod tests;
mod tokens;
mod trail;
mod tx;
mod verify;
mod visibility;
mod workflows;
mod write_conn;
mod writer;

pub use access::{
    check_duration, requestable_role, AccessRequest, NewAccessRequest, MAX_GRANT_MINUTES,
};
pub use analyses::{Analysis, AnalysisInput, NewAnalysis, Provenance};
pub use attachments::{AttachTo, AttachedFile, FileAttachment};
pub use batches::{Batch, BatchSample, SampleSelection};
pub use chain::{StoredEvent, Verification};
pub use compliance::{
    ComplianceFilter, CompliancePatch, ComplianceRecord, NewComplianceRecord, RecordLink,
    COMPLIANCE_RECORD,
};
pub use credentials::{ThrottleKey, ThrottleScope};
pub use dashboard::{Dashboard, DashboardItem};
pub use drills::BackupDrill;
pub use eln_import::{ElnImport, ElnImported, ImportedSample};
pub use engine::{sqlite_url_for_data_dir, Engine, SqliteSync};
pub use error::{Result, StoreError};
pub use export_requests::ExportRequest;
pub use exports::{ExportKey, ExportRecord};
pub use files::{CreatedFile, FileObject, FileRecord, NewFile};
pub use instance::{Membership, MovePhase, NewOwner, OrgRegion, OrgSummary, UserRecord};
pub use invitations::{AcceptedInvitation, Invitation, InvitationAccount, PendingInvitation};
pub use labledger_domain::custom_field::FieldDef;
pub use leases::JobRecord;
pub use lineage::{Lineage, NewChildren, Relative};
pub use members::{Member, NewMember};
pub use mfa::{OrgSettings, TotpRecord};
pub use operator_users::{OperatorReset, UserListing};
pub use org::Org;
pub use projects::{Project, ProjectChange, ProjectMember};
pub use protocols::{Protocol, ProtocolVersion, VersionContent, VersionPatch, PROTOCOL_VERSION};
pub use retention::DeletedFile;
pub use review::{AccessReview, ActiveGrant, ReviewedMember, ReviewedToken};
pub use roles::{Role, RoleChange};
pub use rotation::{OrgKeyRow, RotationObject};
pub use samples::{NewSample, Sample, SampleFilter};
pub use scope::{Actor, OrgScope, RequestMeta};
pub use seal::HeadSealKey;
pub use sensitive::{FieldKeyMaker, FieldKeyMaterial, LegacySecret, PlatformKeyRow};
pub use sessions::{Session, SessionInfo, SessionUser};
pub use signatures::{CheckedSignature, Signature, Signer};
pub use snapshot::{ChainHead, DumpItem, Loader, SnapshotInfo};
pub use storage::{
    CustodyEvent, CustodyRecord, Location, LocationDetail, NewLocation, Occupant, OccupantSample,
    Placement,
};
pub use tokens::{ApiToken, NewApiToken, TokenResolution};
pub use trail::{AuditFilter, AuditPage};
pub use workflows::{
    RunDetail, RunFilter, RunSignatures, RunTarget, WorkflowRun, WorkflowStep, WORKFLOW_RUN,
    WORKFLOW_STEP,
};

use labledger_domain::{OrgId, UserId};
use read_conn::{LiteReaders, Reader};
use sqlx::Connection;
use std::sync::Arc;
use writer::WritePath;

/// Options for opening a store.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    pub sqlite_sync: SqliteSync,
    /// Read connections (SQLite) or pooled connections (PostgreSQL); 0 picks a default.
    pub max_connections: u32,
    /// The key that seals audit chain heads (derived from the master key). Without it the store
    /// can read but not append to or verify any org's chain.
    pub head_seal: Option<HeadSealKey>,
    /// Refuse a place that holds no LabLedger database instead of creating one there (every
    /// operator command but `serve`).
    pub existing_only: bool,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    read: Reader,
    write: WritePath,
    head_seal: Option<HeadSealKey>,
    recall: recall::Recall,
    /// Sessions by token hash, before the idle and expiry checks (made at each use); unknown ones are not kept.
    sessions: recall::Answers<Vec<u8>, Option<SessionUser>>,
    /// A user's standing in an org.
    standings: recall::Answers<(UserId, OrgId), instance::Standing>,
    /// Whether an org requires MFA.
    org_mfa: recall::Answers<OrgId, bool>,
    /// An org's custom sample fields (every registration checks against them).
    field_defs: recall::Answers<OrgId, Vec<labledger_domain::custom_field::FieldDef>>,
}

impl Store {
    /// Connects, applies pending migrations (refusing a schema newer than this binary) and starts
    /// the write path. Given the head seal key, seals the chain heads of a database that has
    /// none yet (once; see `seal.rs`).
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        if options.existing_only {
            engine::require_labledger(engine, url).await?;
        }
        let (read, write) = match engine {
            Engine::Sqlite => {
                engine::sqlite_migrate(url).await?;
                let conn = engine::sqlite_writer(url, options.sqlite_sync)?;
                let checkpointer = engine::sqlite_checkpointer(url)?;
                let readers = LiteReaders::start(url, pick(options.max_connections, 4))?;
                (
                    Reader::Sqlite(readers),
                    WritePath::sqlite(conn, checkpointer)?,
                )
            }
            Engine::Postgres => {
                let mut conn = sqlx::AnyConnection::connect(url).await?;
                engine::migrate(engine, &mut conn).await?;
                conn.close().await?;
                let pool = engine::postgres_pool(url, pick(options.max_connections, 16)).await?;
                (Reader::Pool(pool.clone()), WritePath::postgres(pool))
            }
        };
        let store = Store {
            inner: Arc::new(Inner {
                engine,
                read,
                write,
                head_seal: options.head_seal,
                recall: Default::default(),
                sessions: Default::default(),
                standings: Default::default(),
                org_mfa: Default::default(),
                field_defs: Default::default(),
            }),
        };
        if store.inner.head_seal.is_some() {
            seal::seal_existing_heads(&store).await?;
        }
        Ok(store)
    }

    /// Refuses a place that LabLedger never set up (see [`StoreOptions::existing_only`]),
    /// without opening a store or changing anything.
    pub async fn require_labledger(url: &str) -> Result<()> {
        sqlx::any::install_default_drivers();
        engine::require_labledger(Engine::from_url(url)?, url).await
    }

    /// The head seal key, which every append to and verification of a chain needs.
    pub(crate) fn head_seal(&self) -> Result<&HeadSealKey> {
        self.inner.head_seal.as_ref().ok_or_else(|| {
            StoreError::Refused(
                "the audit chain heads are sealed with a key derived from the master key: \
                 this needs the master key (LABLEDGER_MASTER_KEY, _FILE or DATA_DIR/master.key)"
                    .into(),
            )
        })
    }

    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    /// The org-scoped door to one org's data.
    pub fn org<'a>(&'a self, scope: &'a OrgScope) -> Org<'a> {
        Org::new(self, scope)
    }

    /// Readiness: the database answers and its schema is exactly this binary's.
    pub async fn ready(&self) -> Result<bool> {
        engine::migrations_current(self.inner.engine, &self.inner.read).await
    }

    /// Connections of the read pool: (open, idle).
    pub fn pool_use(&self) -> (u32, usize) {
        self.inner.read.use_now()
    }

    pub(crate) fn reader(&self) -> &Reader {
        &self.inner.read
    }

    /// Runs a write. Anything it changes may change who may do what: the remembered answers
    /// are forgotten once it is done.
    pub(crate) async fn write<T: Send + 'static>(&self, f: writer::WriteFn<T>) -> Result<T> {
        let result = self.inner.write.run(f).await;
        self.inner.recall.forget_all();
        result
    }

    /// Runs a write to one org's chain whose job tells (with its value) whether it changed
    /// anyone's access.
    pub(crate) async fn write_for_org<T: Send + 'static>(
        &self,
        org: OrgId,
        f: writer::WriteFn<(T, bool)>,
    ) -> Result<T> {
        let result = self.inner.write.run_for_org(org, f).await;
        if !matches!(result, Ok((_, false))) {
            self.inner.recall.forget_all();
        }
        result.map(|(value, _)| value)
    }
}

fn pick(n: u32, default: u32) -> u32 {
    if n == 0 {
        default
    } else {
        n
    }
}
