//! LabLedger's domain: pure types and rules, no I/O and no async.
//!
//! Everything that can be decided without a database lives here, with its unit tests beside it:
//! identifiers, permissions and roles, validation of every input field, and the canonical
//! encoding and hash chaining of audit events.

pub mod attachment;
pub mod audit;
pub mod batch;
pub mod compliance;
pub mod custom_field;
pub mod eln_crate;
pub mod eln_zip;
pub mod export;
pub mod file;
pub mod ids;
pub mod jcs;
pub mod label;
pub mod permission;
pub mod project;
pub mod protocol;
pub mod role;
pub mod sample;
pub mod signature;
pub mod storage;
pub mod throttle;
pub mod time;
pub mod validate;
pub mod workflow;

pub use ids::AnalysisId;
pub use ids::ExportRequestId;
pub use ids::LocationId;
pub use ids::WorkflowRunId;
pub use ids::{
    AccessRequestId, ApiTokenId, BatchId, FileId, InvitationId, OrgId, ProjectId, RoleId, SampleId,
    UserId,
};
pub use ids::{ComplianceRecordId, ProtocolId, ProtocolVersionId, SignatureId};
pub use permission::{Action, Permission, PermissionSet, Resource};
pub use role::BuiltinRole;
pub use time::Timestamp;
pub use validate::{FieldError, FieldErrors};
