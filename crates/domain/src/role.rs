//! Built-in roles: fixed permission sets every organization starts with.

use crate::permission::{Action, Permission, PermissionSet, Resource};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    Owner,
    Admin,
    Qa,
    Scientist,
    Technician,
    Auditor,
    Viewer,
}

/// Lab data: everything but audit, members and org settings.
const LAB: [Resource; 10] = [
    Resource::Protocols,
    Resource::Workflows,
    Resource::Samples,
    Resource::Batches,
    Resource::ComplianceRecords,
    Resource::Projects,
    Resource::Files,
    Resource::Reports,
    Resource::Exports,
    Resource::Approvals,
];

fn select(f: impl Fn(Permission) -> bool) -> PermissionSet {
    Permission::ALL.into_iter().filter(|p| f(*p)).collect()
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 7] = [
        BuiltinRole::Owner,
        BuiltinRole::Admin,
        BuiltinRole::Qa,
        BuiltinRole::Scientist,
        BuiltinRole::Technician,
        BuiltinRole::Auditor,
        BuiltinRole::Viewer,
    ];

    /// The role's name, unique in an org (custom roles may not take these names).
    pub const fn name(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Owner",
            BuiltinRole::Admin => "Admin",
            BuiltinRole::Qa => "QA",
            BuiltinRole::Scientist => "Scientist",
            BuiltinRole::Technician => "Technician",
            BuiltinRole::Auditor => "Auditor",
            BuiltinRole::Viewer => "Viewer",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }

    pub fn description(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Everything, including granting and removing the Owner role.",
            BuiltinRole::Admin => "Everything but the Owner role: members, roles, settings, all lab data.",
            BuiltinRole::Qa => "Reads all lab data and the audit trail; writes and approves compliance records, approves protocols.",
            BuiltinRole::Scientist => "Writes protocols, workflows, samples, batches, projects, files and reports; reads the rest.",
            BuiltinRole::Technician => "Writes samples, batches, workflow runs and files; reads protocols and projects.",
            BuiltinRole::Auditor => "Read-only over everything, the audit trail included.",
            BuiltinRole::Viewer => "Read-only over lab data; no audit trail, members or settings.",
        }
    }

    pub fn permissions(self) -> PermissionSet {
        use Action::*;
        use Resource::*;
        let lab = |r: Resource| LAB.contains(&r);
        match self {
            BuiltinRole::Owner | BuiltinRole::Admin => PermissionSet::all(),
            BuiltinRole::Qa => select(|p| {
                (lab(p.resource) && p.action == Read)
                    || p.resource == Audit
                    || (p.resource == ComplianceRecords)
                    || (p.action == Approve)
                    || p == Permission::MEMBERS_READ
            }),
            BuiltinRole::Scientist => select(|p| {
                (lab(p.resource) && p.action == Read)
                    || (matches!(
                        p.resource,
                        Protocols
                            | Workflows
                            | Samples
                            | Batches
                            | Projects
                            | Files
                            | Reports
                            | ComplianceRecords
                    ) && p.action == Write)
                    || p == Permission::MEMBERS_READ
            }),
            BuiltinRole::Technician => select(|p| {
                (matches!(
                    p.resource,
                    Protocols | Workflows | Samples | Batches | Projects | Files
                ) && p.action == Read)
                    || (matches!(p.resource, Workflows | Samples | Batches | Files)
                        && p.action == Write)
            }),
            BuiltinRole::Auditor => select(|p| p.action == Read),
            BuiltinRole::Viewer => select(|p| lab(p.resource) && p.action == Read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_admin_hold_everything() {
        assert_eq!(BuiltinRole::Owner.permissions(), PermissionSet::all());
        assert_eq!(BuiltinRole::Admin.permissions(), PermissionSet::all());
    }

    #[test]
    fn auditor_reads_everything_and_writes_nothing() {
        let perms = BuiltinRole::Auditor.permissions();
        assert!(perms.contains(Permission::AUDIT_READ));
        assert!(perms.iter().all(|p| p.action == Action::Read));
        assert!(perms.contains(Permission::MEMBERS_READ));
    }

    #[test]
    fn viewer_sees_no_audit_members_or_settings() {
        let perms = BuiltinRole::Viewer.permissions();
        assert!(!perms.contains(Permission::AUDIT_READ));
        assert!(!perms.contains(Permission::MEMBERS_READ));
        assert!(!perms.contains(Permission::ORG_SETTINGS_READ));
        assert!(perms.contains("samples:read".parse().unwrap()));
    }

    #[test]
    fn only_owner_and_admin_manage_members() {
        for role in BuiltinRole::ALL {
            let manages = role.permissions().contains(Permission::MEMBERS_WRITE);
            assert_eq!(
                manages,
                matches!(role, BuiltinRole::Owner | BuiltinRole::Admin),
                "{role:?}"
            );
        }
    }

    #[test]
    fn technician_cannot_approve_or_read_audit() {
        let perms = BuiltinRole::Technician.permissions();
        assert!(perms.iter().all(|p| p.action != Action::Approve));
        assert!(!perms.contains(Permission::AUDIT_READ));
        assert!(perms.contains("samples:write".parse().unwrap()));
    }

    #[test]
    fn names_are_unique_and_found_case_insensitively() {
        for role in BuiltinRole::ALL {
            assert_eq!(
                BuiltinRole::from_name(&role.name().to_lowercase()),
                Some(role)
            );
        }
    }
}
