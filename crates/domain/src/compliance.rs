//! Compliance records: deviations and CAPA (corrective and preventive actions).
//!
//! open → investigating → closed. Closing needs a root cause and the actions taken, and is done
//! by an e-signature (meaning `closed`); a closed record is final and read-only.

use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Deviation,
    Capa,
}

impl RecordKind {
    pub const ALL: [RecordKind; 2] = [RecordKind::Deviation, RecordKind::Capa];

    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Deviation => "deviation",
            RecordKind::Capa => "capa",
        }
    }

    /// The prefix of the per-org human code: `DEV-000001`, `CAPA-000001`.
    pub const fn code_prefix(self) -> &'static str {
        match self {
            RecordKind::Deviation => "DEV",
            RecordKind::Capa => "CAPA",
        }
    }

    pub fn code(self, n: i64) -> String {
        format!("{}-{n:06}", self.code_prefix())
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be deviation or capa"))
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceState {
    Open,
    Investigating,
    Closed,
}

impl ComplianceState {
    pub const ALL: [ComplianceState; 3] = [
        ComplianceState::Open,
        ComplianceState::Investigating,
        ComplianceState::Closed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ComplianceState::Open => "open",
            ComplianceState::Investigating => "investigating",
            ComplianceState::Closed => "closed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be open, investigating or closed"))
    }

    pub fn next(self) -> &'static [ComplianceState] {
        match self {
            ComplianceState::Open => &[ComplianceState::Investigating],
            ComplianceState::Investigating => &[ComplianceState::Closed],
            ComplianceState::Closed => &[],
        }
    }

    /// Fields may change until the record is closed.
    pub fn editable(self) -> bool {
        self != ComplianceState::Closed
    }

    pub fn transition(
        self,
        to: ComplianceState,
    ) -> Result<ComplianceState, IllegalComplianceTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalComplianceTransition { from: self, to })
        }
    }
}

impl fmt::Display for ComplianceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a compliance record cannot go from {from} to {to}{}", match from {
    ComplianceState::Open => " (an open record is investigated first)",
    ComplianceState::Investigating => " (an investigated record is closed with a signature)",
    ComplianceState::Closed => ": a closed record is final",
})]
pub struct IllegalComplianceTransition {
    pub from: ComplianceState,
    pub to: ComplianceState,
}

/// Closing needs the investigation written down: a root cause and the actions taken.
pub fn check_closable(
    state: ComplianceState,
    root_cause: Option<&str>,
    actions: Option<&str>,
) -> Result<(), String> {
    state
        .transition(ComplianceState::Closed)
        .map_err(|e| e.to_string())?;
    let blank = |s: Option<&str>| s.is_none_or(|s| s.trim().is_empty());
    match (blank(root_cause), blank(actions)) {
        (true, true) => Err("record the root cause and the actions before closing".into()),
        (true, false) => Err("record the root cause before closing".into()),
        (false, true) => Err("record the actions before closing".into()),
        (false, false) => Ok(()),
    }
}

/// What a compliance record may be linked to. Batches and workflow runs are named already so
/// links to them need no new table when they arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkTarget {
    Sample,
    ProtocolVersion,
    Batch,
    WorkflowRun,
}

impl LinkTarget {
    pub const ALL: [LinkTarget; 4] = [
        LinkTarget::Sample,
        LinkTarget::ProtocolVersion,
        LinkTarget::Batch,
        LinkTarget::WorkflowRun,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LinkTarget::Sample => "sample",
            LinkTarget::ProtocolVersion => "protocol_version",
            LinkTarget::Batch => "batch",
            LinkTarget::WorkflowRun => "workflow_run",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    "must be sample, protocol_version, batch or workflow_run",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComplianceState::*;

    #[test]
    fn every_legal_transition_is_allowed_and_every_other_refused() {
        let legal = [(Open, Investigating), (Investigating, Closed)];
        for from in ComplianceState::ALL {
            for to in ComplianceState::ALL {
                assert_eq!(
                    from.transition(to).is_ok(),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(Open
            .transition(Closed)
            .unwrap_err()
            .to_string()
            .contains("investigated first"));
        assert!(Closed
            .transition(Open)
            .unwrap_err()
            .to_string()
            .contains("final"));
        assert!(Investigating.transition(Open).is_err());
        assert!(Closed.transition(Investigating).is_err());
        assert!(Closed.transition(Closed).is_err());
    }

    #[test]
    fn closing_needs_root_cause_actions_and_an_investigation() {
        assert!(check_closable(Investigating, Some("cause"), Some("fixed")).is_ok());
        assert!(check_closable(Investigating, None, Some("fixed"))
            .unwrap_err()
            .contains("root cause"));
        assert!(check_closable(Investigating, Some("c"), Some("  "))
            .unwrap_err()
            .contains("actions"));
        assert!(check_closable(Open, Some("c"), Some("a")).is_err());
        assert!(check_closable(Closed, Some("c"), Some("a")).is_err());
        assert!(!Closed.editable());
        assert!(Open.editable() && Investigating.editable());
    }

    #[test]
    fn codes_kinds_and_links() {
        assert_eq!(RecordKind::Deviation.code(7), "DEV-000007");
        assert_eq!(RecordKind::Capa.code(12), "CAPA-000012");
        assert_eq!(RecordKind::parse("kind", "capa").unwrap(), RecordKind::Capa);
        assert!(RecordKind::parse("kind", "incident").is_err());
        assert_eq!(
            LinkTarget::parse("t", "protocol_version").unwrap(),
            LinkTarget::ProtocolVersion
        );
        assert!(LinkTarget::parse("t", "user").is_err());
    }
}
