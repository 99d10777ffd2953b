//! The door to one org's data.

use crate::chain::Verification;
use crate::error::Result;
use crate::scope::OrgScope;
use crate::tx::{self, OrgWriteFn};
use crate::verify;
use crate::visibility::Viewer;
use crate::Store;
use labledger_domain::Permission;

/// One org's data as seen by one scope. Every read binds the scope's org id; every write runs
/// through [`tx::write_scoped`], which appends the audit events.
pub struct Org<'a> {
    store: &'a Store,
    scope: &'a OrgScope,
}

impl<'a> Org<'a> {
    pub(crate) fn new(store: &'a Store, scope: &'a OrgScope) -> Self {
        Self { store, scope }
    }

    pub fn scope(&self) -> &OrgScope {
        self.scope
    }

    pub(crate) fn store(&self) -> &Store {
        self.store
    }

    pub(crate) fn org_text(&self) -> String {
        self.scope.org_id().to_string()
    }

    /// The visibility rules of this scope (`crate::visibility`).
    pub(crate) fn viewer(&self) -> Viewer {
        Viewer::of(self.scope)
    }

    pub(crate) fn reader(&self) -> &crate::read_conn::Reader {
        self.store.reader()
    }

    pub(crate) async fn write<T: Send + 'static>(&self, f: OrgWriteFn<T>) -> Result<T> {
        tx::write_scoped(self.store, self.scope, f).await
    }

    /// Recomputes the org's whole chain and checks it against the head kept apart and its seal.
    pub async fn verify_audit(&self) -> Result<Verification> {
        self.scope.require(Permission::AUDIT_READ)?;
        let key = self.store.head_seal()?;
        verify::verify(
            self.reader(),
            self.store.engine(),
            Some(key),
            self.scope.org_id(),
        )
        .await
    }
}

impl Store {
    /// Verifies an org's chain for an operator (`labledger audit verify`): integrity only,
    /// no org data is returned. Needs the head seal key (the master key).
    pub async fn verify_audit_as_operator(
        &self,
        org: labledger_domain::OrgId,
    ) -> Result<Verification> {
        verify::verify(self.reader(), self.engine(), Some(self.head_seal()?), org).await
    }

    /// Verifies an org's chain links and its head, and the head's seal when this store holds
    /// the master key's seal key (a restore drill without the master key checks the links and
    /// compares the head with the backup's manifest instead).
    pub async fn verify_audit_links(&self, org: labledger_domain::OrgId) -> Result<Verification> {
        verify::verify(
            self.reader(),
            self.engine(),
            self.inner.head_seal.as_ref(),
            org,
        )
        .await
    }
}
