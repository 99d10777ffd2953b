//! Projects: named groups of an org's lab records with their own member list. A project is
//! active or archived; an archived project takes no new records until it is reactivated.

use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    Active,
    Archived,
}

impl ProjectStatus {
    pub const ALL: [ProjectStatus; 2] = [ProjectStatus::Active, ProjectStatus::Archived];

    pub const fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Archived => "archived",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be one of active, archived"))
    }

    /// Whether new records may be filed under the project.
    pub fn takes_records(self) -> Result<(), ProjectArchived> {
        match self {
            ProjectStatus::Active => Ok(()),
            ProjectStatus::Archived => Err(ProjectArchived),
        }
    }
}

impl fmt::Display for ProjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the project is archived: reactivate it to file new records under it")]
pub struct ProjectArchived;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_projects_take_records() {
        assert_eq!(ProjectStatus::Active.takes_records(), Ok(()));
        assert_eq!(
            ProjectStatus::Archived.takes_records(),
            Err(ProjectArchived)
        );
    }

    #[test]
    fn status_text_round_trips_and_unknown_is_refused() {
        for s in ProjectStatus::ALL {
            assert_eq!(ProjectStatus::parse("status", s.as_str()), Ok(s));
        }
        assert!(ProjectStatus::parse("status", "deleted").is_err());
    }
}
