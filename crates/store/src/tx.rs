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
    ledger: Ledger<'c>,
    org: String,
    viewer: Viewer,
}

pub(crate) type Q<'q> = Query<'q, Any, AnyArguments<'q>>;

impl OrgTx<'_> {
    /// The org id every statement must bind (as `$1` by convention).
    pub(crate) fn org(&self) -> &str {
        &self.org
    }

    /// Whose visibility the records this write loads are checked against.
    pub(crate) fn viewer(&self) -> &Viewer {
        &self.viewer
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

    /// Like [`OrgTx::fetch_optional`], for many rows.
    pub(crate) async fn fetch_all(&mut self, q: Q<'_>) -> Result<Vec<AnyRow>> {
        self.ledger.fetch_all(q).await
    }
}

/// A write's connection as its door (member's or operator's) counts it: whether any statement
/// may have changed data, and the events it recorded. The audit rule is applied here, once.
pub(crate) struct Ledger<'c> {
    conn: &'c mut WriteConn,
    wrote: bool,
    events: Vec<PendingEvent>,
}

impl<'c> Ledger<'c> {
    pub(crate) fn new(conn: &'c mut WriteConn) -> Self {
        Self {
            conn,
            wrote: false,
            events: Vec::new(),
        }
    }

    /// Runs a statement that changes data.
    pub(crate) async fn execute(&mut self, q: Q<'_>) -> Result<AnyQueryResult> {
        self.wrote = true;
        Ok(q.execute(&mut *self.conn).await?)
    }

    /// Runs a statement that returns rows. Anything but a plain SELECT (an `INSERT … RETURNING`,
    /// an upsert) counts as a write, so it cannot escape the audit rule.
    pub(crate) async fn fetch_optional(&mut self, q: Q<'_>) -> Result<Option<AnyRow>> {
        self.wrote |= changes_data(q.sql());
        Ok(q.fetch_optional(&mut *self.conn).await?)
    }

    /// Like [`Ledger::fetch_optional`], for many rows.
    pub(crate) async fn fetch_all(&mut self, q: Q<'_>) -> Result<Vec<AnyRow>> {
        self.wrote |= changes_data(q.sql());
        Ok(q.fetch_all(&mut *self.conn).await?)
    }

    /// The raw connection, for helpers shared with other write paths: counted as a write.
    pub(crate) fn conn_mut(&mut self) -> &mut WriteConn {
        self.wrote = true;
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
        self.events.push(PendingEvent {
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            changes: changes.into_value(),
        });
    }

    /// The connection back, with the events to append; a write that changed data and recorded
    /// none is refused.
    pub(crate) fn into_events(self) -> Result<(&'c mut WriteConn, Vec<PendingEvent>)> {
        if self.wrote && self.events.is_empty() {
            return Err(StoreError::Unaudited);
        }
        Ok((self.conn, self.events))
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
    let (actor_in, meta_in) = (actor.clone(), meta.clone());
    let engine = store.engine();
    let key = store.head_seal()?.clone();
    let started = std::time::Instant::now();
    let (value, appended, privileged) = store
        .write_for_org(
            org,
            Box::new(move |conn| {
                Box::pin(async move {
                    chain::lock_head(conn, engine, org).await?;
                    let mut tx = OrgTx {
                        ledger: Ledger::new(conn),
                        org: org.to_string(),
                        viewer,
                    };
                    let value = f(&mut tx).await?;
                    let (conn, events) = tx.ledger.into_events()?;
                    let touches_access = events
                        .iter()
                        .any(|e| crate::recall::touches_access(&e.action));
                    let privileged = crate::security::privileged(&events);
                    let appended =
                        chain::append(conn, engine, &key, org, &actor_in, &meta_in, events).await?;
                    Ok(((value, appended, privileged), touches_access))
                })
            }),
        )
        .await?;
    metrics::counter!("labledger_audit_events_appended_total").increment(appended as u64);
    // From handing the job to the writer to its durable commit: what an audited write costs.
    metrics::histogram!("labledger_audit_append_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    crate::security::report_committed(org, &actor, &meta, &privileged);
    Ok(value)
}
