//! Electronic signatures: one table and one signing routine for every record type. A signature
//! is written in the same org transaction as the change it authorizes, as a `signature.create`
//! audit event, and binds the SHA-256 of the record's canonical content at signing.

use crate::error::Result;
use crate::instance::parse_id;
use crate::tx::OrgTx;
use labledger_domain::audit::Changes;
use labledger_domain::signature::{self, SignatureMeaning, Validity};
use labledger_domain::{SignatureId, Timestamp, UserId};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Who signs: the person (never an API token), with their full name at signing.
#[derive(Clone, Debug)]
pub struct Signer {
    pub user_id: UserId,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Signature {
    pub id: SignatureId,
    pub record_type: String,
    pub record_id: String,
    pub meaning: SignatureMeaning,
    pub signer_id: UserId,
    pub signer_name: String,
    pub signed_at: Timestamp,
    pub content_hash: Vec<u8>,
}

/// A stored signature checked against the record as it is now.
#[derive(Clone, Debug)]
pub struct CheckedSignature {
    pub signature: Signature,
    pub validity: Validity,
}

const COLUMNS: &str =
    "id, record_type, record_id, meaning, signer_id, signer_name, signed_at, content_hash";

fn decode(r: &AnyRow) -> Result<Signature> {
    let meaning: String = r.try_get("meaning")?;
    Ok(Signature {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        record_type: r.try_get("record_type")?,
        record_id: r.try_get("record_id")?,
        meaning: SignatureMeaning::parse("meaning", &meaning)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        signer_id: parse_id(&r.try_get::<String, _>("signer_id")?)?,
        signer_name: r.try_get("signer_name")?,
        signed_at: Timestamp::from_micros(r.try_get("signed_at")?),
        content_hash: r.try_get("content_hash")?,
    })
}

/// Signs `content` (the record's canonical content now) in the transaction of the change.
pub(crate) async fn sign(
    tx: &mut OrgTx<'_>,
    record_type: &str,
    record_id: &str,
    meaning: SignatureMeaning,
    signer: &Signer,
    content: &Value,
) -> Result<Signature> {
    let sig = Signature {
        id: SignatureId::new(),
        record_type: record_type.to_owned(),
        record_id: record_id.to_owned(),
        meaning,
        signer_id: signer.user_id,
        signer_name: signer.name.clone(),
        signed_at: Timestamp::now(),
        content_hash: signature::content_hash(content).to_vec(),
    };
    let org = tx.org().to_owned();
    tx.execute(
        sqlx::query(
            "INSERT INTO signatures (org_id, id, record_type, record_id, meaning, signer_id, \
             signer_name, signed_at, content_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(org)
        .bind(sig.id.to_string())
        .bind(sig.record_type.clone())
        .bind(sig.record_id.clone())
        .bind(meaning.as_str())
        .bind(signer.user_id.to_string())
        .bind(signer.name.clone())
        .bind(sig.signed_at.micros())
        .bind(sig.content_hash.clone()),
    )
    .await?;
    tx.record(
        "signature.create",
        "signature",
        Some(sig.id.to_string()),
        Changes::new()
            .created("record_type", record_type)
            .created("record_id", record_id)
            .created("meaning", meaning.as_str())
            .created("signer_id", signer.user_id.to_string())
            .created("signer_name", &signer.name)
            .created("signed_at", sig.signed_at.to_rfc3339())
            .created("content_sha256", hex::encode(&sig.content_hash))
            .created(
                "manifestation",
                signature::manifestation(meaning, &signer.name, &sig.signed_at.to_rfc3339()),
            ),
    );
    Ok(sig)
}

/// The signatures of one record, oldest first, each checked against `current` (the record's
/// canonical content now; `None` when it no longer exists).
pub(crate) async fn checked(
    pool: &crate::read_conn::Reader,
    org: &str,
    record_type: &str,
    record_id: &str,
    current: Option<&Value>,
) -> Result<Vec<CheckedSignature>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM signatures WHERE org_id = $1 AND record_type = $2 AND record_id = $3 \
         ORDER BY signed_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(org.to_owned())
        .bind(record_type.to_owned())
        .bind(record_id.to_owned())
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let signature = decode(r)?;
            let validity = signature::verify(&signature.content_hash, current);
            Ok(CheckedSignature {
                signature,
                validity,
            })
        })
        .collect()
}
