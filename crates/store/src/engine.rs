//! Picking the engine from the URL, connecting, and migrating.

use crate::error::{Result, StoreError};
use crate::read_conn::Reader;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// How hard SQLite flushes each commit: FULL by default (an acknowledged write survives power loss).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl Engine {
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            Err(StoreError::Refused(
                "database URL must start with sqlite: or postgres://".to_owned(),
            ))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Row locking clause for the chain head: PostgreSQL queues writers of one org on that row;
    /// SQLite has one writer, so nothing to lock.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Engine::Sqlite => "",
            Engine::Postgres => " FOR UPDATE",
        }
    }
}

/// The SQLite URL of the database file inside a data directory.
pub fn sqlite_url_for_data_dir(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("labledger.db").display())
}

fn options(url: &str) -> Result<AnyConnectOptions> {
    let opts = AnyConnectOptions::from_str(url)?;
    // Statement logging would put every query at INFO; we log requests instead.
    Ok(opts.disable_statement_logging())
}

/// Brings the schema up to date on a connection of sqlx (its migrator), then closes it.
pub(crate) async fn sqlite_migrate(url: &str) -> Result<()> {
    let mut conn = options(url)?.connect().await?;
    conn.execute(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )
    .await?;
    migrate(Engine::Sqlite, &mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The writer's connection (rusqlite, on the writer thread) to the database file of `url`.
pub(crate) fn sqlite_writer(url: &str, sync: SqliteSync) -> Result<rusqlite::Connection> {
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    let conn = rusqlite::Connection::open(&path).map_err(|e| {
        StoreError::Refused(format!(
            "cannot open the SQLite database {}: {e}",
            path.display()
        ))
    })?;
    let sync = match sync {
        SqliteSync::Full => "FULL",
        SqliteSync::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 65536; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;"
    ))
    .map_err(|e| StoreError::Refused(format!("cannot set up the SQLite writer: {e}")))?;
    Ok(conn)
}

/// A connection that copies the WAL back into the database file beside the writer
/// (`PRAGMA wal_checkpoint(PASSIVE)` never blocks the writer or the readers).
pub(crate) fn sqlite_checkpointer(url: &str) -> Result<rusqlite::Connection> {
    let conn = sqlite_open(url)?;
    conn.execute_batch("PRAGMA busy_timeout = 10000;")
        .map_err(|e| StoreError::Refused(format!("cannot set up the SQLite checkpointer: {e}")))?;
    Ok(conn)
}

fn sqlite_open(url: &str) -> Result<rusqlite::Connection> {
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    rusqlite::Connection::open(&path).map_err(|e| {
        StoreError::Refused(format!(
            "cannot open the SQLite database {}: {e}",
            path.display()
        ))
    })
}

/// A read-only connection of a reader thread (see `read_conn.rs`).
pub(crate) fn sqlite_reader(url: &str, cache_kib: u32) -> Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(&path, flags).map_err(|e| {
        StoreError::Refused(format!(
            "cannot open the SQLite database {}: {e}",
            path.display()
        ))
    })?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -{cache_kib};"
    ))
    .map_err(|e| StoreError::Refused(format!("cannot set up an SQLite reader: {e}")))?;
    Ok(conn)
}

pub(crate) async fn postgres_pool(url: &str, max: u32) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url)?)
        .await?)
}

/// Refuses a database that LabLedger never set up, without creating or changing anything: an
/// SQLite file that does not exist (or has no LabLedger tables), a PostgreSQL database without
/// LabLedger's migrations.
pub(crate) async fn require_labledger(engine: Engine, url: &str) -> Result<()> {
    let place = match engine {
        Engine::Sqlite => {
            let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .get_filename()
                .to_owned();
            if !path.is_file() {
                return Err(StoreError::NoLabLedger(format!(
                    "no LabLedger database at {} (is --data-dir right? `labledger serve` \
                     creates one on first start)",
                    path.display()
                )));
            }
            path.display().to_string()
        }
        Engine::Postgres => "the PostgreSQL database of the URL".to_owned(),
    };
    let read_only = match engine {
        Engine::Sqlite => format!("{}?mode=ro", url.split('?').next().unwrap_or(url)),
        Engine::Postgres => url.to_owned(),
    };
    let mut conn = options(&read_only)?.connect().await?;
    let known: Option<i64> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 1 AND success = TRUE",
    )
    .fetch_optional(&mut conn)
    .await
    .unwrap_or(None);
    conn.close().await?;
    if known.unwrap_or(0) == 0 {
        return Err(StoreError::NoLabLedger(format!(
            "{place} holds no LabLedger data (is the --data-dir or --database-url right? \
             `labledger serve` sets one up on first start)"
        )));
    }
    Ok(())
}

/// Applies pending migrations. A database migrated by a newer binary (a version this binary
/// does not know) is refused: sqlx reports the unknown version and nothing is changed.
pub(crate) async fn migrate(engine: Engine, conn: &mut AnyConnection) -> Result<()> {
    engine.migrator().run(conn).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Refused(format!(
            "the database schema is newer than this binary (it has migration {v}, which this \
             binary does not know): upgrade LabLedger instead"
        )),
        other => StoreError::Migrate(other),
    })
}

/// Whether every migration this binary knows is applied, and nothing newer.
pub(crate) async fn migrations_current(engine: Engine, reader: &Reader) -> Result<bool> {
    let applied: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(reader)
    .await?;
    let known: Vec<i64> = engine.migrator().iter().map(|m| m.version).collect();
    Ok(applied == known)
}
