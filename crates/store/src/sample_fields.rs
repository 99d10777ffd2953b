//! Custom sample fields of one org: definitions (audited `sample_field.create`) and the audit
//! event of a sample CSV export (`sample.export`).

use crate::error::{Result, StoreError};
use crate::org::Org;
use labledger_domain::audit::Changes;
use labledger_domain::custom_field::{FieldDef, FieldKind, MAX_FIELDS};
use labledger_domain::{Permission, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

fn decode(r: &AnyRow) -> Result<FieldDef> {
    let spec: String = r.try_get("spec")?;
    let kind: FieldKind =
        serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("field spec: {e}")))?;
    Ok(FieldDef {
        key: r.try_get("field_key")?,
        label: r.try_get("label")?,
        kind,
        required: r.try_get::<i64, _>("required")? != 0,
        sensitive: r.try_get::<i64, _>("sensitive")? != 0,
    })
}

const SELECT: &str =
    "SELECT field_key, label, spec, required, sensitive FROM sample_fields WHERE org_id = $1 ORDER BY created_at, field_key";

pub(crate) async fn fields_in_tx(tx: &mut crate::tx::OrgTx<'_>) -> Result<Vec<FieldDef>> {
    let org = tx.org().to_owned();
    let rows = tx.fetch_all(sqlx::query(SELECT).bind(org)).await?;
    rows.iter().map(decode).collect()
}

/// Defines a custom field inside the caller's transaction (`sample_field.create`): its key
/// unique in the org, at most [`MAX_FIELDS`] of them.
pub(crate) async fn insert_field(tx: &mut crate::tx::OrgTx<'_>, def: &FieldDef) -> Result<()> {
    let spec = serde_json::to_string(&def.kind)
        .map_err(|e| StoreError::Corrupt(format!("field spec: {e}")))?;
    let existing = fields_in_tx(tx).await?;
    if existing.iter().any(|d| d.key == def.key) {
        return Err(StoreError::Conflict(format!(
            "a custom field with the key `{}` already exists",
            def.key
        )));
    }
    if existing.len() >= MAX_FIELDS {
        return Err(StoreError::Refused(format!(
            "an organization may define at most {MAX_FIELDS} custom fields"
        )));
    }
    let org = tx.org().to_owned();
    tx.execute(
        sqlx::query(
            "INSERT INTO sample_fields (org_id, field_key, label, spec, required, created_at, sensitive) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org)
        .bind(def.key.clone())
        .bind(def.label.clone())
        .bind(spec.clone())
        .bind(i64::from(def.required))
        .bind(Timestamp::now().micros())
        .bind(i64::from(def.sensitive)),
    )
    .await?;
    let spec_value: serde_json::Value =
        serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null);
    tx.record(
        "sample_field.create",
        "sample_field",
        Some(def.key.clone()),
        Changes::new()
            .created("key", &def.key)
            .created("label", &def.label)
            .created("spec", spec_value)
            .created("required", def.required)
            .created("sensitive", def.sensitive),
    );
    Ok(())
}

impl Org<'_> {
    /// The org's custom sample fields, oldest first. Any member who may read samples sees them.
    pub async fn sample_fields(&self) -> Result<Vec<FieldDef>> {
        // A writer checks values against them, so either permission shows them.
        if !self.scope().can(Permission::SAMPLES_WRITE) {
            self.scope().require(Permission::SAMPLES_READ)?;
        }
        // Read on every registration: remembered like the caller's standing (`recall`).
        let store = self.store();
        let org = self.scope().org_id();
        let read = || async {
            let rows = sqlx::query(SELECT)
                .bind(self.org_text())
                .fetch_all(self.reader())
                .await?;
            rows.iter().map(decode).collect::<Result<Vec<FieldDef>>>()
        };
        let recall = &store.inner.recall;
        store
            .inner
            .field_defs
            .get_or_read(recall, org, |_| true, read)
            .await
    }

    /// Defines a custom sample field; its key is unique in the org.
    pub async fn create_sample_field(&self, def: FieldDef) -> Result<FieldDef> {
        self.scope().require(Permission::ORG_SETTINGS_WRITE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                insert_field(tx, &def).await?;
                Ok(def)
            })
        }))
        .await
    }

    /// Records that a CSV export of samples left the system: the filter and the row count.
    pub async fn record_sample_export(
        &self,
        filter: serde_json::Value,
        rows: usize,
        truncated: bool,
    ) -> Result<()> {
        self.scope().require(Permission::SAMPLES_READ)?;
        self.scope().require(Permission::EXPORTS_CREATE)?;
        self.write(Box::new(move |tx| {
            Box::pin(async move {
                tx.record(
                    "sample.export",
                    "sample",
                    None,
                    Changes::new()
                        .created("format", "csv")
                        .created("filter", filter)
                        .created("rows", rows)
                        .created("truncated", truncated),
                );
                Ok(())
            })
        }))
        .await
    }
}
