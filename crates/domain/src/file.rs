//! Evidence files: the rules of their names, sizes and byte ranges.

use crate::FieldError;

/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// A file's name: 1–255 characters after trimming, no control characters, no path separators,
/// not `.` or `..` (a name is a label, never a path).
pub fn parse_file_name(field: &str, raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(FieldError::new(field, "must not contain `/` or `\\`"));
    }
    if name == "." || name == ".." {
        return Err(FieldError::new(field, "must not be `.` or `..`"));
    }
    Ok(name.to_owned())
}

/// Parses a size such as `10GiB`, `512MiB`, `64KiB`, `1G` or a plain byte count.
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let s = raw.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{raw}` is not a size (e.g. 10GiB, 512MiB, 1048576)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        "t" | "tib" | "tb" => 1 << 40,
        _ => return Err(format!("`{raw}`: unknown unit (use KiB, MiB, GiB or TiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{raw}` is too large"))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range: the whole file.
    Full,
    /// Bytes `first..=last` (both within the file).
    Bytes(u64, u64),
    /// A range that cannot be served (malformed, several ranges, or outside the file): 416.
    Unsatisfiable,
}

/// Parses one `Range: bytes=a-b | a- | -n` header against a file of `size` bytes (RFC 9110
/// §14.1.2; one range only).
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Full;
    };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Unsatisfiable;
    };
    if spec.contains(',') {
        return RangeRequest::Unsatisfiable;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let num = |t: &str| -> Option<u64> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            t.parse().ok()
        }
    };
    let (first, last) = match (a.trim().is_empty(), b.trim().is_empty()) {
        // `-n`: the last n bytes.
        (true, false) => match num(b) {
            Some(0) | None => return RangeRequest::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
        },
        (false, true) => match num(a) {
            Some(first) => (first, size.saturating_sub(1)),
            None => return RangeRequest::Unsatisfiable,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(first), Some(last)) if first <= last => (first, last.min(size.saturating_sub(1))),
            _ => return RangeRequest::Unsatisfiable,
        },
        (true, true) => return RangeRequest::Unsatisfiable,
    };
    if size == 0 || first >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Bytes(first, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_labels_not_paths() {
        assert_eq!(
            parse_file_name("name", "  run 7.csv ").unwrap(),
            "run 7.csv"
        );
        for bad in ["", "   ", "a/b", "..\\x", ".", "..", "a\u{0}b", "tab\there"] {
            assert!(parse_file_name("name", bad).is_err(), "{bad:?}");
        }
        assert!(parse_file_name("name", &"x".repeat(255)).is_ok());
        assert_eq!(
            parse_file_name("name", &"x".repeat(256)).unwrap_err().field,
            "name"
        );
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Bytes(0, 3));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Bytes(4, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Bytes(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Bytes(0, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Bytes(5, 9));
        for bad in [
            "bytes=10-",
            "bytes=10-12",
            "bytes=3-2",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(Some(bad), 10), Unsatisfiable, "{bad}");
        }
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-1"), 0), Unsatisfiable);
    }
}

/// What kind of evidence a file is; each category has its own retention period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCategory {
    Raw,
    Analysis,
    Report,
    Other,
}

impl FileCategory {
    pub const ALL: [FileCategory; 4] = [Self::Raw, Self::Analysis, Self::Report, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Analysis => "analysis",
            Self::Report => "report",
            Self::Other => "other",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == raw.trim())
            .ok_or_else(|| FieldError::new(field, "must be one of raw, analysis, report, other"))
    }
}

/// The longest retention period, in days (100 years).
pub const MAX_RETENTION_DAYS: i64 = 36_525;

/// A retention period in days: 0 (deletable at once) to 100 years.
pub fn parse_retention_days(field: &str, days: i64) -> Result<i64, FieldError> {
    if !(0..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(FieldError::new(
            field,
            format!("must be between 0 and {MAX_RETENTION_DAYS} days"),
        ));
    }
    Ok(days)
}

/// The reason of a legal hold: 1 to 500 characters without control characters, trimmed.
pub fn parse_hold_reason(field: &str, raw: &str) -> Result<String, FieldError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be 1 to 500 characters without control characters",
        ));
    }
    Ok(reason.to_owned())
}

/// Why a file may not be deleted now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeletionRefused {
    AlreadyDeleted,
    LegalHold(String),
    /// Retention ends at this time (microseconds since the epoch).
    Retained(i64),
}

/// Whether a file uploaded at `created_at` (µs) of a category retained `retention_days` (none
/// set: no retention) may be deleted at `now` (µs). A legal hold blocks deletion regardless.
pub fn check_deletion(
    created_at: i64,
    retention_days: Option<i64>,
    hold: Option<&str>,
    deleted: bool,
    now: i64,
) -> Result<(), DeletionRefused> {
    if deleted {
        return Err(DeletionRefused::AlreadyDeleted);
    }
    if let Some(reason) = hold {
        return Err(DeletionRefused::LegalHold(reason.to_owned()));
    }
    let ends =
        created_at.saturating_add(retention_days.unwrap_or(0).saturating_mul(86_400_000_000));
    if now < ends {
        return Err(DeletionRefused::Retained(ends));
    }
    Ok(())
}

/// What an analysis input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    File,
    Sample,
    WorkflowRun,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Sample => "sample",
            Self::WorkflowRun => "workflow_run",
        }
    }
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match raw {
            "file" => Ok(Self::File),
            "sample" => Ok(Self::Sample),
            "workflow_run" => Ok(Self::WorkflowRun),
            _ => Err(FieldError::new(
                field,
                "must be file, sample or workflow_run",
            )),
        }
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;
    const DAY: i64 = 86_400_000_000;

    #[test]
    fn categories_parse_by_name() {
        assert_eq!(FileCategory::parse("c", "raw").unwrap(), FileCategory::Raw);
        assert_eq!(
            FileCategory::parse("c", "report").unwrap(),
            FileCategory::Report
        );
        assert_eq!(
            FileCategory::parse("category", "RAW").unwrap_err().field,
            "category"
        );
        assert!(FileCategory::parse("c", "").is_err());
        assert!(parse_retention_days("d", -1).is_err());
        assert!(parse_retention_days("d", MAX_RETENTION_DAYS + 1).is_err());
        assert_eq!(parse_retention_days("d", 30).unwrap(), 30);
    }

    #[test]
    fn hold_reasons_are_short_single_lines() {
        assert_eq!(
            parse_hold_reason("r", "  litigation 42 ").unwrap(),
            "litigation 42"
        );
        assert_eq!(parse_hold_reason("reason", "").unwrap_err().field, "reason");
        assert!(parse_hold_reason("r", "   ").is_err());
        assert!(parse_hold_reason("r", "a\nb").is_err());
        assert!(parse_hold_reason("r", &"x".repeat(501)).is_err());
        assert!(parse_hold_reason("r", &"é".repeat(500)).is_ok());
    }

    #[test]
    fn deletion_waits_for_retention_and_holds() {
        assert_eq!(
            check_deletion(0, Some(10), None, false, 9 * DAY),
            Err(DeletionRefused::Retained(10 * DAY))
        );
        assert_eq!(check_deletion(0, Some(10), None, false, 10 * DAY), Ok(()));
        assert_eq!(check_deletion(0, None, None, false, 0), Ok(()));
        assert_eq!(
            check_deletion(0, Some(0), Some("litigation"), false, 100 * DAY),
            Err(DeletionRefused::LegalHold("litigation".into()))
        );
        assert_eq!(
            check_deletion(0, None, None, true, DAY),
            Err(DeletionRefused::AlreadyDeleted)
        );
        assert!(check_deletion(i64::MAX - 1, Some(MAX_RETENTION_DAYS), None, false, 0).is_err());
    }
}
