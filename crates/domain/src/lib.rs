//! LabLedger's domain: pure types and rules, no I/O and no async.
//!
//! Everything that can be decided without a database lives here, with its unit tests beside it:
//! identifiers, permissions and roles, validation of every input field, and the canonical
//! encoding and hash chaining of audit events.

pub mod audit;
pub mod file;
pub mod ids;
pub mod jcs;
pub mod permission;
pub mod role;
pub mod sample;
pub mod throttle;
pub mod time;
pub mod validate;

pub use ids::{AccessRequestId, ApiTokenId, FileId, InvitationId, OrgId, RoleId, SampleId, UserId};
pub use permission::{Action, Permission, PermissionSet, Resource};
pub use role::BuiltinRole;
pub use time::Timestamp;
pub use validate::{FieldError, FieldErrors};
