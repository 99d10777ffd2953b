//! The operator's door to one org's data: org lifecycle, key rotation steps and support access.
//! Like the member's door ([`crate::tx`]) it takes the org's chain head lock first (PostgreSQL),
//! counts every statement that may change data, refuses a write that records no event, and
//! appends the events to the org's chain (sealing the head) in the same transaction.

use crate::chain;
use crate::error::{Result, StoreError};
use crate::scope::{Actor, RequestMeta};
use crate::seal::HeadSealKey;
use crate::tx::{Ledger, Q};
use crate::write_conn::WriteConn;
use crate::{Engine, Store};
use futures::future::BoxFuture;
use labledger_domain::audit::Changes;
use labledger_domain::OrgId;
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::Row;

pub(crate) struct OperatorTx<'c> {
    ledger: Ledger<'c>,
    org: OrgId,
}

impl OperatorTx<'_> {
    pub(crate) fn org(&self) -> OrgId {
        self.org
    }

    /// The org id as bound in statements.
    pub(crate) fn org_text(&self) -> String {
        self.org.to_string()
    }

    /// Runs a statement that changes data (see [`Ledger::execute`]).
    pub(crate) async fn execute(&mut self, q: Q<'_>) -> Result<AnyQueryResult> {
        self.ledger.execute(q).await
    }

    /// Runs a statement that returns rows (see [`Ledger::fetch_optional`]).
    pub(crate) async fn fetch_optional(&mut self, q: Q<'_>) -> Result<Option<AnyRow>> {
        self.ledger.fetch_optional(q).await
    }

    /// The raw connection, counted as a write.
    pub(crate) fn conn_mut(&mut self) -> &mut WriteConn {
        self.ledger.conn_mut()
    }

    /// Records what this write did, for the org's audit chain.
    pub(crate) fn record(
        &mut self,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        changes: Changes,
    ) {
        self.ledger.record(action, target_type, target_id, changes);
    }
}

/// An operator write job over an [`OperatorTx`].
pub(crate) type OperatorWriteFn<T> = Box<
    dyn for<'t, 'c> FnOnce(&'t mut OperatorTx<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static,
>;

/// Runs `f` against `org` inside the caller's transaction: head lock, the audit rule, the
/// append. Also the tail of org creation, once the org and its head exist.
pub(crate) async fn run_in_chain<T>(
    conn: &mut WriteConn,
    engine: Engine,
    key: &HeadSealKey,
    org: OrgId,
    actor: &Actor,
    f: OperatorWriteFn<T>,
) -> Result<T> {
    chain::lock_head(conn, engine, org).await?;
    let mut tx = OperatorTx {
        ledger: Ledger::new(conn),
        org,
    };
    let value = f(&mut tx).await?;
    let (conn, events) = tx.ledger.into_events()?;
    chain::append(
        conn,
        engine,
        key,
        org,
        actor,
        &RequestMeta::default(),
        events,
    )
    .await?;
    Ok(value)
}

impl Store {
    /// The one way operator commands change an org's data (one transaction).
    pub(crate) async fn operator_write<T: Send + 'static>(
        &self,
        org: OrgId,
        actor: Actor,
        f: OperatorWriteFn<T>,
    ) -> Result<T> {
        let engine = self.engine();
        let key = self.head_seal()?.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move { run_in_chain(conn, engine, &key, org, &actor, f).await })
        }))
        .await
    }
}

impl Store {
    /// After a master key rotation: seals every org's head under the seal key of the new master
    /// key (`new`), each in its own transaction with an `audit.head_reseal` event, after checking
    /// it against this store's (old) key. Heads already sealed by `new` are left alone, so a
    /// rotation that stopped halfway finishes when run again. Returns how many were resealed.
    pub async fn reseal_audit_heads(
        &self,
        new: &HeadSealKey,
        from_master_key_id: &str,
        to_master_key_id: &str,
        actor: Actor,
    ) -> Result<usize> {
        let orgs: Vec<String> =
            sqlx::query_scalar("SELECT org_id FROM audit_heads ORDER BY org_id")
                .fetch_all(self.reader())
                .await?;
        let mut resealed = 0;
        for org_text in orgs {
            let org: OrgId = crate::instance::parse_id(&org_text)?;
            let engine = self.engine();
            let old = self.head_seal()?.clone();
            let new = new.clone();
            let ids = (from_master_key_id.to_owned(), to_master_key_id.to_owned());
            let actor = actor.clone();
            let done = self
                .write(Box::new(move |conn| {
                    Box::pin(async move {
                        let key = new.clone();
                        let f: OperatorWriteFn<bool> = Box::new(move |tx| {
                            Box::pin(async move { reseal_head(tx, &old, &new, ids).await })
                        });
                        run_in_chain(conn, engine, &key, org, &actor, f).await
                    })
                }))
                .await?;
            resealed += usize::from(done);
        }
        Ok(resealed)
    }
}

/// Moves one head's seal from `old` to `new` (the head row is locked by the door).
async fn reseal_head(
    tx: &mut OperatorTx<'_>,
    old: &HeadSealKey,
    new: &HeadSealKey,
    (from, to): (String, String),
) -> Result<bool> {
    let head = tx
        .fetch_optional(
            sqlx::query("SELECT seq, hash, seal FROM audit_heads WHERE org_id = $1")
                .bind(tx.org_text()),
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    let seq: i64 = head.try_get("seq")?;
    let hash: Vec<u8> = head.try_get("hash")?;
    let seal: Option<Vec<u8>> = head.try_get("seal")?;
    if seal.is_some_and(|s| new.matches(tx.org(), seq, &hash, &s)) {
        return Ok(false);
    }
    // Never vouch under the new key for a head the old key does not vouch for.
    chain::check_seal(old, tx.org(), &head)?;
    tx.execute(
        sqlx::query("UPDATE audit_heads SET seal = $2 WHERE org_id = $1")
            .bind(tx.org_text())
            .bind(new.seal(tx.org(), seq, &hash)),
    )
    .await?;
    tx.record(
        "audit.head_reseal",
        "org",
        Some(tx.org_text()),
        Changes::new().field("master_key_id", from, to),
    );
    Ok(true)
}
