//! Samples: the per-org human code and the status lifecycle.
//!
//! registered → received → in_process ⇄ stored → consumed | disposed. A sample may be disposed
//! from any live state; consumed and disposed are final.

use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleStatus {
    Registered,
    Received,
    InProcess,
    Stored,
    Consumed,
    Disposed,
}

impl SampleStatus {
    pub const ALL: [SampleStatus; 6] = [
        SampleStatus::Registered,
        SampleStatus::Received,
        SampleStatus::InProcess,
        SampleStatus::Stored,
        SampleStatus::Consumed,
        SampleStatus::Disposed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SampleStatus::Registered => "registered",
            SampleStatus::Received => "received",
            SampleStatus::InProcess => "in_process",
            SampleStatus::Stored => "stored",
            SampleStatus::Consumed => "consumed",
            SampleStatus::Disposed => "disposed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "must be one of {}",
                        Self::ALL.map(|v| v.as_str()).join(", ")
                    ),
                )
            })
    }

    /// The statuses a sample may move to from this one.
    pub fn next(self) -> &'static [SampleStatus] {
        use SampleStatus::*;
        match self {
            Registered => &[Received, Disposed],
            Received => &[InProcess, Stored, Disposed],
            InProcess => &[Stored, Consumed, Disposed],
            Stored => &[InProcess, Consumed, Disposed],
            Consumed | Disposed => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// Checks a move, naming both ends and the allowed ones when it is refused.
    pub fn transition(self, to: SampleStatus) -> Result<SampleStatus, IllegalTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for SampleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sample cannot go from {from} to {to}{}", allowed(*from))]
pub struct IllegalTransition {
    pub from: SampleStatus,
    pub to: SampleStatus,
}

fn allowed(from: SampleStatus) -> String {
    if from.is_final() {
        format!(": {from} is final")
    } else {
        format!(
            " (from {from} it may go to {})",
            from.next()
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The per-org human code of the n-th sample: `S-000001`. Gapless and never reused.
pub fn sample_code(n: i64) -> String {
    format!("S-{n:06}")
}

/// The bounds `[low, high)` of the codes that start with `prefix`, compared byte by byte: a
/// prefix search is then a range of the code index. The prefix is trimmed and upper-cased (codes
/// are `S-000123`); it must be 1 to 32 printable ASCII characters.
pub fn code_prefix_range(field: &str, prefix: &str) -> Result<(String, String), FieldError> {
    let low = prefix.trim().to_ascii_uppercase();
    if low.is_empty() || low.len() > 32 || !low.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            field,
            "must be the start of a sample code, such as S-0001 (1 to 32 letters, digits or signs)",
        ));
    }
    // The last byte is printable ASCII (at most `~`), so one more is still ASCII.
    let mut high = low.clone().into_bytes();
    if let Some(last) = high.last_mut() {
        *last += 1;
    }
    let high = String::from_utf8(high).map_err(|_| FieldError::new(field, "is not ASCII"))?;
    Ok((low, high))
}

/// A sample type: a short lower-case word or phrase such as `blood`, `serum`, `tissue biopsy`.
pub fn parse_sample_type(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim().to_lowercase();
    if s.is_empty() || s.chars().count() > 64 {
        return Err(FieldError::new(field, "must be 1 to 64 characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '/' | '.'))
    {
        return Err(FieldError::new(
            field,
            "may contain letters, digits, spaces and - _ / . only",
        ));
    }
    Ok(s)
}

/// How a child sample came from its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivationKind {
    /// A portion of the same material.
    Aliquot,
    /// New material made from the parent (e.g. DNA extracted from blood).
    Derivative,
}

impl DerivationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            DerivationKind::Aliquot => "aliquot",
            DerivationKind::Derivative => "derivative",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "aliquot" => Ok(DerivationKind::Aliquot),
            "derivative" => Ok(DerivationKind::Derivative),
            _ => Err(FieldError::new(field, "must be aliquot or derivative")),
        }
    }
}

/// The most children one request makes.
pub const MAX_CHILDREN: u32 = 100;

/// The parent's quantity after `count` children of `each` are taken from it. Taking needs a
/// recorded parent quantity and may not exceed it; taking nothing leaves it as it is.
pub fn remaining_after(
    parent: Option<f64>,
    each: Option<f64>,
    count: u32,
) -> Result<Option<f64>, String> {
    let Some(each) = each else {
        return Ok(parent);
    };
    let Some(have) = parent else {
        return Err("the parent has no recorded quantity to take from".into());
    };
    let take = each * f64::from(count);
    // Round away float noise (0.1 + 0.2) at a nanounit.
    let left = ((have - take) * 1e9).round() / 1e9;
    if left < 0.0 {
        return Err(format!(
            "{count} × {each} is {take}, more than the {have} the parent holds"
        ));
    }
    Ok(Some(left))
}

#[cfg(test)]
mod tests {
    use super::*;
    use SampleStatus::*;

    #[test]
    fn a_code_prefix_is_the_range_of_codes_that_start_with_it() {
        let (low, high) = code_prefix_range("code_prefix", " s-0001 ").unwrap();
        assert_eq!((low.as_str(), high.as_str()), ("S-0001", "S-0002"));
        for inside in ["S-0001", "S-000123", "S-0001999999"] {
            assert!(low.as_str() <= inside && inside < high.as_str(), "{inside}");
        }
        for outside in ["S-0000999", "S-0002", "S-000", "T-0001"] {
            assert!(
                !(low.as_str() <= outside && outside < high.as_str()),
                "{outside}"
            );
        }
        assert_eq!(code_prefix_range("c", "A~").unwrap().1, "A\u{7f}");
        for bad in ["", "   ", "S 1", "Ö-1", &"S".repeat(33)] {
            assert!(code_prefix_range("c", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_legal_transition_is_allowed_and_every_other_refused() {
        let legal = [
            (Registered, Received),
            (Registered, Disposed),
            (Received, InProcess),
            (Received, Stored),
            (Received, Disposed),
            (InProcess, Stored),
            (InProcess, Consumed),
            (InProcess, Disposed),
            (Stored, InProcess),
            (Stored, Consumed),
            (Stored, Disposed),
        ];
        for from in SampleStatus::ALL {
            for to in SampleStatus::ALL {
                let ok = from.transition(to).is_ok();
                assert_eq!(ok, legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn final_states_say_so() {
        let e = Consumed.transition(Stored).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a sample cannot go from consumed to stored: consumed is final"
        );
        let e = Registered.transition(Stored).unwrap_err();
        assert_eq!(e.to_string(), "a sample cannot go from registered to stored (from registered it may go to received, disposed)");
    }

    #[test]
    fn codes_and_types() {
        assert_eq!(sample_code(1), "S-000001");
        assert_eq!(sample_code(1_234_567), "S-1234567");
        assert_eq!(parse_sample_type("t", " Blood ").unwrap(), "blood");
        assert!(parse_sample_type("t", "").is_err());
        assert!(parse_sample_type("t", "<script>").is_err());
        assert_eq!(SampleStatus::parse("to", "in_process").unwrap(), InProcess);
        assert!(SampleStatus::parse("to", "lost").is_err());
    }

    #[test]
    fn taking_aliquots_lowers_the_parent_and_never_below_zero() {
        assert_eq!(remaining_after(Some(10.0), Some(2.5), 2), Ok(Some(5.0)));
        assert_eq!(remaining_after(Some(0.3), Some(0.1), 3), Ok(Some(0.0)));
        assert_eq!(remaining_after(Some(1.0), None, 5), Ok(Some(1.0)));
        assert_eq!(remaining_after(None, None, 1), Ok(None));
        assert!(remaining_after(None, Some(1.0), 1).is_err());
        let e = remaining_after(Some(1.0), Some(0.6), 2).unwrap_err();
        assert_eq!(e, "2 × 0.6 is 1.2, more than the 1 the parent holds");
        assert_eq!(
            DerivationKind::parse("kind", "aliquot").unwrap(),
            DerivationKind::Aliquot
        );
        assert!(DerivationKind::parse("kind", "clone").is_err());
    }
}
