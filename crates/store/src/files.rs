//! Evidence files of one org: the org's wrapped key, encrypted objects (one per distinct
//! content, found by a keyed content address), and immutable file versions. Uploads are
//! `file.upload` audit events, downloads `file.download`; the org key's creation is
//! `vault.org_key_create`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::tx::OrgTx;
use crate::visibility::Kind;
use labledger_domain::audit::Changes;
use labledger_domain::{FileId, Permission, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A stored encrypted object, as the vault needs it to read it back.
#[derive(Clone, Debug)]
pub struct FileObject {
    pub content_key: String,
    pub path: String,
    pub wrapped_key: Vec<u8>,
    pub segment_size: i64,
    pub sha256: Vec<u8>,
    pub size: i64,
    /// The org key version that wraps `wrapped_key`.
    pub key_version: i64,
}

/// One version of a file.
#[derive(Clone, Debug, Serialize)]
pub struct FileRecord {
    pub id: FileId,
    pub seq: i64,
    pub name: String,
    pub version: i64,
    #[serde(serialize_with = "hex_bytes")]
    pub sha256: Vec<u8>,
    pub size: i64,
    pub media_type: String,
    pub created_at: Timestamp,
    pub created_by: Option<String>,
    /// raw, analysis, report or other (its retention period).
    pub category: String,
    /// The reason of the legal hold in force, if any.
    pub hold_reason: Option<String>,
    /// Set once deleted: the row is a tombstone, the content is gone.
    pub deleted_at: Option<Timestamp>,
    pub deleted_by: Option<String>,
}

fn hex_bytes<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

/// A finished upload to record: the object the vault just wrote, and the file's name.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub name: String,
    pub category: String,
    pub media_type: String,
    pub object: FileObject,
}

/// Work done in an upload's transaction once its file row is written.
pub(crate) type AfterUpload = Box<
    dyn for<'t, 'c> FnOnce(&'t mut OrgTx<'c>, FileId) -> futures::future::BoxFuture<'t, Result<()>>
        + Send
        + 'static,
>;

/// What recording an upload did.
#[derive(Clone, Debug)]
pub struct CreatedFile {
    pub file: FileRecord,
    /// The org already held this content: the new object is redundant and may be deleted
    /// (its path is returned), the file points at the existing one.
    pub duplicate_path: Option<String>,
}

const COLUMNS: &str = "id, seq, name, version, sha256, size, media_type, created_at, created_by, \
                       category, hold_reason, deleted_at, deleted_by";

fn decode(r: &AnyRow) -> Result<FileRecord> {
    Ok(FileRecord {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        seq: r.try_get("seq")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        media_type: r.try_get("media_type")?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        created_by: r.try_get("created_by")?,
        category: r.try_get("category")?,
        hold_reason: r.try_get("hold_reason")?,
        deleted_at: r
            .try_get::<Option<i64>, _>("deleted_at")?
            .map(Timestamp::from_micros),
        deleted_by: r.try_get("deleted_by")?,
    })
}

fn decode_object(r: &AnyRow) -> Result<FileObject> {
    Ok(FileObject {
        content_key: r.try_get("content_key")?,
        path: r.try_get("path")?,
        wrapped_key: r.try_get("wrapped_key")?,
        segment_size: r.try_get("segment_size")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        key_version: 0,
    })
}

async fn next_number(tx: &mut OrgTx<'_>, sql: &str, bind: Option<String>) -> Result<i64> {
    let org = tx.org().to_owned();
    let mut q = sqlx::query(sql).bind(org);
    if let Some(b) = bind {
        q = q.bind(b);
    }
    let row = tx
        .fetch_optional(q)
        .await?
        .ok_or_else(|| StoreError::Corrupt("MAX returned nothing".into()))?;
    let max: Option<i64> = row.try_get(0)?;
    Ok(max.unwrap_or(0) + 1)
}

/// No object is recorded while the org's objects are being copied to another region's store:
/// checked under the org's chain lock, which the move's start also takes, so every object
/// recorded before the start is among those the move copies.
async fn refuse_while_moving(tx: &mut OrgTx<'_>) -> Result<()> {
    let row = tx
        .fetch_optional(
            sqlx::query("SELECT region_move_to, region_move_phase FROM orgs WHERE id = $1")
                .bind(tx.org().to_owned()),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    if row.try_get::<String, _>("region_move_phase")? == "copying" {
        let to: String = row.try_get("region_move_to")?;
        return Err(StoreError::Conflict(format!(
            "The organization's files are being moved to region `{to}`: uploads are paused until \
             the move is done. Try again later."
        )));
    }
    Ok(())
}

/// Records an upload's object (unless the org holds the content already) and its file row,
/// audited as `file.upload`; inside the caller's transaction.
pub(crate) async fn insert_file(
    tx: &mut OrgTx<'_>,
    new: NewFile,
    created_by: Option<String>,
) -> Result<CreatedFile> {
    refuse_while_moving(tx).await?;
    let org = tx.org().to_owned();
    let now = Timestamp::now().micros();
    let o = &new.object;
    let existing = tx
        .fetch_optional(
            sqlx::query(
                "SELECT content_key, path, wrapped_key, segment_size, sha256, size \
                     FROM file_objects WHERE org_id = $1 AND content_key = $2",
            )
            .bind(org.clone())
            .bind(o.content_key.clone()),
        )
        .await?;
    let duplicate_path = match existing {
        Some(row) => {
            let stored = decode_object(&row)?;
            if stored.sha256 != o.sha256 || stored.size != o.size {
                return Err(StoreError::Corrupt(
                    "a content key names different content".into(),
                ));
            }
            Some(o.path.clone())
        }
        None => {
            tx.execute(
                sqlx::query(
                    "INSERT INTO file_objects (org_id, content_key, path, wrapped_key, \
                         segment_size, sha256, size, created_at, key_version) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE((SELECT \
                         key_version FROM org_keys WHERE org_id = $1), 1))",
                )
                .bind(org.clone())
                .bind(o.content_key.clone())
                .bind(o.path.clone())
                .bind(o.wrapped_key.clone())
                .bind(o.segment_size)
                .bind(o.sha256.clone())
                .bind(o.size)
                .bind(now),
            )
            .await?;
            None
        }
    };
    let seq =
            // unscoped: numbering counts every file of the org
            next_number(tx, "SELECT MAX(seq) FROM files WHERE org_id = $1", None).await?;
    let version = next_number(
        tx,
        // unscoped: a name's versions are numbered across the org
        "SELECT MAX(version) FROM files WHERE org_id = $1 AND name = $2",
        Some(new.name.clone()),
    )
    .await?;
    let id = FileId::new();
    tx.execute(
        sqlx::query(
            "INSERT INTO files (org_id, id, seq, name, version, content_key, sha256, \
                 size, media_type, created_at, created_by, category) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(org.clone())
        .bind(id.to_string())
        .bind(seq)
        .bind(new.name.clone())
        .bind(version)
        .bind(o.content_key.clone())
        .bind(o.sha256.clone())
        .bind(o.size)
        .bind(new.media_type.clone())
        .bind(now)
        .bind(created_by.clone())
        .bind(new.category.clone()),
    )
    .await?;
    tx.record(
        "file.upload",
        "file",
        Some(id.to_string()),
        Changes::new()
            .created("name", &new.name)
            .created("version", version)
            .created("sha256", hex::encode(&o.sha256))
            .created("size", o.size)
            .created("media_type", &new.media_type)
            .created("category", &new.category),
    );
    Ok(CreatedFile {
        file: FileRecord {
            id,
            seq,
            name: new.name,
            version,
            sha256: o.sha256.clone(),
            size: o.size,
            media_type: new.media_type,
            created_at: Timestamp::from_micros(now),
            created_by,
            category: new.category,
            hold_reason: None,
            deleted_at: None,
            deleted_by: None,
        },
        duplicate_path,
    })
}

impl Org<'_> {
    /// The org's wrapped key, if it has one yet.
    pub async fn wrapped_org_key(&self) -> Result<Option<Vec<u8>>> {
        let scope = self.scope();
        if !scope.can(Permission::FILES_READ) {
            scope.require(Permission::FILES_WRITE)?;
        }
        let row = sqlx::query("SELECT wrapped_key FROM org_keys WHERE org_id = $1")
            .bind(self.org_text())
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("wrapped_key")?),
            None => None,
        })
    }

    /// The wrapped org key of `version` (the key in force, or the next one while an org key
    /// rotation runs), for reading an object recorded with that version.
    pub async fn wrapped_org_key_for(&self, version: i64) -> Result<Option<Vec<u8>>> {
        self.scope().require(Permission::FILES_READ)?;
        let row = sqlx::query(
            "SELECT wrapped_key, key_version, next_wrapped_key FROM org_keys WHERE org_id = $1",
        )
        .bind(self.org_text())
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let current: i64 = r.try_get("key_version")?;
        if version == current {
            Ok(Some(r.try_get("wrapped_key")?))
        } else if version == current + 1 {
            Ok(r.try_get("next_wrapped_key")?)
        } else {
            Ok(None)
        }
    }

    /// Stores the org's first key (`wrapped` by the master key) unless another request stored
    /// one first; returns the key in force. Audited as `vault.org_key_create`.
    pub async fn ensure_org_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>> {
        self.scope().require(Permission::FILES_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let org = tx.org().to_owned();
                let existing = tx
                    .fetch_optional(
                        sqlx::query("SELECT wrapped_key FROM org_keys WHERE org_id = $1")
                            .bind(org.clone()),
                    )
                    .await?;
                if let Some(row) = existing {
                    return Ok(row.try_get("wrapped_key")?);
                }
                tx.execute(
                    sqlx::query(
                        "INSERT INTO org_keys (org_id, wrapped_key, created_at) VALUES ($1, $2, $3)",
                    )
                    .bind(org.clone())
                    .bind(wrapped.clone())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                tx.record(
                    "vault.org_key_create",
                    "org",
                    Some(org),
                    Changes::new().created("algorithm", "AES-256-GCM"),
                );
                Ok(wrapped)
            })
        }))
        .await
    }

    /// Records an upload as the next version of its name, pointing at the org's existing object
    /// of the same content if there is one (then the new object is reported as a duplicate).
    pub async fn create_file(&self, new: NewFile) -> Result<CreatedFile> {
        self.create_file_then(new, None).await
    }

    /// [`Self::create_file`], then `then` in the same transaction (attaching the new file).
    pub(crate) async fn create_file_then(
        &self,
        new: NewFile,
        then: Option<AfterUpload>,
    ) -> Result<CreatedFile> {
        self.scope().require(Permission::FILES_WRITE)?;
        let created_by = self.scope().actor().id.clone();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let created = insert_file(tx, new, created_by).await?;
                if let Some(then) = then {
                    then(tx, created.file.id).await?;
                }
                Ok(created)
            })
        }))
        .await
    }

    pub async fn file(&self, id: FileId) -> Result<FileRecord> {
        self.scope().require(Permission::FILES_READ)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT {COLUMNS} FROM files WHERE org_id = $1 AND id = $2{}",
            viewer.filter(Kind::File, "files", 3)
        );
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode(&row)
    }

    /// A file with the object holding its content (for a download).
    /// A deleted file is `Gone` even when its object went with it (hence the LEFT JOIN).
    pub async fn file_with_object(&self, id: FileId) -> Result<(FileRecord, FileObject)> {
        self.scope().require(Permission::FILES_READ)?;
        let viewer = self.viewer();
        let sql = format!(
            "SELECT f.id, f.seq, f.name, f.version, f.sha256, f.size, f.media_type, f.created_at, \
             f.created_by, f.category, f.hold_reason, f.deleted_at, f.deleted_by, \
             o.content_key, o.path, o.wrapped_key, o.segment_size, o.key_version \
             FROM files f LEFT JOIN file_objects o \
             ON o.org_id = f.org_id AND o.content_key = f.content_key \
             WHERE f.org_id = $1 AND f.id = $2{}",
            viewer.filter(Kind::File, "f", 3)
        );
        let row = viewer
            .bind(sqlx::query(&sql).bind(self.org_text()).bind(id.to_string()))
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        let file = decode(&row)?;
        if file.deleted_at.is_some() {
            return Err(StoreError::Gone(format!(
                "File {id} was deleted; only its record remains."
            )));
        }
        let object = FileObject {
            content_key: row.try_get("content_key")?,
            path: row.try_get("path")?,
            wrapped_key: row.try_get("wrapped_key")?,
            segment_size: row.try_get("segment_size")?,
            sha256: file.sha256.clone(),
            size: file.size,
            key_version: row.try_get("key_version")?,
        };
        Ok((file, object))
    }

    /// Newest first, keyset-paged by upload number; optionally only the versions of one name.
    pub async fn files_page(
        &self,
        name: Option<String>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<FileRecord>, Option<i64>)> {
        self.scope().require(Permission::FILES_READ)?;
        let limit = limit.clamp(1, 1000);
        // The viewer is `$2`, bound right after the org when the rule names it.
        let viewer = self.viewer();
        let mut sql = format!(
            "SELECT {COLUMNS} FROM files WHERE org_id = $1{}",
            viewer.filter(Kind::File, "files", 2)
        );
        let mut n = if viewer.is_limited() { 2 } else { 1 };
        if name.is_some() {
            n += 1;
            sql.push_str(&format!(" AND name = ${n}"));
        }
        if before_seq.is_some() {
            n += 1;
            sql.push_str(&format!(" AND seq < ${n}"));
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", limit + 1));
        let mut q = viewer.bind(sqlx::query(&sql).bind(self.org_text()));
        if let Some(name) = name {
            q = q.bind(name);
        }
        if let Some(b) = before_seq {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.reader()).await?;
        let mut items = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|f| f.seq)
        } else {
            None
        };
        Ok((items, next))
    }

    /// Records a download (whole or a byte range) in the org's audit trail.
    pub async fn record_download(
        &self,
        file: &FileRecord,
        range: Option<(u64, u64)>,
    ) -> Result<()> {
        self.scope().require(Permission::FILES_READ)?;
        let id = file.id.to_string();
        let sha = hex::encode(&file.sha256);
        let range = range.map(|(a, b)| format!("bytes={a}-{b}"));
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                tx.record(
                    "file.download",
                    "file",
                    Some(id),
                    Changes::new()
                        .created("sha256", sha)
                        .created("range", range),
                );
                Ok(())
            })
        }))
        .await
    }
}

impl crate::Store {
    /// Whether any record of any org refers to the object at `path` (the orphan sweep asks
    /// this right before it removes an object, so it never removes one a record points at).
    /// Every table that records object paths must be asked here.
    pub async fn object_path_referenced(&self, path: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM file_objects WHERE path = $1")
            .bind(path.to_owned())
            .fetch_one(self.reader())
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(n > 0)
    }
}
