//! Permissions: a resource × an action, e.g. `samples:write`.
//!
//! The list of valid permissions is closed and lives here; a role (built-in or custom) is a set
//! of them. Sets are bitsets, so checking one is a single AND.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Protocols,
    Workflows,
    Samples,
    Batches,
    ComplianceRecords,
    Projects,
    Files,
    Reports,
    Exports,
    Approvals,
    Audit,
    /// Members and roles of the organization.
    Members,
    OrgSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Read,
    Write,
    /// Sign off as approver (protocol versions, compliance closures, approval requests).
    Approve,
    /// Produce an export that leaves the system.
    Create,
}

impl Resource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Protocols => "protocols",
            Resource::Workflows => "workflows",
            Resource::Samples => "samples",
            Resource::Batches => "batches",
            Resource::ComplianceRecords => "compliance_records",
            Resource::Projects => "projects",
            Resource::Files => "files",
            Resource::Reports => "reports",
            Resource::Exports => "exports",
            Resource::Approvals => "approvals",
            Resource::Audit => "audit",
            Resource::Members => "members",
            Resource::OrgSettings => "org_settings",
        }
    }
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Approve => "approve",
            Action::Create => "create",
        }
    }
}

/// One permission. Only the combinations in [`Permission::ALL`] exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub resource: Resource,
    pub action: Action,
}

const fn p(resource: Resource, action: Action) -> Permission {
    Permission { resource, action }
}

impl Permission {
    /// Every permission there is, in a fixed order (the bit index of a [`PermissionSet`]).
    pub const ALL: [Permission; 27] = {
        use Action::*;
        use Resource::*;
        [
            p(Protocols, Read),
            p(Protocols, Write),
            p(Protocols, Approve),
            p(Workflows, Read),
            p(Workflows, Write),
            p(Samples, Read),
            p(Samples, Write),
            p(Batches, Read),
            p(Batches, Write),
            p(ComplianceRecords, Read),
            p(ComplianceRecords, Write),
            p(ComplianceRecords, Approve),
            p(Projects, Read),
            p(Projects, Write),
            p(Files, Read),
            p(Files, Write),
            p(Reports, Read),
            p(Reports, Write),
            p(Exports, Read),
            p(Exports, Create),
            p(Approvals, Read),
            p(Approvals, Approve),
            p(Audit, Read),
            p(Members, Read),
            p(Members, Write),
            p(OrgSettings, Read),
            p(OrgSettings, Write),
        ]
    };

    pub const PROTOCOLS_READ: Permission = p(Resource::Protocols, Action::Read);
    pub const PROTOCOLS_WRITE: Permission = p(Resource::Protocols, Action::Write);
    pub const PROTOCOLS_APPROVE: Permission = p(Resource::Protocols, Action::Approve);
    pub const WORKFLOWS_READ: Permission = p(Resource::Workflows, Action::Read);
    pub const WORKFLOWS_WRITE: Permission = p(Resource::Workflows, Action::Write);
    pub const SAMPLES_READ: Permission = p(Resource::Samples, Action::Read);
    pub const SAMPLES_WRITE: Permission = p(Resource::Samples, Action::Write);
    pub const BATCHES_READ: Permission = p(Resource::Batches, Action::Read);
    pub const BATCHES_WRITE: Permission = p(Resource::Batches, Action::Write);
    pub const COMPLIANCE_READ: Permission = p(Resource::ComplianceRecords, Action::Read);
    pub const COMPLIANCE_WRITE: Permission = p(Resource::ComplianceRecords, Action::Write);
    pub const COMPLIANCE_APPROVE: Permission = p(Resource::ComplianceRecords, Action::Approve);
    pub const PROJECTS_READ: Permission = p(Resource::Projects, Action::Read);
    pub const PROJECTS_WRITE: Permission = p(Resource::Projects, Action::Write);
    pub const FILES_READ: Permission = p(Resource::Files, Action::Read);
    pub const FILES_WRITE: Permission = p(Resource::Files, Action::Write);
    pub const REPORTS_READ: Permission = p(Resource::Reports, Action::Read);
    pub const REPORTS_WRITE: Permission = p(Resource::Reports, Action::Write);
    pub const EXPORTS_READ: Permission = p(Resource::Exports, Action::Read);
    pub const EXPORTS_CREATE: Permission = p(Resource::Exports, Action::Create);
    pub const APPROVALS_READ: Permission = p(Resource::Approvals, Action::Read);
    pub const APPROVALS_APPROVE: Permission = p(Resource::Approvals, Action::Approve);
    pub const MEMBERS_READ: Permission = p(Resource::Members, Action::Read);
    pub const MEMBERS_WRITE: Permission = p(Resource::Members, Action::Write);
    pub const AUDIT_READ: Permission = p(Resource::Audit, Action::Read);
    pub const ORG_SETTINGS_READ: Permission = p(Resource::OrgSettings, Action::Read);
    pub const ORG_SETTINGS_WRITE: Permission = p(Resource::OrgSettings, Action::Write);

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|q| *q == self)
            .unwrap_or(usize::MAX)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource.as_str(), self.action.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown permission `{0}`")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|q| q.to_string() == s)
            .ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of permissions, as a bitset over [`Permission::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> Self {
        Self::ALL_BITS
    }
    const ALL_BITS: PermissionSet = PermissionSet((1u64 << Permission::ALL.len()) - 1);

    pub fn contains(self, perm: Permission) -> bool {
        let i = perm.index();
        i < 64 && self.0 & (1u64 << i) != 0
    }
    pub fn insert(&mut self, perm: Permission) {
        let i = perm.index();
        if i < 64 {
            self.0 |= 1u64 << i;
        }
    }
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
    /// True when every permission of `self` is also in `other`.
    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }
    /// The permissions of `self` that `other` lacks.
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |q| self.contains(*q))
    }
    /// Canonical text form: the permissions in their fixed order, space-separated.
    pub fn to_text(self) -> String {
        self.iter()
            .map(|q| q.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn parse_text(s: &str) -> Result<Self, UnknownPermission> {
        s.split_whitespace().map(str::parse).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for perm in iter {
            set.insert(perm);
        }
        set
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_is_unique_and_round_trips() {
        for (i, perm) in Permission::ALL.iter().enumerate() {
            assert_eq!(perm.to_string().parse::<Permission>().unwrap(), *perm);
            assert_eq!(perm.index(), i, "duplicate permission {perm}");
        }
        assert!(Permission::ALL.len() <= 64);
    }

    #[test]
    fn unknown_permissions_are_refused() {
        assert!("samples:delete".parse::<Permission>().is_err());
        assert!("samples".parse::<Permission>().is_err());
        assert!("".parse::<Permission>().is_err());
    }

    #[test]
    fn set_algebra() {
        let read: PermissionSet = [Permission::MEMBERS_READ, Permission::AUDIT_READ]
            .into_iter()
            .collect();
        let write: PermissionSet = [Permission::MEMBERS_WRITE].into_iter().collect();
        assert!(read.contains(Permission::AUDIT_READ));
        assert!(!read.contains(Permission::MEMBERS_WRITE));
        assert!(read.is_subset_of(read.union(write)));
        assert!(!write.is_subset_of(read));
        assert_eq!(write.difference(read), write);
        assert_eq!(PermissionSet::parse_text(&read.to_text()).unwrap(), read);
        assert_eq!(PermissionSet::all().iter().count(), Permission::ALL.len());
        assert!(PermissionSet::parse_text("samples:read nope").is_err());
    }
}
