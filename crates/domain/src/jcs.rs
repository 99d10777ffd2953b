//! RFC 8785 JSON Canonicalization Scheme: the one byte form of an audit event that gets hashed,
//! so an auditor can recompute every hash of an export with any JCS library.

use serde_json::{Number, Value};

/// The canonical UTF-8 text of `value`.
pub fn canonicalize(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Keys sorted by their UTF-16 code units, as RFC 8785 §3.2.3 requires.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Audit text rarely needs an escape: one scan (which the compiler vectorizes), one copy.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    // Otherwise runs of characters that need no escape are copied whole.
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            b if b < 0x20 => "",
            _ => continue,
        };
        // Only ASCII bytes get here, so `plain..i` and `i + 1..` fall on char boundaries.
        out.push_str(s.get(plain..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(s.get(plain..).unwrap_or_default());
    out.push('"');
}

/// An integer as RFC 8785 prints it: plain decimal digits when it is a safe integer (no `fmt`
/// machinery, which matters when millions of events are verified), ECMAScript's form otherwise.
pub(crate) fn write_i64(out: &mut String, n: i64) {
    if n.unsigned_abs() > MAX_SAFE_INTEGER {
        write_number(out, &n.into());
        return;
    }
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut v = n.unsigned_abs();
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        start -= 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(digits.get(start..).unwrap_or_default()).unwrap_or("0"));
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

pub(crate) fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE_INTEGER {
            out.push_str(&i.to_string());
            return;
        }
    } else if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE_INTEGER {
            out.push_str(&u.to_string());
            return;
        }
    }
    out.push_str(&format_es_number(n.as_f64().unwrap_or(0.0)));
}

/// ECMAScript's Number::toString for a finite double (RFC 8785 §3.2.2.3).
fn format_es_number(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. "1.2345e-7".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        match digits.split_at(1) {
            (d, "") => format!("{d}e{e}"),
            (d, rest) => format!("{d}.{rest}e{e}"),
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_utf16_and_drops_whitespace() {
        let v = json!({"b": 1, "a": [true, null, "x"], "\u{fb01}": 0, "\u{1d11e}": 0, "A": {"z": 1, "y": 2}});
        // U+1D11E (surrogates D834 DD1E) sorts before U+FB01 in UTF-16 though not in UTF-8.
        assert_eq!(canonicalize(&v), "{\"A\":{\"y\":2,\"z\":1},\"a\":[true,null,\"x\"],\"b\":1,\"\u{1d11e}\":0,\"\u{fb01}\":0}");
    }

    #[test]
    fn escapes_only_what_rfc8785_escapes() {
        let v = json!("quote\" back\\ nl\n tab\t bell\u{7} é €");
        assert_eq!(
            canonicalize(&v),
            "\"quote\\\" back\\\\ nl\\n tab\\t bell\\u0007 é €\""
        );
    }

    #[test]
    fn every_control_character_is_escaped_as_the_rfc_says() {
        for c in (0u32..0x80).filter_map(char::from_u32) {
            let text = format!("a{c}\u{e9}{c}\u{1d11e}");
            let mut direct = String::new();
            write_string(&mut direct, &text);
            let mut generic = String::new();
            for ch in text.chars() {
                match ch {
                    '"' => generic.push_str("\\\""),
                    '\\' => generic.push_str("\\\\"),
                    '\u{8}' => generic.push_str("\\b"),
                    '\t' => generic.push_str("\\t"),
                    '\n' => generic.push_str("\\n"),
                    '\u{c}' => generic.push_str("\\f"),
                    '\r' => generic.push_str("\\r"),
                    ch if (ch as u32) < 0x20 => generic.push_str(&format!("\\u{:04x}", ch as u32)),
                    ch => generic.push(ch),
                }
            }
            assert_eq!(direct, format!("\"{generic}\""), "{c:?}");
        }
    }

    #[test]
    fn integers_print_as_the_generic_number_form() {
        for n in [
            0,
            7,
            -1,
            10,
            1_700_000_000_000_000,
            i64::MAX,
            i64::MIN,
            (1 << 53) - 1,
            1 << 53,
            -(1 << 53),
        ] {
            let mut direct = String::new();
            write_i64(&mut direct, n);
            assert_eq!(direct, canonicalize(&json!(n)), "{n}");
        }
    }

    #[test]
    fn numbers_follow_ecmascript() {
        // Sample values from RFC 8785 Appendix B.
        let cases: [(f64, &str); 10] = [
            (0.0, "0"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (9007199254740992.0, "9007199254740992"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (-1.5, "-1.5"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(format_es_number(f), want, "{f}");
        }
        assert_eq!(
            canonicalize(&json!(1_700_000_000_000_000i64)),
            "1700000000000000"
        );
        assert_eq!(canonicalize(&json!(-42)), "-42");
    }
}
