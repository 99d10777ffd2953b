use labledger_domain::{FieldErrors, Permission};

/// What the store can refuse or fail with. The server maps each variant to one HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist in this org (or exists only in another org: the same answer).
    #[error("not found")]
    NotFound,
    #[error("missing permission {0}")]
    Forbidden(Permission),
    /// The actor holds the permission but the rules deny this particular change
    /// (e.g. granting a permission they do not hold themselves).
    #[error("{0}")]
    NotAllowed(String),
    /// A rule of the domain refuses the change (e.g. the last Owner cannot leave).
    #[error("{0}")]
    Refused(String),
    /// The change clashes with existing data (e.g. a duplicate name).
    #[error("{0}")]
    Conflict(String),
    /// The record exists but its content was destroyed (a deleted file's tombstone).
    #[error("{0}")]
    Gone(String),
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("the organization is disabled")]
    OrgDisabled,
    /// A write job changed org data without recording an audit event: a programming error,
    /// refused so the change rolls back.
    #[error("write without an audit event refused")]
    Unaudited,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the write queue is closed")]
    WriterGone,
    /// The write ran but its transaction did not commit (nothing of it was stored). The text is
    /// the driver's, for the log only.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// An operator pointed a command at a place that holds no LabLedger database (a wrong
    /// directory or URL): nothing was created there.
    #[error("{0}")]
    NoLabLedger(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The database is out of reach for now (pool exhausted or closed, writer gone): worth a
    /// retry, unlike a fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::WriterGone
                | StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        )
    }

    /// A uniqueness rule of the schema refused the write: a clash with an existing record.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(e)
            if e.as_database_error().is_some_and(|d| d.is_unique_violation()))
    }
}

impl From<labledger_domain::FieldError> for StoreError {
    fn from(e: labledger_domain::FieldError) -> Self {
        StoreError::Invalid(e.into())
    }
}
