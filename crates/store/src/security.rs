//! Privileged changes for the security stream: once an org write that grants access, changes
//! roles, members, tokens, keys or org settings, or moves data out (exports) has committed, it
//! is logged under target `security` (kind `privileged_change`) with who, from where, in which
//! org and which request. The audit chain stays the record; this is the live feed for a SIEM.

use crate::chain::PendingEvent;
use crate::scope::{Actor, RequestMeta};
use labledger_domain::OrgId;

/// Action prefixes (or whole actions) that a security team wants to see as they happen.
const PRIVILEGED: &[&str] = &[
    "access_request.approve",
    "access_request.revoke",
    "api_token.",
    "export.",
    "invitation.create",
    "member.",
    "role.",
    "org.",
    "retention.set",
    "vault.",
    "mfa.",
];

/// The actions of `events` that are privileged changes.
pub(crate) fn privileged(events: &[PendingEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| is_privileged(&e.action))
        .map(|e| e.action.clone())
        .collect()
}

fn is_privileged(action: &str) -> bool {
    PRIVILEGED.iter().any(|p| {
        if p.ends_with('.') {
            action.starts_with(p)
        } else {
            action == *p
        }
    })
}

/// Logs committed privileged changes (call only after the commit).
pub(crate) fn report_committed(org: OrgId, actor: &Actor, meta: &RequestMeta, actions: &[String]) {
    for action in actions {
        tracing::info!(
            target: "security",
            event = "privileged_change",
            action = %action,
            org = %org,
            actor = %format_args!("{}:{}", actor.kind.as_str(), actor.id.as_deref().unwrap_or("-")),
            request_id = meta.request_id.as_deref().unwrap_or(""),
            client_ip = meta.source_ip.as_deref().unwrap_or(""),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_roles_tokens_and_exports_are_privileged_lab_records_are_not() {
        for action in [
            "access_request.approve",
            "member.roles_change",
            "api_token.create",
            "export.download",
            "role.update",
            "vault.org_key_rotate",
        ] {
            assert!(is_privileged(action), "{action}");
        }
        for action in [
            "sample.create",
            "access_request.create",
            "file.upload",
            "batch.create",
        ] {
            assert!(!is_privileged(action), "{action}");
        }
    }
}
