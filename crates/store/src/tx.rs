//! The org-scoped write transaction: every statement binds the scope's org, and the events it
//! records join the org's audit chain in the same transaction.

use crate::chain::{self, PendingEvent};
use crate::error::{Result, StoreError};
use crate::scope::OrgScope;
use crate::visibility::Viewer;
use crate::write_conn::WriteConn;
use crate::Store;
use futures::future::BoxFuture;
use labledger_domain::audit::Changes;
use labledger_domain::OrgId;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Execute};

pub(crate) struct OrgTx<'c> {
    conn: &'c mut WriteConn,
    org: String,
    viewer: Viewer,
    ledger: Ledger,
}

pub(crate) type Q<'q> = Query<'q, Any, AnyArguments<'q>>;

impl<'c> OrgTx<'c> {
    /// The org id every statement must bind (as `$1` by convention).
    pub(crate) fn org(&self) -> &str {
        &self.org
    }

    /// Whose visibility the records this write loads are checked against.
    pub(crate) fn viewer(&self) -> &Viewer {
        &self.viewer
    }

    /// Runs a statement that changes data.
    pub(crate) async fn execute(&mut self, q: Q<'_>) -> Result<AnyQueryResult> {
        self.ledger.changed();
        Ok(q.execute(&mut *self.conn).await?)
    }

    /// Runs a statement that returns rows. Anything but a plain SELECT (an `INSERT … RETURNING`,
    /// an upsert) counts as a write, so it cannot escape the audit rule.
    pub(crate) async fn fetch_optional(&mut self, q: Q<'_>) -> Result<Option<AnyRow>> {
        self.ledger.ran(q.sql());
        Ok(q.fetch_optional(&mut *self.conn).await?)
    }

    /// Like [`OrgTx::fetch_optional`], for many rows.
    pub(crate) async fn fetch_all(&mut self, q: Q<'_>) -> Result<Vec<AnyRow>> {
        self.ledger.ran(q.sql());
        Ok(q.fetch_all(&mut *self.conn).await?)
    }

    pub(crate) fn conn_mut(&mut self) -> &mut WriteConn {
        self.ledger.changed();
        self.conn
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

/// What a write did, as its door (member's or operator's) counts it: whether any statement may
/// have changed data, and the events it recorded. The audit rule is applied here, once.
#[derive(Default)]
pub(crate) struct Ledger {
    wrote: bool,
    events: Vec<PendingEvent>,
}

impl Ledger {
    /// Counts a statement that changes data.
    pub(crate) fn changed(&mut self) {
        self.wrote = true;
    }

    /// Counts a statement that returns rows: a write unless it is a plain SELECT.
    pub(crate) fn ran(&mut self, sql: &str) {
        self.wrote |= changes_data(sql);
    }

    pub(crate) fn record(
        &mut self,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        changes: Changes,
    ) {
        self.events.push(PendingEvent {
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            changes: changes.into_value(),
        });
    }

    /// The events to append; a write that changed data and recorded none is refused.
    pub(crate) fn into_events(self) -> Result<Vec<PendingEvent>> {
        if self.wrote && self.events.is_empty() {
            return Err(StoreError::Unaudited);
        }
        Ok(self.events)
    }
}

/// Whether a statement may change data: all but a plain SELECT (the store calls no functions
/// with side effects from a SELECT). Deliberately blunt: a false "write" only demands an event.
pub(crate) fn changes_data(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default();
    !first.eq_ignore_ascii_case("SELECT")
}

/// A write job over an [`OrgTx`].
pub(crate) type OrgWriteFn<T> =
    Box<dyn for<'t, 'c> FnOnce(&'t mut OrgTx<'c>) -> BoxFuture<'t, Result<T>> + Send + 'static>;

/// Runs `f` in one transaction scoped to the org, appending its audit events before commit.
pub(crate) async fn write_scoped<T: Send + 'static>(
    store: &Store,
    scope: &OrgScope,
    f: OrgWriteFn<T>,
) -> Result<T> {
    let org: OrgId = scope.org_id();
    let actor = scope.actor().clone();
    let meta = scope.meta().clone();
    let viewer = Viewer::of(scope);
    let engine = store.engine();
    let key = store.head_seal()?.clone();
    let (value, appended) = store
        .write_for_org(
            org,
            Box::new(move |conn| {
                Box::pin(async move {
                    chain::lock_head(conn, engine, org).await?;
                    let mut tx = OrgTx {
                        conn,
                        org: org.to_string(),
                        viewer,
                        ledger: Ledger::default(),
                    };
                    let value = f(&mut tx).await?;
                    let OrgTx { conn, ledger, .. } = tx;
                    let events = ledger.into_events()?;
                    let touches_access = events
                        .iter()
                        .any(|e| crate::recall::touches_access(&e.action));
                    let appended =
                        chain::append(conn, engine, &key, org, &actor, &meta, events).await?;
                    Ok(((value, appended), touches_access))
                })
            }),
        )
        .await?;
    metrics::counter!("labledger_audit_events_appended_total").increment(appended as u64);
    Ok(value)
}
