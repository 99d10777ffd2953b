//! Record identifiers: UUIDv7, so they sort by creation time and index well.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lower-case: the one form stored and shown everywhere.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

id_type!(
    /// An organization (tenant).
    OrgId
);
id_type!(
    /// A person who can log in; may belong to several organizations.
    UserId
);
id_type!(
    /// A role inside one organization (built-in or custom).
    RoleId
);
id_type!(
    /// An API token of one organization.
    ApiTokenId
);
id_type!(
    /// A request for just-in-time privileged access to one organization.
    AccessRequestId
);

id_type!(
    /// A physical sample (or aliquot) of one organization.
    SampleId
);
id_type!(
    /// An invitation to join one organization.
    InvitationId
);
id_type!(
    /// A batch of samples of one organization.
    BatchId
);
id_type!(
    /// A project of one organization.
    ProjectId
);

id_type!(
    /// An electronic signature of one record.
    SignatureId
);
id_type!(
    /// A protocol (SOP) of one organization.
    ProtocolId
);
id_type!(
    /// One version of a protocol.
    ProtocolVersionId
);
id_type!(
    /// A deviation or CAPA record.
    ComplianceRecordId
);
id_type!(
    /// A storage location of one organization (site, room, freezer, rack or box).
    LocationId
);
id_type!(
    /// One version of an evidence file of one organization.
    FileId
);
id_type!(
    /// A run of a protocol version on a sample or a batch.
    WorkflowRunId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = OrgId::new();
        let parsed: OrgId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("not-a-uuid".parse::<OrgId>().is_err());
        assert!("".parse::<OrgId>().is_err());
    }
}
id_type!(
    /// An analysis: an output derived from inputs (provenance).
    AnalysisId
);
id_type!(
    /// A request to export (a large project or a whole org) that a second admin approves.
    ExportRequestId
);
