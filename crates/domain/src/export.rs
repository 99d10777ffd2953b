//! Export requests: an export of a whole org, or of a project larger than the configured
//! threshold, waits for a second Owner/Admin. The rules of that life cycle:
//!
//! ```text
//! pending --approve (another admin)--> approved --(24 h after approval)--> expired
//!    |  \--reject (another admin)----> rejected
//!    \----(24 h after the request)---> expired
//! ```
//!
//! Only the requester downloads an approved export (as often as needed until it expires).

use crate::{Timestamp, UserId};

/// How long a pending request waits, and how long an approval stays good (seconds).
pub const VALID_SECS: i64 = 24 * 3600;
/// The default size above which a project export needs an approval (1 GiB).
pub const DEFAULT_APPROVAL_BYTES: u64 = 1 << 30;

/// What is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Project,
    Org,
}

impl ExportKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ExportKind::Project => "project",
            ExportKind::Org => "org",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "project" => Some(ExportKind::Project),
            "org" => Some(ExportKind::Org),
            _ => None,
        }
    }
}

/// Whether an export must wait for a second admin: a whole org always, a project when its
/// estimated size is over the threshold.
pub fn needs_approval(kind: ExportKind, estimated_bytes: u64, threshold: u64) -> bool {
    kind == ExportKind::Org || estimated_bytes > threshold
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl RequestState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Rejected => "rejected",
            RequestState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RequestState::Pending),
            "approved" => Some(RequestState::Approved),
            "rejected" => Some(RequestState::Rejected),
            "expired" => Some(RequestState::Expired),
            _ => None,
        }
    }

    /// The state in force at `now`: a pending or approved request past its `expires_at` is
    /// expired (nothing has to run for it to lapse).
    pub fn at(self, expires_at: Timestamp, now: Timestamp) -> Self {
        match self {
            RequestState::Pending | RequestState::Approved if now >= expires_at => {
                RequestState::Expired
            }
            s => s,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Why a transition is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("nobody approves or rejects their own export request")]
    OwnRequest,
    #[error("the export request is {}, not pending", .0.as_str())]
    NotPending(RequestState),
    #[error("the export request is {}, not approved", .0.as_str())]
    NotApproved(RequestState),
    #[error("only the person who asked for the export downloads it")]
    NotRequester,
}

/// A decision on a request in `state` (already [`RequestState::at`] now): the new state, and
/// when it expires (an approval is good for [`VALID_SECS`] from `now`).
pub fn decide(
    state: RequestState,
    requester: UserId,
    decider: UserId,
    decision: Decision,
    now: Timestamp,
) -> Result<(RequestState, Option<Timestamp>), RequestError> {
    if requester == decider {
        return Err(RequestError::OwnRequest);
    }
    if state != RequestState::Pending {
        return Err(RequestError::NotPending(state));
    }
    Ok(match decision {
        Decision::Approve => (RequestState::Approved, Some(now.plus_secs(VALID_SECS))),
        Decision::Reject => (RequestState::Rejected, None),
    })
}

/// Whether `caller` may download the export of a request in `state` (already at now).
pub fn may_download(
    state: RequestState,
    requester: UserId,
    caller: UserId,
) -> Result<(), RequestError> {
    if requester != caller {
        return Err(RequestError::NotRequester);
    }
    if state != RequestState::Approved {
        return Err(RequestError::NotApproved(state));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn whole_orgs_and_large_projects_need_an_approval() {
        assert!(needs_approval(ExportKind::Org, 0, u64::MAX));
        assert!(needs_approval(ExportKind::Project, 11, 10));
        assert!(!needs_approval(ExportKind::Project, 10, 10));
        assert_eq!(ExportKind::parse("org"), Some(ExportKind::Org));
        assert_eq!(ExportKind::parse("x"), None);
    }

    #[test]
    fn requests_lapse_by_time() {
        let t = Timestamp::from_micros(1_000_000);
        let later = t.plus_secs(1);
        for s in [RequestState::Pending, RequestState::Approved] {
            assert_eq!(s.at(later, t), s);
            assert_eq!(s.at(t, t), RequestState::Expired);
        }
        assert_eq!(RequestState::Rejected.at(t, later), RequestState::Rejected);
        for s in ["pending", "approved", "rejected", "expired"] {
            assert_eq!(RequestState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(RequestState::parse("done"), None);
    }

    #[test]
    fn a_second_person_decides_a_pending_request_only() {
        let (a, b) = (UserId::new(), UserId::new());
        let now = Timestamp::from_micros(5);
        assert_eq!(
            decide(RequestState::Pending, a, a, Decision::Approve, now),
            Err(RequestError::OwnRequest)
        );
        assert_eq!(
            decide(RequestState::Pending, a, a, Decision::Reject, now),
            Err(RequestError::OwnRequest)
        );
        let (s, exp) = decide(RequestState::Pending, a, b, Decision::Approve, now).unwrap();
        assert_eq!(s, RequestState::Approved);
        assert_eq!(exp, Some(now.plus_secs(VALID_SECS)));
        assert_eq!(
            decide(RequestState::Pending, a, b, Decision::Reject, now),
            Ok((RequestState::Rejected, None))
        );
        for s in [
            RequestState::Approved,
            RequestState::Rejected,
            RequestState::Expired,
        ] {
            for d in [Decision::Approve, Decision::Reject] {
                assert_eq!(decide(s, a, b, d, now), Err(RequestError::NotPending(s)));
            }
        }
    }

    #[test]
    fn only_the_requester_downloads_an_approved_export() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_eq!(may_download(RequestState::Approved, a, a), Ok(()));
        assert_eq!(
            may_download(RequestState::Approved, a, b),
            Err(RequestError::NotRequester)
        );
        for s in [
            RequestState::Pending,
            RequestState::Rejected,
            RequestState::Expired,
        ] {
            assert_eq!(may_download(s, a, a), Err(RequestError::NotApproved(s)));
        }
    }
}
