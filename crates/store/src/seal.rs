//! The keyed seal on each org's audit chain head. The hash chain alone proves nothing against
//! someone who can write to the database: they can append correctly hashed events and move the
//! head. The seal is an HMAC-SHA256 over (org id, seq, hash) under a key derived from the master
//! key, which never enters the database, so a head moved by anything but LabLedger no longer
//! matches its seal.

use crate::chain::{self, PendingEvent};
use crate::error::Result;
use crate::scope::{Actor, RequestMeta};
use crate::Store;
use hmac::{Hmac, Mac};
use labledger_domain::audit::Changes;
use labledger_domain::{OrgId, Timestamp};
use sha2::Sha256;
use sqlx::Row;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation of the derived key: the master key is used for nothing else this way.
const KEY_LABEL: &[u8] = b"labledger audit-head v1";

/// The key that seals audit chain heads: HMAC(master key, "labledger audit-head v1").
#[derive(Clone)]
pub struct HeadSealKey([u8; 32]);

impl std::fmt::Debug for HeadSealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadSealKey(..)")
    }
}

impl HeadSealKey {
    /// Derives the seal key from the 32-byte master key.
    pub fn from_master(master: &[u8; 32]) -> Self {
        Self(
            mac(master)
                .chain_update(KEY_LABEL)
                .finalize()
                .into_bytes()
                .into(),
        )
    }

    /// The seal of one org's head.
    pub(crate) fn seal(&self, org: OrgId, seq: i64, hash: &[u8]) -> Vec<u8> {
        self.head_mac(org, seq, hash)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// Whether `seal` is this key's seal of the head (compared in constant time).
    pub(crate) fn matches(&self, org: OrgId, seq: i64, hash: &[u8], seal: &[u8]) -> bool {
        self.head_mac(org, seq, hash).verify_slice(seal).is_ok()
    }

    fn head_mac(&self, org: OrgId, seq: i64, hash: &[u8]) -> HmacSha256 {
        // Fixed-width fields: an org id is always 36 characters, seq 8 bytes, the hash 32.
        mac(&self.0)
            .chain_update(org.to_string().as_bytes())
            .chain_update(seq.to_be_bytes())
            .chain_update(hash)
    }
}

/// HMAC-SHA256 keyed by 32 bytes. HMAC zero-pads a key shorter than the hash's 64-byte block,
/// so keying with the padded block is the same HMAC, without a length check that cannot fail.
fn mac(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b = *k;
    }
    <HmacSha256 as hmac::digest::KeyInit>::new(
        hmac::digest::generic_array::GenericArray::from_slice(&block),
    )
}

/// Seals, once per database, the heads written before heads were sealed (an upgrade): each gets
/// its seal and an `audit.head_seal` event by the system, in one transaction that also records
/// that the sealing happened, so a head found without a seal later is never sealed again but
/// reported as broken. Whatever was in the chain before this point is vouched for only by the
/// hash chain (as before the upgrade). Returns how many heads were sealed.
pub(crate) async fn seal_existing_heads(store: &Store) -> Result<usize> {
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_head_sealing")
        .fetch_one(store.reader())
        .await?;
    if done > 0 {
        return Ok(0);
    }
    let key = store.head_seal()?.clone();
    let engine = store.engine();
    let sealed = store
        .write(Box::new(move |conn| {
            Box::pin(async move {
                // Concurrent first starts: the second waits on this row, then finds it taken.
                let first = sqlx::query(
                    "INSERT INTO audit_head_sealing (id, sealed_at) VALUES (1, $1) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(Timestamp::now().micros())
                .execute(&mut *conn)
                .await?;
                if first.rows_affected() == 0 {
                    return Ok(0);
                }
                let orgs: Vec<String> = sqlx::query_scalar(
                    "SELECT org_id FROM audit_heads WHERE seal IS NULL ORDER BY org_id",
                )
                .fetch_all(&mut *conn)
                .await?;
                for org_text in &orgs {
                    let org: OrgId = crate::instance::parse_id(org_text)?;
                    chain::lock_head(conn, engine, org).await?;
                    let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE org_id = $1")
                        .bind(org_text)
                        .fetch_one(&mut *conn)
                        .await?;
                    let seq: i64 = head.try_get("seq")?;
                    let hash: Vec<u8> = head.try_get("hash")?;
                    sqlx::query("UPDATE audit_heads SET seal = $2 WHERE org_id = $1")
                        .bind(org_text)
                        .bind(key.seal(org, seq, &hash))
                        .execute(&mut *conn)
                        .await?;
                    let event = PendingEvent {
                        action: "audit.head_seal".into(),
                        target_type: "org".into(),
                        target_id: Some(org_text.clone()),
                        changes: Changes::new().created("sealed_at_seq", seq).into_value(),
                    };
                    chain::append(
                        conn,
                        engine,
                        &key,
                        org,
                        &Actor::system(),
                        &RequestMeta::default(),
                        vec![event],
                    )
                    .await?;
                }
                Ok(orgs.len())
            })
        }))
        .await?;
    if sealed > 0 {
        tracing::warn!(
            orgs = sealed,
            "sealed the audit chain heads of this database for the first time (each chain records \
             audit.head_seal); from now on a head moved outside LabLedger fails audit verify"
        );
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_binds_org_seq_and_hash_under_its_key() {
        let key = HeadSealKey::from_master(&[7; 32]);
        let org = OrgId::new();
        let seal = key.seal(org, 3, &[1; 32]);
        assert!(key.matches(org, 3, &[1; 32], &seal));
        assert!(!key.matches(org, 4, &[1; 32], &seal));
        assert!(!key.matches(org, 3, &[2; 32], &seal));
        assert!(!key.matches(OrgId::new(), 3, &[1; 32], &seal));
        assert!(!HeadSealKey::from_master(&[8; 32]).matches(org, 3, &[1; 32], &seal));
    }

    #[test]
    fn keying_with_the_padded_block_is_plain_hmac() {
        let key = [5u8; 32];
        let plain = <HmacSha256 as Mac>::new_from_slice(&key)
            .unwrap()
            .chain_update(KEY_LABEL)
            .finalize()
            .into_bytes();
        assert_eq!(HeadSealKey::from_master(&key).0, <[u8; 32]>::from(plain));
    }
}
