//! Batches: a named group of samples processed together. A batch takes samples while open and
//! is frozen once closed; closing is final.

use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Open,
    Closed,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 2] = [BatchStatus::Open, BatchStatus::Closed];

    pub const fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Open => "open",
            BatchStatus::Closed => "closed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be one of open, closed"))
    }

    /// Whether samples may still be added or removed.
    pub fn accepts_changes(self) -> Result<(), BatchClosed> {
        match self {
            BatchStatus::Open => Ok(()),
            BatchStatus::Closed => Err(BatchClosed),
        }
    }

    /// Closing: only an open batch closes.
    pub fn close(self) -> Result<BatchStatus, BatchClosed> {
        self.accepts_changes().map(|()| BatchStatus::Closed)
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the batch is closed: its samples can no longer change")]
pub struct BatchClosed;

/// The per-org human code of the n-th batch: `B-000001`. Gapless and never reused.
pub fn batch_code(n: i64) -> String {
    format!("B-{n:06}")
}

/// The most samples one batch holds.
pub const MAX_BATCH_SAMPLES: usize = 10_000;

/// Parses a list of sample codes (`S-000123`), trimmed, upper-cased, without duplicates, in
/// the order given; names the first bad entry as `field[i]`.
pub fn parse_sample_codes(field: &str, raw: &[String]) -> Result<Vec<String>, FieldError> {
    if raw.len() > MAX_BATCH_SAMPLES {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_BATCH_SAMPLES} codes at once"),
        ));
    }
    let mut codes: Vec<String> = Vec::with_capacity(raw.len());
    for (i, code) in raw.iter().enumerate() {
        let c = code.trim().to_uppercase();
        let digits = c.strip_prefix("S-").unwrap_or("");
        if digits.len() < 6 || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                "must be a sample code such as S-000123",
            ));
        }
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_batch_changes_and_closes_a_closed_one_does_neither() {
        assert_eq!(BatchStatus::Open.accepts_changes(), Ok(()));
        assert_eq!(BatchStatus::Open.close(), Ok(BatchStatus::Closed));
        assert_eq!(BatchStatus::Closed.accepts_changes(), Err(BatchClosed));
        assert_eq!(BatchStatus::Closed.close(), Err(BatchClosed));
    }

    #[test]
    fn status_text_round_trips_and_unknown_is_refused() {
        for s in BatchStatus::ALL {
            assert_eq!(BatchStatus::parse("status", s.as_str()), Ok(s));
        }
        assert!(BatchStatus::parse("status", "archived").is_err());
    }

    #[test]
    fn codes_are_normalised_deduplicated_and_bad_ones_named() {
        let ok = parse_sample_codes(
            "codes",
            &[" s-000001".into(), "S-000002".into(), "S-000001".into()],
        );
        assert_eq!(ok, Ok(vec!["S-000001".to_owned(), "S-000002".to_owned()]));
        let bad = parse_sample_codes("codes", &["S-000001".into(), "X-1".into()]).unwrap_err();
        assert_eq!(bad.field, "codes[1]");
        assert!(parse_sample_codes("codes", &["S-12".into()]).is_err());
        assert!(parse_sample_codes("codes", &["S-0000a1".into()]).is_err());
    }

    #[test]
    fn batch_codes_are_zero_padded() {
        assert_eq!(batch_code(1), "B-000001");
        assert_eq!(batch_code(1234567), "B-1234567");
    }
}
