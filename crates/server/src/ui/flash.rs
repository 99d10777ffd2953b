//! Flash messages. After a successful POST the UI redirects with `?ok=<key>`; the key maps to a
//! fixed sentence, so no text from the query is ever shown back.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Success,
    Error,
    Info,
}

#[derive(Clone, Debug)]
pub struct Flash {
    pub kind: Kind,
    pub message: String,
}

impl Flash {
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Success,
            message: message.into(),
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Error,
            message: message.into(),
        }
    }
    pub fn is_error(&self) -> bool {
        self.kind == Kind::Error
    }
    pub fn kind_class(&self) -> &'static str {
        match self.kind {
            Kind::Success => "success",
            Kind::Error => "error",
            Kind::Info => "info",
        }
    }
}

/// The outcomes a redirect can announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    LoggedOut,
    MemberAdded,
    ExistingMemberAdded,
    RolesChanged,
    MemberRemoved,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    SampleRegistered,
    SamplesImported,
    SampleMoved,
    BatchChanged,
    MemberDeactivated,
    LocationCreated,
    SamplePlaced,
    SampleRemoved,
    SampleHandedOver,
    SamplesDerived,
    HoldPlaced,
    HoldReleased,
    FileDeleted,
    AnalysisRegistered,
    RetentionSet,
}

const NOTICES: [(Notice, &str, &str); 23] = [
    (Notice::LoggedOut, "logged-out", "You have been logged out."),
    (Notice::MemberAdded, "member-added", "Member added."),
    (
        Notice::ExistingMemberAdded,
        "existing-member-added",
        "Member added: they already had an account and keep their password.",
    ),
    (Notice::RolesChanged, "roles-changed", "Roles changed."),
    (Notice::MemberRemoved, "member-removed", "Member removed."),
    (Notice::RoleCreated, "role-created", "Role created."),
    (Notice::RoleUpdated, "role-updated", "Role saved."),
    (Notice::RoleDeleted, "role-deleted", "Role deleted."),
    (
        Notice::SampleRegistered,
        "sample-registered",
        "Sample registered.",
    ),
    (
        Notice::SamplesImported,
        "samples-imported",
        "Samples imported.",
    ),
    (Notice::SampleMoved, "sample-moved", "Sample moved."),
    (Notice::BatchChanged, "batch-changed", "Batch saved."),
    (
        Notice::MemberDeactivated,
        "member-deactivated",
        "Member deactivated: their sessions have ended.",
    ),
    (
        Notice::LocationCreated,
        "location-created",
        "Location added.",
    ),
    (
        Notice::SamplePlaced,
        "sample-placed",
        "Sample stored in the box.",
    ),
    (
        Notice::SampleRemoved,
        "sample-removed",
        "Sample taken out of its box.",
    ),
    (
        Notice::SampleHandedOver,
        "sample-handed-over",
        "Sample handed over.",
    ),
    (
        Notice::SamplesDerived,
        "samples-derived",
        "Child samples registered.",
    ),
    (
        Notice::HoldPlaced,
        "hold-placed",
        "Legal hold placed: the file cannot be deleted until it is released.",
    ),
    (
        Notice::HoldReleased,
        "hold-released",
        "Legal hold released.",
    ),
    (
        Notice::FileDeleted,
        "file-deleted",
        "File deleted: its record remains as a tombstone.",
    ),
    (
        Notice::AnalysisRegistered,
        "analysis-registered",
        "Analysis registered.",
    ),
    (
        Notice::RetentionSet,
        "retention-set",
        "Retention period saved.",
    ),
];

impl Notice {
    pub fn key(self) -> &'static str {
        NOTICES
            .iter()
            .find(|(n, _, _)| *n == self)
            .map(|(_, k, _)| *k)
            .unwrap_or("")
    }

    /// `path?ok=key`, the target of a post/redirect/get.
    pub fn redirect(self, path: &str) -> axum::response::Redirect {
        axum::response::Redirect::to(&format!("{path}?ok={}", self.key()))
    }
}

/// The flash named by a query string's `ok` parameter, if it names a known one.
pub fn from_query(query: Option<&str>) -> Option<Flash> {
    let query = query?;
    let key = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "ok")
        .map(|(_, v)| v)?;
    let (notice, _, message) = NOTICES.iter().find(|(_, k, _)| *k == key)?;
    let kind = if *notice == Notice::LoggedOut {
        Kind::Info
    } else {
        Kind::Success
    };
    Some(Flash {
        kind,
        message: (*message).to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn only_known_keys_become_messages() {
        assert_eq!(
            from_query(Some("ok=member-added")).map(|f| f.message),
            Some("Member added.".to_owned())
        );
        assert!(from_query(Some("ok=%3Cscript%3E")).is_none());
        assert!(from_query(Some("other=1")).is_none());
        assert!(from_query(None).is_none());
        for (n, k, _) in NOTICES {
            assert_eq!(n.key(), k);
        }
    }
}
