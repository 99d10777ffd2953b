//! Protocols (SOPs) and their versions. A version is a draft until an approval signature of a
//! member other than its author and last editor makes it effective; the previous effective
//! version is superseded in the same transaction. Audit actions begin with `protocol.`.

use crate::error::{Result, StoreError};
use crate::instance::parse_id;
use crate::org::Org;
use crate::signatures::{self, CheckedSignature, Signature, Signer};
use crate::tx::OrgTx;
use labledger_domain::audit::Changes;
use labledger_domain::protocol::{check_approver, Step, VersionState};
use labledger_domain::signature::SignatureMeaning;
use labledger_domain::{Permission, ProtocolId, ProtocolVersionId, Timestamp, UserId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

pub const PROTOCOL_VERSION: &str = "protocol_version";

#[derive(Clone, Debug)]
pub struct Protocol {
    pub id: ProtocolId,
    pub title: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The number of the effective version, if one is.
    pub effective_version: Option<i64>,
    pub latest_version: i64,
}

#[derive(Clone, Debug)]
pub struct ProtocolVersion {
    pub id: ProtocolVersionId,
    pub protocol_id: ProtocolId,
    pub version: i64,
    pub state: VersionState,
    pub title: String,
    pub body: String,
    pub steps: Vec<Step>,
    pub change_note: Option<String>,
    pub author_id: UserId,
    pub author_name: String,
    pub last_editor_id: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub effective_at: Option<Timestamp>,
    pub superseded_at: Option<Timestamp>,
}

impl ProtocolVersion {
    /// What an approval signs: the content, not the lifecycle (state, times, last editor).
    pub fn canonical_content(&self) -> Value {
        json!({
            "record_type": PROTOCOL_VERSION,
            "id": self.id.to_string(),
            "protocol_id": self.protocol_id.to_string(),
            "version": self.version,
            "title": self.title,
            "body": self.body,
            "steps": self.steps,
            "change_note": self.change_note,
            "author_id": self.author_id.to_string(),
        })
    }
}

/// The content of a new version or a draft's change.
#[derive(Clone, Debug)]
pub struct VersionContent {
    pub title: String,
    pub body: String,
    pub steps: Vec<Step>,
    pub change_note: Option<String>,
}

/// A change to a draft; `None` keeps the field.
#[derive(Clone, Debug, Default)]
pub struct VersionPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub steps: Option<Vec<Step>>,
    pub change_note: Option<Option<String>>,
}

const VERSION_COLUMNS: &str = "v.id, v.protocol_id, v.version, v.state, v.title, v.body, v.steps, \
    v.change_note, v.author_id, v.last_editor_id, v.created_at, v.updated_at, v.effective_at, \
    v.superseded_at, u.name AS author_name";

fn version_select(rest: &str) -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM protocol_versions v LEFT JOIN users u ON u.id = v.author_id \
         WHERE v.org_id = $1 {rest}"
    )
}

fn decode_version(r: &AnyRow) -> Result<ProtocolVersion> {
    let state: String = r.try_get("state")?;
    let steps: String = r.try_get("steps")?;
    let ts = |col: &str| -> Result<Option<Timestamp>> {
        Ok(r.try_get::<Option<i64>, _>(col)?
            .map(Timestamp::from_micros))
    };
    Ok(ProtocolVersion {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        protocol_id: parse_id(&r.try_get::<String, _>("protocol_id")?)?,
        version: r.try_get("version")?,
        state: VersionState::parse("state", &state)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        steps: serde_json::from_str(&steps)
            .map_err(|e| StoreError::Corrupt(format!("protocol steps: {e}")))?,
        change_note: r.try_get("change_note")?,
        author_id: parse_id(&r.try_get::<String, _>("author_id")?)?,
        author_name: r
            .try_get::<Option<String>, _>("author_name")?
            .unwrap_or_default(),
        last_editor_id: parse_id(&r.try_get::<String, _>("last_editor_id")?)?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        effective_at: ts("effective_at")?,
        superseded_at: ts("superseded_at")?,
    })
}

const PROTOCOL_SELECT: &str = "SELECT p.id, p.title, p.created_by, p.created_at, p.updated_at, \
    (SELECT MAX(e.version) FROM protocol_versions e WHERE e.org_id = p.org_id AND e.protocol_id = p.id AND e.state = 'effective') AS effective_version, \
    (SELECT MAX(l.version) FROM protocol_versions l WHERE l.org_id = p.org_id AND l.protocol_id = p.id) AS latest_version \
    FROM protocols p WHERE p.org_id = $1";

fn decode_protocol(r: &AnyRow) -> Result<Protocol> {
    Ok(Protocol {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        title: r.try_get("title")?,
        created_by: parse_id(&r.try_get::<String, _>("created_by")?)?,
        created_at: Timestamp::from_micros(r.try_get("created_at")?),
        updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
        effective_version: r.try_get("effective_version")?,
        latest_version: r.try_get::<Option<i64>, _>("latest_version")?.unwrap_or(0),
    })
}

fn steps_text(steps: &[Step]) -> Result<String> {
    serde_json::to_string(steps).map_err(|e| StoreError::Corrupt(format!("protocol steps: {e}")))
}

async fn version_in_tx(
    tx: &mut OrgTx<'_>,
    protocol: ProtocolId,
    id: ProtocolVersionId,
) -> Result<ProtocolVersion> {
    let org = tx.org().to_owned();
    let sql = version_select("AND v.protocol_id = $2 AND v.id = $3");
    let row = tx
        .fetch_optional(
            sqlx::query(&sql)
                .bind(org)
                .bind(protocol.to_string())
                .bind(id.to_string()),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    decode_version(&row)
}

async fn protocol_in_tx(tx: &mut OrgTx<'_>, id: ProtocolId) -> Result<Protocol> {
    let org = tx.org().to_owned();
    let sql = format!("{PROTOCOL_SELECT} AND p.id = $2");
    let row = tx
        .fetch_optional(sqlx::query(&sql).bind(org).bind(id.to_string()))
        .await?
        .ok_or(StoreError::NotFound)?;
    decode_protocol(&row)
}

async fn insert_version(
    tx: &mut OrgTx<'_>,
    protocol: ProtocolId,
    number: i64,
    content: &VersionContent,
    author: UserId,
    now: i64,
) -> Result<ProtocolVersionId> {
    let id = ProtocolVersionId::new();
    let org = tx.org().to_owned();
    let steps = steps_text(&content.steps)?;
    tx.execute(
        sqlx::query(
            "INSERT INTO protocol_versions (org_id, id, protocol_id, version, state, title, body, steps, \
             change_note, author_id, last_editor_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $11)",
        )
        .bind(org)
        .bind(id.to_string())
        .bind(protocol.to_string())
        .bind(number)
        .bind(VersionState::Draft.as_str())
        .bind(content.title.clone())
        .bind(content.body.clone())
        .bind(steps)
        .bind(content.change_note.clone())
        .bind(author.to_string())
        .bind(now),
    )
    .await?;
    tx.record(
        "protocol.version_create",
        PROTOCOL_VERSION,
        Some(id.to_string()),
        Changes::new()
            .created("protocol_id", protocol.to_string())
            .created("version", number)
            .created("state", VersionState::Draft.as_str())
            .created("title", &content.title)
            .created("body", &content.body)
            .created("steps", &content.steps)
            .created("change_note", &content.change_note),
    );
    Ok(id)
}

impl Org<'_> {
    /// Creates a protocol with its first version, a draft.
    pub async fn create_protocol(
        &self,
        content: VersionContent,
    ) -> Result<(Protocol, ProtocolVersion)> {
        self.scope().require(Permission::PROTOCOLS_WRITE)?;
        self.scope().require_user()?;
        let author = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let id = ProtocolId::new();
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                tx.execute(
                    sqlx::query(
                        "INSERT INTO protocols (org_id, id, title, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(content.title.clone())
                    .bind(author.to_string())
                    .bind(now),
                )
                .await?;
                tx.record(
                    "protocol.create",
                    "protocol",
                    Some(id.to_string()),
                    Changes::new().created("title", &content.title),
                );
                let vid = insert_version(tx, id, 1, &content, author, now).await?;
                Ok((protocol_in_tx(tx, id).await?, version_in_tx(tx, id, vid).await?))
            })
        }))
        .await
    }

    pub async fn protocols(&self, limit: u32) -> Result<Vec<Protocol>> {
        self.scope().require(Permission::PROTOCOLS_READ)?;
        let sql = format!(
            "{PROTOCOL_SELECT} ORDER BY p.created_at DESC, p.id DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_protocol).collect()
    }

    pub async fn protocol(&self, id: ProtocolId) -> Result<Protocol> {
        self.scope().require(Permission::PROTOCOLS_READ)?;
        let sql = format!("{PROTOCOL_SELECT} AND p.id = $2");
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_protocol(&row)
    }

    /// The versions of a protocol, newest first.
    pub async fn protocol_versions(&self, id: ProtocolId) -> Result<Vec<ProtocolVersion>> {
        self.scope().require(Permission::PROTOCOLS_READ)?;
        let sql = version_select("AND v.protocol_id = $2 ORDER BY v.version DESC");
        let rows = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(id.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(decode_version).collect()
    }

    pub async fn protocol_version(
        &self,
        protocol: ProtocolId,
        id: ProtocolVersionId,
    ) -> Result<ProtocolVersion> {
        self.scope().require(Permission::PROTOCOLS_READ)?;
        let sql = version_select("AND v.protocol_id = $2 AND v.id = $3");
        let row = sqlx::query(&sql)
            .bind(self.org_text())
            .bind(protocol.to_string())
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_version(&row)
    }

    /// The signatures of a version, each checked against its content now.
    pub async fn protocol_version_signatures(
        &self,
        version: &ProtocolVersion,
    ) -> Result<Vec<CheckedSignature>> {
        self.scope().require(Permission::PROTOCOLS_READ)?;
        signatures::checked(
            self.reader(),
            &self.org_text(),
            PROTOCOL_VERSION,
            &version.id.to_string(),
            Some(&version.canonical_content()),
        )
        .await
    }

    /// A new draft version (one draft at a time per protocol).
    pub async fn create_protocol_version(
        &self,
        protocol: ProtocolId,
        content: VersionContent,
    ) -> Result<ProtocolVersion> {
        self.scope().require(Permission::PROTOCOLS_WRITE)?;
        self.scope().require_user()?;
        let author = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let p = protocol_in_tx(tx, protocol).await?;
                let org = tx.org().to_owned();
                let draft = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT version FROM protocol_versions WHERE org_id = $1 AND protocol_id = $2 AND state = 'draft'",
                        )
                        .bind(org)
                        .bind(protocol.to_string()),
                    )
                    .await?;
                if let Some(row) = draft {
                    let v: i64 = row.try_get("version")?;
                    return Err(StoreError::Conflict(format!(
                        "version {v} of this protocol is still a draft: change or approve it first"
                    )));
                }
                let now = Timestamp::now().micros();
                let id = insert_version(tx, protocol, p.latest_version + 1, &content, author, now)
                    .await?;
                version_in_tx(tx, protocol, id).await
            })
        }))
        .await
    }

    /// Changes a draft; any other state is refused (409) and nothing changes.
    pub async fn update_protocol_version(
        &self,
        protocol: ProtocolId,
        id: ProtocolVersionId,
        patch: VersionPatch,
    ) -> Result<ProtocolVersion> {
        self.scope().require(Permission::PROTOCOLS_WRITE)?;
        self.scope().require_user()?;
        let editor = self.scope().user_id();
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = version_in_tx(tx, protocol, id).await?;
                if !current.state.editable() {
                    return Err(StoreError::Refused(format!(
                        "version {} is {}: only a draft can be changed; create a new version",
                        current.version, current.state
                    )));
                }
                let title = patch.title.unwrap_or_else(|| current.title.clone());
                let body = patch.body.unwrap_or_else(|| current.body.clone());
                let steps = patch.steps.unwrap_or_else(|| current.steps.clone());
                let note = patch
                    .change_note
                    .unwrap_or_else(|| current.change_note.clone());
                let org = tx.org().to_owned();
                tx.execute(
                    sqlx::query(
                        "UPDATE protocol_versions SET title = $3, body = $4, steps = $5, change_note = $6, \
                         last_editor_id = $7, updated_at = $8 WHERE org_id = $1 AND id = $2 AND state = 'draft'",
                    )
                    .bind(org)
                    .bind(id.to_string())
                    .bind(title.clone())
                    .bind(body.clone())
                    .bind(steps_text(&steps)?)
                    .bind(note.clone())
                    .bind(editor.to_string())
                    .bind(Timestamp::now().micros()),
                )
                .await?;
                let mut changes = Changes::new();
                if title != current.title {
                    changes = changes.field("title", &current.title, &title);
                }
                if body != current.body {
                    changes = changes.field("body", &current.body, &body);
                }
                if steps != current.steps {
                    changes = changes.field("steps", &current.steps, &steps);
                }
                if note != current.change_note {
                    changes = changes.field("change_note", &current.change_note, &note);
                }
                tx.record("protocol.version_update", PROTOCOL_VERSION, Some(id.to_string()), changes);
                version_in_tx(tx, protocol, id).await
            })
        }))
        .await
    }

    /// Approves a draft with the signer's e-signature (meaning `approved`): it becomes
    /// effective and the previously effective version is superseded, in one transaction.
    pub async fn approve_protocol_version(
        &self,
        protocol: ProtocolId,
        id: ProtocolVersionId,
        signer: Signer,
    ) -> Result<(ProtocolVersion, Signature)> {
        self.scope().require(Permission::PROTOCOLS_APPROVE)?;
        self.scope().require_user()?;
        if signer.user_id != self.scope().user_id() {
            return Err(StoreError::NotAllowed(
                "a signature is the caller's own".into(),
            ));
        }
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                let current = version_in_tx(tx, protocol, id).await?;
                current
                    .state
                    .transition(VersionState::Effective)
                    .map_err(|e| StoreError::Refused(e.to_string()))?;
                check_approver(
                    &signer.user_id.to_string(),
                    &current.author_id.to_string(),
                    &current.last_editor_id.to_string(),
                )
                .map_err(|e| StoreError::NotAllowed(e.into()))?;
                let org = tx.org().to_owned();
                let now = Timestamp::now().micros();
                let previous = tx
                    .fetch_optional(
                        sqlx::query(
                            "SELECT id, version FROM protocol_versions WHERE org_id = $1 AND protocol_id = $2 AND state = 'effective'",
                        )
                        .bind(org.clone())
                        .bind(protocol.to_string()),
                    )
                    .await?;
                if let Some(prev) = previous {
                    let prev_id: String = prev.try_get("id")?;
                    let prev_version: i64 = prev.try_get("version")?;
                    tx.execute(
                        sqlx::query(
                            "UPDATE protocol_versions SET state = 'superseded', superseded_at = $3, updated_at = $3 \
                             WHERE org_id = $1 AND id = $2 AND state = 'effective'",
                        )
                        .bind(org.clone())
                        .bind(prev_id.clone())
                        .bind(now),
                    )
                    .await?;
                    tx.record(
                        "protocol.supersede",
                        PROTOCOL_VERSION,
                        Some(prev_id),
                        Changes::new()
                            .field("state", "effective", "superseded")
                            .field("superseded_by_version", Option::<i64>::None, Some(current.version))
                            .created("version", prev_version),
                    );
                }
                let sig = signatures::sign(
                    tx,
                    PROTOCOL_VERSION,
                    &id.to_string(),
                    SignatureMeaning::Approved,
                    &signer,
                    &current.canonical_content(),
                )
                .await?;
                tx.execute(
                    sqlx::query(
                        "UPDATE protocol_versions SET state = 'effective', effective_at = $3, updated_at = $3 \
                         WHERE org_id = $1 AND id = $2 AND state = 'draft'",
                    )
                    .bind(org.clone())
                    .bind(id.to_string())
                    .bind(now),
                )
                .await?;
                tx.execute(
                    sqlx::query("UPDATE protocols SET title = $3, updated_at = $4 WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(protocol.to_string())
                        .bind(current.title.clone())
                        .bind(now),
                )
                .await?;
                tx.record(
                    "protocol.approve",
                    PROTOCOL_VERSION,
                    Some(id.to_string()),
                    Changes::new()
                        .field("state", "draft", "effective")
                        .created("version", current.version)
                        .created("signature_id", sig.id.to_string()),
                );
                Ok((version_in_tx(tx, protocol, id).await?, sig))
            })
        }))
        .await
    }
}
