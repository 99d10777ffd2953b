//! Evidence files attached to lab records: what a file may be attached to, and when a record
//! still takes new evidence.
//!
//! A sample takes evidence in every state (a disposal certificate is evidence too). A batch
//! takes evidence open or closed: closing freezes which samples it holds, and a batch is
//! processed (workflow runs start only on a closed batch) after it closes, so its instrument
//! output arrives then. A workflow run takes evidence only while in progress: a completed run
//! was signed as it stood and an aborted one is final, so new evidence would change a signed
//! or closed record; such evidence belongs to the run's samples (or a compliance record).

use crate::validate::FieldError;
use crate::workflow::RunStatus;
use std::fmt;

/// The kind of record a file is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachmentTarget {
    Sample,
    Batch,
    WorkflowRun,
}

impl AttachmentTarget {
    pub const ALL: [AttachmentTarget; 3] = [
        AttachmentTarget::Sample,
        AttachmentTarget::Batch,
        AttachmentTarget::WorkflowRun,
    ];

    /// The stored and serialized name (`target_type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AttachmentTarget::Sample => "sample",
            AttachmentTarget::Batch => "batch",
            AttachmentTarget::WorkflowRun => "workflow_run",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be sample, batch or workflow_run"))
    }
}

impl fmt::Display for AttachmentTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record takes no new evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceRefused {
    #[error(
        "The workflow run is {0}: a finished run is a signed, final record and takes no new \
         evidence. Attach the file to the run's samples instead."
    )]
    RunFinished(&'static str),
}

/// Whether a workflow run in `status` takes a new attachment.
pub fn run_accepts_evidence(status: RunStatus) -> Result<(), EvidenceRefused> {
    match status {
        RunStatus::InProgress => Ok(()),
        s @ (RunStatus::Completed | RunStatus::Aborted) => {
            Err(EvidenceRefused::RunFinished(s.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_round_trip_and_unknown_ones_name_the_field() {
        for t in AttachmentTarget::ALL {
            assert_eq!(AttachmentTarget::parse("target_type", t.as_str()), Ok(t));
        }
        let err = AttachmentTarget::parse("target_type", "project").unwrap_err();
        assert_eq!(err.field, "target_type");
        assert!(AttachmentTarget::parse("x", "Sample").is_err());
    }

    #[test]
    fn only_a_run_in_progress_takes_evidence() {
        assert_eq!(run_accepts_evidence(RunStatus::InProgress), Ok(()));
        assert_eq!(
            run_accepts_evidence(RunStatus::Completed),
            Err(EvidenceRefused::RunFinished("completed"))
        );
        assert_eq!(
            run_accepts_evidence(RunStatus::Aborted),
            Err(EvidenceRefused::RunFinished("aborted"))
        );
        assert!(run_accepts_evidence(RunStatus::Aborted)
            .unwrap_err()
            .to_string()
            .contains("aborted"));
    }
}
