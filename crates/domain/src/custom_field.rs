//! Custom sample fields defined per org: a snake_case key, a label, a type (text, number with a
//! unit and optional bounds, date, choice among options) and a required flag. Values are
//! validated against their definition and kept in a canonical form (trimmed text, a finite
//! number, `YYYY-MM-DD`, one of the options), so equal values compare equal as text.

use crate::time::Timestamp;
use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The most custom fields one org may define.
pub const MAX_FIELDS: usize = 100;
/// The longest text value.
pub const MAX_TEXT: usize = 500;
/// The most options of a choice field.
pub const MAX_OPTIONS: usize = 100;

/// The type of a custom field and its constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    Date,
    Choice {
        options: Vec<String>,
    },
}

impl FieldKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number { .. } => "number",
            FieldKind::Date => "date",
            FieldKind::Choice { .. } => "choice",
        }
    }
}

/// One custom field definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    /// Values are stored encrypted (under the org's field key) and cannot be searched.
    #[serde(default)]
    pub sensitive: bool,
}

/// A field key: snake_case, a lower-case letter first, then letters, digits and `_`, 1–40 long.
pub fn parse_key(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || s.len() > 40 || s.ends_with('_') || s.contains("__") {
        return Err(FieldError::new(
            field,
            "must be snake_case: a lower-case letter, then lower-case letters, digits and single _, at most 40",
        ));
    }
    Ok(s.to_owned())
}

fn plain_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

/// The raw parts of a definition, as a request gives them.
#[derive(Clone, Debug, Default)]
pub struct RawDef {
    pub key: String,
    pub label: String,
    pub field_type: String,
    pub unit: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub options: Option<Vec<String>>,
    pub required: bool,
    pub sensitive: bool,
}

/// Validates a definition, collecting an error per bad part (named `key`, `label`, `type`,
/// `unit`, `min`, `max`, `options`, `options[N]`).
pub fn parse_def(raw: RawDef) -> Result<FieldDef, Vec<FieldError>> {
    let mut errors = Vec::new();
    let key = parse_key("key", &raw.key).map_err(|e| errors.push(e)).ok();
    let label = plain_text("label", &raw.label, 100)
        .map_err(|e| errors.push(e))
        .ok();
    // Options given to a type without them: a bad option is named first (`options[N]`).
    if raw.field_type.trim() != "choice" {
        for (i, o) in raw.options.iter().flatten().enumerate() {
            if let Err(e) = plain_text(&format!("options[{i}]"), o, 100) {
                errors.push(e);
            }
        }
    }
    let not_for = |errors: &mut Vec<FieldError>, name: &str, set: bool, t: &str| {
        if set && !errors.iter().any(|e| e.field.starts_with(name)) {
            errors.push(FieldError::new(
                name,
                format!("does not apply to a {t} field"),
            ));
        }
    };
    let kind = match raw.field_type.trim() {
        t @ ("text" | "date") => {
            not_for(&mut errors, "unit", raw.unit.is_some(), t);
            not_for(&mut errors, "min", raw.min.is_some(), t);
            not_for(&mut errors, "max", raw.max.is_some(), t);
            not_for(&mut errors, "options", raw.options.is_some(), t);
            Some(if t == "text" {
                FieldKind::Text
            } else {
                FieldKind::Date
            })
        }
        "number" => {
            not_for(&mut errors, "options", raw.options.is_some(), "number");
            let unit = match raw.unit.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                None => None,
                Some(u) => plain_text("unit", u, 32).map_err(|e| errors.push(e)).ok(),
            };
            for (name, v) in [("min", raw.min), ("max", raw.max)] {
                if v.is_some_and(|v| !v.is_finite()) {
                    errors.push(FieldError::new(name, "must be a finite number"));
                }
            }
            if let (Some(lo), Some(hi)) = (raw.min, raw.max) {
                if lo > hi {
                    errors.push(FieldError::new("max", "must not be below min"));
                }
            }
            Some(FieldKind::Number {
                unit,
                min: raw.min,
                max: raw.max,
            })
        }
        "choice" => {
            not_for(&mut errors, "unit", raw.unit.is_some(), "choice");
            not_for(&mut errors, "min", raw.min.is_some(), "choice");
            not_for(&mut errors, "max", raw.max.is_some(), "choice");
            let given = raw.options.unwrap_or_default();
            if given.is_empty() || given.len() > MAX_OPTIONS {
                errors.push(FieldError::new(
                    "options",
                    format!("a choice field needs 1 to {MAX_OPTIONS} options"),
                ));
            }
            let mut options: Vec<String> = Vec::new();
            for (i, o) in given.iter().enumerate() {
                let name = format!("options[{i}]");
                match plain_text(&name, o, 100) {
                    Ok(o) if options.contains(&o) => {
                        errors.push(FieldError::new(name, "repeats an earlier option"))
                    }
                    Ok(o) => options.push(o),
                    Err(e) => errors.push(e),
                }
            }
            Some(FieldKind::Choice { options })
        }
        _ => {
            errors.push(FieldError::new(
                "type",
                "must be one of text, number, date, choice",
            ));
            None
        }
    };
    match (key, label, kind) {
        (Some(key), Some(label), Some(kind)) if errors.is_empty() => Ok(FieldDef {
            key,
            label,
            kind,
            required: raw.required,
            sensitive: raw.sensitive,
        }),
        _ => Err(errors),
    }
}

/// A number as canonical text: `5`, `2.5`, `-0.001`.
pub fn number_text(n: f64) -> String {
    format!("{n}")
}

impl FieldDef {
    /// Checks one value (a JSON value from a request, or a string from a CSV cell or a query),
    /// answering it in canonical form; `None` for an absent value (null or blank).
    pub fn check(&self, name: &str, value: &Value) -> Result<Option<Value>, FieldError> {
        let text = match value {
            Value::Null => return Ok(None),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => Some(s.trim()),
            _ => None,
        };
        match &self.kind {
            FieldKind::Text => {
                let s = text.ok_or_else(|| FieldError::new(name, "must be text"))?;
                plain_text(name, s, MAX_TEXT).map(|s| Some(Value::String(s)))
            }
            FieldKind::Number { unit, min, max } => {
                let n = match (value, text) {
                    (Value::Number(n), _) => n.as_f64(),
                    (_, Some(s)) => s.parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|n| n.is_finite())
                .ok_or_else(|| FieldError::new(name, "must be a number"))?;
                let unit = unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
                if let Some(lo) = min.filter(|lo| n < *lo) {
                    return Err(FieldError::new(
                        name,
                        format!("must be at least {}{unit}", number_text(lo)),
                    ));
                }
                if let Some(hi) = max.filter(|hi| n > *hi) {
                    return Err(FieldError::new(
                        name,
                        format!("must be at most {}{unit}", number_text(hi)),
                    ));
                }
                Ok(serde_json::Number::from_f64(n).map(Value::Number))
            }
            FieldKind::Date => {
                let s = text
                    .filter(|s| s.len() == 10 && Timestamp::parse_rfc3339(s).is_some())
                    .ok_or_else(|| FieldError::new(name, "must be a date YYYY-MM-DD"))?;
                Ok(Some(Value::String(s.to_owned())))
            }
            FieldKind::Choice { options } => {
                let s = text
                    .filter(|s| options.iter().any(|o| o == s))
                    .ok_or_else(|| {
                        FieldError::new(name, format!("must be one of: {}", options.join(", ")))
                    })?;
                Ok(Some(Value::String(s.to_owned())))
            }
        }
    }
}

/// The canonical text of a checked value, as stored for searching (`5`, `2026-01-31`, `red`).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(number_text).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// Checks a sample's custom values against the org's definitions: every value valid, no unknown
/// key, every required one present. Errors are named `{prefix}custom.<key>`.
pub fn check_values(
    defs: &[FieldDef],
    values: &BTreeMap<String, Value>,
    prefix: &str,
) -> Result<BTreeMap<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (key, value) in values {
        let name = format!("{prefix}custom.{key}");
        match defs.iter().find(|d| &d.key == key) {
            None => errors.push(FieldError::new(
                name,
                "no such custom field in this organization",
            )),
            Some(def) => match def.check(&name, value) {
                Ok(Some(v)) => {
                    out.insert(key.clone(), v);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            },
        }
    }
    for def in defs.iter().filter(|d| d.required) {
        let name = format!("{prefix}custom.{}", def.key);
        if !out.contains_key(&def.key) && !errors.iter().any(|e| e.field == name) {
            errors.push(FieldError::new(name, "is required"));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A spreadsheet cell that cannot run as a formula when opened (CSV injection): a leading
/// `= + - @`, tab or carriage return gets a `'` in front.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The member of a stored sensitive value that holds its ciphertext (base64).
pub const SEALED: &str = "sealed";
/// The member naming the sample the value was sealed for (its associated data); an aliquot
/// carries its parent's sealed value, which names the parent.
pub const SEALED_FOR: &str = "sample";

/// How a sensitive value is stored in place of the value: `{"sealed": b64, "sample": id}`.
pub fn sealed_value(ciphertext_b64: String, sample: &str) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(SEALED.to_owned(), Value::String(ciphertext_b64));
    m.insert(SEALED_FOR.to_owned(), Value::String(sample.to_owned()));
    Value::Object(m)
}

/// The ciphertext (base64) and the sample of a stored sensitive value; `None` for a plain one
/// (a checked value is never an object).
pub fn as_sealed(v: &Value) -> Option<(&str, &str)> {
    let o = v.as_object()?;
    Some((o.get(SEALED)?.as_str()?, o.get(SEALED_FOR)?.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(key: &str, t: &str) -> RawDef {
        RawDef {
            key: key.into(),
            label: "Label".into(),
            field_type: t.into(),
            ..RawDef::default()
        }
    }

    fn names(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn sealed_values_are_told_from_checked_ones() {
        let v = sealed_value("AAAA".into(), "s-1");
        assert_eq!(as_sealed(&v), Some(("AAAA", "s-1")));
        assert_eq!(as_sealed(&json!("AAAA")), None);
        assert_eq!(as_sealed(&json!(5)), None);
        assert_eq!(as_sealed(&json!({"sealed": "x"})), None);
        let mut r = raw("donor", "text");
        r.sensitive = true;
        assert!(parse_def(r).unwrap().sensitive);
        assert!(!parse_def(raw("donor", "text")).unwrap().sensitive);
    }

    #[test]
    fn keys_are_snake_case() {
        for ok in ["ph", "storage_temp", "a1", "visit_2"] {
            assert_eq!(parse_key("key", ok).unwrap(), ok);
        }
        for bad in [
            "",
            "Ph",
            "1a",
            "a-b",
            "a b",
            "_a",
            "a_",
            "a__b",
            &"a".repeat(41),
            "ä",
        ] {
            assert!(parse_key("key", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn definitions_name_their_bad_parts() {
        let e = parse_def(RawDef {
            key: "Bad Key".into(),
            label: " ".into(),
            field_type: "colour".into(),
            ..RawDef::default()
        })
        .unwrap_err();
        assert_eq!(names(&e), vec!["key", "label", "type"]);
        let e = parse_def(RawDef {
            min: Some(10.0),
            max: Some(1.0),
            options: Some(vec!["a".into()]),
            ..raw("ph", "number")
        })
        .unwrap_err();
        assert_eq!(names(&e), vec!["options", "max"]);
        let e = parse_def(RawDef {
            unit: Some("mL".into()),
            ..raw("note", "text")
        })
        .unwrap_err();
        assert_eq!(names(&e), vec!["unit"]);
        let e = parse_def(raw("site", "choice")).unwrap_err();
        assert_eq!(names(&e), vec!["options"]);
        let e = parse_def(RawDef {
            options: Some(vec!["a".into(), "a".into(), "".into()]),
            ..raw("site", "choice")
        })
        .unwrap_err();
        assert_eq!(names(&e), vec!["options[1]", "options[2]"]);
        let ok = parse_def(RawDef {
            unit: Some(" °C ".into()),
            min: Some(-80.0),
            required: true,
            ..raw("temp", "number")
        })
        .unwrap();
        assert_eq!(
            ok.kind,
            FieldKind::Number {
                unit: Some("°C".into()),
                min: Some(-80.0),
                max: None
            }
        );
        assert!(ok.required);
    }

    fn defs() -> Vec<FieldDef> {
        vec![
            parse_def(raw("note", "text")).unwrap(),
            parse_def(RawDef {
                unit: Some("°C".into()),
                min: Some(-80.0),
                max: Some(8.0),
                required: true,
                ..raw("temp", "number")
            })
            .unwrap(),
            parse_def(raw("visit", "date")).unwrap(),
            parse_def(RawDef {
                options: Some(vec!["left".into(), "right".into()]),
                ..raw("arm", "choice")
            })
            .unwrap(),
        ]
    }

    fn values(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn values_are_checked_and_made_canonical() {
        let out = check_values(
            &defs(),
            &values(json!({"note": " hi ", "temp": "-20", "visit": "2026-02-28", "arm": "left"})),
            "",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"arm": "left", "note": "hi", "temp": -20.0, "visit": "2026-02-28"})
        );
        assert_eq!(value_text(&out["temp"]), "-20");
        assert_eq!(value_text(&json!(2.5)), "2.5");
        // Blank and null count as absent.
        let out = check_values(
            &defs(),
            &values(json!({"temp": 4, "note": "", "arm": null})),
            "",
        )
        .unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn every_bad_value_is_named() {
        let e = check_values(
            &defs(),
            &values(json!({"note": 5, "temp": 9, "visit": "2026-02-30", "arm": "middle", "colour": "red"})),
            "rows[3].",
        )
        .unwrap_err();
        assert_eq!(
            names(&e),
            vec![
                "rows[3].custom.arm",
                "rows[3].custom.colour",
                "rows[3].custom.note",
                "rows[3].custom.temp",
                "rows[3].custom.visit"
            ]
        );
        assert_eq!(e[3].message, "must be at most 8 °C");
        let e = check_values(&defs(), &values(json!({"temp": "warm"})), "").unwrap_err();
        assert_eq!(names(&e), vec!["custom.temp"]);
        let e = check_values(&defs(), &values(json!({"temp": -81})), "").unwrap_err();
        assert_eq!(e[0].message, "must be at least -80 °C");
        let e = check_values(
            &defs(),
            &values(json!({"visit": "2026-01-01T00:00:00Z"})),
            "",
        )
        .unwrap_err();
        assert_eq!(names(&e), vec!["custom.visit", "custom.temp"]);
        assert_eq!(e[1].message, "is required");
        let e =
            check_values(&defs(), &values(json!({"temp": 1, "note": "a\u{7}"})), "").unwrap_err();
        assert_eq!(names(&e), vec!["custom.note"]);
    }

    #[test]
    fn formula_cells_are_defused() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"));
        }
        assert_eq!(csv_cell("S-000001"), "S-000001");
        assert_eq!(csv_cell(""), "");
    }
}
