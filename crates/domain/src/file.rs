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
