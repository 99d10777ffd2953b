//! Protocols (SOPs): versioned documents, a markdown body and structured steps with expected
//! inputs. A version is a draft (editable) until an approval signature makes it effective; the
//! previously effective version is then superseded (kept, read-only). draft → effective →
//! superseded; nothing else.

use crate::validate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    Draft,
    Effective,
    Superseded,
}

impl VersionState {
    pub const ALL: [VersionState; 3] = [
        VersionState::Draft,
        VersionState::Effective,
        VersionState::Superseded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            VersionState::Draft => "draft",
            VersionState::Effective => "effective",
            VersionState::Superseded => "superseded",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be draft, effective or superseded"))
    }

    pub fn next(self) -> &'static [VersionState] {
        match self {
            VersionState::Draft => &[VersionState::Effective],
            VersionState::Effective => &[VersionState::Superseded],
            VersionState::Superseded => &[],
        }
    }

    /// Only a draft's content may change.
    pub fn editable(self) -> bool {
        self == VersionState::Draft
    }

    pub fn transition(self, to: VersionState) -> Result<VersionState, IllegalVersionTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalVersionTransition { from: self, to })
        }
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a protocol version cannot go from {from} to {to}{}", match from {
    VersionState::Draft => " (a draft becomes effective only by approval)",
    VersionState::Effective => " (an effective version is only superseded, by approving a newer one)",
    VersionState::Superseded => ": a superseded version is final and read-only",
})]
pub struct IllegalVersionTransition {
    pub from: VersionState,
    pub to: VersionState,
}

/// Who may approve: a member other than the version's author and last editor.
pub fn check_approver(signer: &str, author: &str, last_editor: &str) -> Result<(), &'static str> {
    if signer == author {
        Err("the author of a protocol version cannot approve it; another QA or Owner member must")
    } else if signer == last_editor {
        Err("the last editor of a protocol version cannot approve it; another QA or Owner member must")
    } else {
        Ok(())
    }
}

/// The kind of value a step expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    Text,
    Number,
    Choice,
    Bool,
}

/// One value a step expects to be entered: `unit`, `min` and `max` belong to numbers,
/// `options` to choices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedInput {
    /// A short key, e.g. `temperature`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// One step of a protocol version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    /// A critical step needs a second person's verification when run.
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub inputs: Vec<ExpectedInput>,
}

pub const MAX_STEPS: usize = 200;
pub const MAX_BODY_CHARS: usize = 100_000;
pub const MAX_TITLE_CHARS: usize = 200;

fn text_ok(errors: &mut FieldErrors, field: &str, s: &str, min: usize, max: usize) -> bool {
    let n = s.trim().chars().count();
    if n < min || s.chars().count() > max {
        errors.push(FieldError::new(
            field,
            if min > 0 {
                format!("must be {min} to {max} characters")
            } else {
                format!("must be at most {max} characters")
            },
        ));
        return false;
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
        return false;
    }
    true
}

/// A protocol title: 1 to 200 characters, trimmed.
pub fn parse_title(field: &str, raw: &str) -> Result<String, FieldError> {
    let mut errors = FieldErrors::default();
    if text_ok(&mut errors, field, raw, 1, MAX_TITLE_CHARS) && !raw.contains('\n') {
        return Ok(raw.trim().to_owned());
    }
    Err(errors
        .0
        .into_iter()
        .next()
        .unwrap_or_else(|| FieldError::new(field, "must be one line")))
}

/// The markdown body: at most 100,000 characters.
pub fn check_body(errors: &mut FieldErrors, field: &str, body: &str) {
    text_ok(errors, field, body, 0, MAX_BODY_CHARS);
}

/// Checks every step and input, naming each bad one (`steps[2].inputs[0].max`).
pub fn check_steps(errors: &mut FieldErrors, field: &str, steps: &[Step]) {
    if steps.len() > MAX_STEPS {
        errors.push(FieldError::new(field, format!("at most {MAX_STEPS} steps")));
        return;
    }
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{field}[{i}]");
        text_ok(errors, &format!("{at}.title"), &step.title, 1, 200);
        text_ok(
            errors,
            &format!("{at}.instructions"),
            &step.instructions,
            0,
            10_000,
        );
        if step.inputs.len() > 50 {
            errors.push(FieldError::new(format!("{at}.inputs"), "at most 50 inputs"));
            continue;
        }
        let mut names: Vec<&str> = Vec::new();
        for (j, input) in step.inputs.iter().enumerate() {
            let at = format!("{at}.inputs[{j}]");
            let name = input.name.trim();
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    "must be 1 to 64 letters, digits, _ or -",
                ));
            } else if names.contains(&name) {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    "is used twice in this step",
                ));
            }
            names.push(name);
            let is_number = input.kind == InputType::Number;
            if !is_number {
                for (k, set) in [
                    ("unit", input.unit.is_some()),
                    ("min", input.min.is_some()),
                    ("max", input.max.is_some()),
                ] {
                    if set {
                        errors.push(FieldError::new(
                            format!("{at}.{k}"),
                            "belongs to number inputs only",
                        ));
                    }
                }
            }
            if let Some(u) = &input.unit {
                text_ok(errors, &format!("{at}.unit"), u, 1, 32);
            }
            for (k, v) in [("min", input.min), ("max", input.max)] {
                if v.is_some_and(|v| !v.is_finite()) {
                    errors.push(FieldError::new(format!("{at}.{k}"), "must be finite"));
                }
            }
            if let (Some(lo), Some(hi)) = (input.min, input.max) {
                if lo > hi {
                    errors.push(FieldError::new(
                        format!("{at}.max"),
                        "must not be below min",
                    ));
                }
            }
            if input.kind == InputType::Choice {
                if input.options.is_empty() || input.options.len() > 50 {
                    errors.push(FieldError::new(
                        format!("{at}.options"),
                        "must list 1 to 50 options",
                    ));
                }
                for (k, o) in input.options.iter().enumerate() {
                    text_ok(errors, &format!("{at}.options[{k}]"), o, 1, 100);
                }
            } else if !input.options.is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.options"),
                    "belongs to choice inputs only",
                ));
            }
        }
    }
}

/// The steps as plain lines, for the line diff between versions.
pub fn steps_as_lines(steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        out.push(format!(
            "{}. {}{}",
            i + 1,
            s.title,
            if s.critical { " [critical]" } else { "" }
        ));
        for line in s.instructions.lines() {
            out.push(format!("   {line}"));
        }
        for input in &s.inputs {
            let kind = match input.kind {
                InputType::Text => "text".to_owned(),
                InputType::Bool => "yes/no".to_owned(),
                InputType::Choice => format!("one of {}", input.options.join(" | ")),
                InputType::Number => {
                    let mut k = "number".to_owned();
                    if let Some(u) = &input.unit {
                        k.push_str(&format!(" in {u}"));
                    }
                    if let Some(lo) = input.min {
                        k.push_str(&format!(" ≥ {lo}"));
                    }
                    if let Some(hi) = input.max {
                        k.push_str(&format!(" ≤ {hi}"));
                    }
                    k
                }
            };
            out.push(format!("   - input {}: {kind}", input.name));
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffOp {
    Same,
    Added,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub op: DiffOp,
    pub text: String,
}

/// The most lines a diff compares on each side (longest-common-subsequence, quadratic).
pub const MAX_DIFF_LINES: usize = 4000;

/// A line diff of `old` to `new` (longest common subsequence); beyond [`MAX_DIFF_LINES`] lines
/// per side, everything old is removed and everything new added.
pub fn line_diff(old: &[String], new: &[String]) -> Vec<DiffLine> {
    let line = |op, t: &String| DiffLine {
        op,
        text: t.clone(),
    };
    if old.len() > MAX_DIFF_LINES || new.len() > MAX_DIFF_LINES {
        return old
            .iter()
            .map(|t| line(DiffOp::Removed, t))
            .chain(new.iter().map(|t| line(DiffOp::Added, t)))
            .collect();
    }
    let (n, m) = (old.len(), new.len());
    // lcs[i][j] = LCS length of old[i..] and new[j..], flattened.
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if old.get(i) == new.get(j) {
                lcs.get((i + 1) * w + j + 1).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get((i + 1) * w + j).copied().unwrap_or(0);
                let right = lcs.get(i * w + j + 1).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i * w + j) {
                *cell = v;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i * w + j).copied().unwrap_or(0);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                out.push(line(DiffOp::Same, a));
                i += 1;
                j += 1;
            }
            (Some(a), Some(_)) if at(i + 1, j) >= at(i, j + 1) => {
                out.push(line(DiffOp::Removed, a));
                i += 1;
            }
            (_, Some(b)) => {
                out.push(line(DiffOp::Added, b));
                j += 1;
            }
            (Some(a), None) => {
                out.push(line(DiffOp::Removed, a));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Lines of a markdown body.
pub fn body_lines(body: &str) -> Vec<String> {
    body.lines().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use VersionState::*;

    #[test]
    fn every_legal_transition_is_allowed_and_every_other_refused() {
        let legal = [(Draft, Effective), (Effective, Superseded)];
        for from in VersionState::ALL {
            for to in VersionState::ALL {
                assert_eq!(
                    from.transition(to).is_ok(),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        // Each illegal one says why.
        assert!(Draft
            .transition(Superseded)
            .unwrap_err()
            .to_string()
            .contains("only by approval"));
        assert!(Effective
            .transition(Draft)
            .unwrap_err()
            .to_string()
            .contains("only superseded"));
        assert!(Superseded
            .transition(Effective)
            .unwrap_err()
            .to_string()
            .contains("final"));
        assert!(Draft.transition(Draft).is_err());
        assert!(Effective.transition(Effective).is_err());
        assert!(Superseded.transition(Superseded).is_err());
        assert!(Superseded.transition(Draft).is_err());
        assert!(Effective.transition(Draft).is_err());
    }

    #[test]
    fn only_drafts_are_editable() {
        assert!(Draft.editable());
        assert!(!Effective.editable());
        assert!(!Superseded.editable());
    }

    #[test]
    fn authors_and_editors_do_not_approve() {
        assert!(check_approver("a", "a", "b")
            .unwrap_err()
            .contains("author"));
        assert!(check_approver("b", "a", "b")
            .unwrap_err()
            .contains("editor"));
        assert!(check_approver("c", "a", "b").is_ok());
    }

    #[test]
    fn steps_parse_from_json_and_bad_ones_are_named() {
        let steps: Vec<Step> = serde_json::from_value(json!([
            {"title": "Thaw", "instructions": "On ice", "critical": true, "inputs": [
                {"name": "temp", "type": "number", "unit": "°C", "min": -5, "max": 4},
                {"name": "ok", "type": "bool"},
                {"name": "colour", "type": "choice", "options": ["red", "clear"]},
                {"name": "note", "type": "text"}
            ]}
        ]))
        .unwrap();
        let mut errors = FieldErrors::default();
        check_steps(&mut errors, "steps", &steps);
        assert!(errors.0.is_empty(), "{errors:?}");

        let bad: Vec<Step> = serde_json::from_value(json!([
            {"title": "", "inputs": [
                {"name": "t", "type": "number", "min": 5, "max": 1},
                {"name": "t", "type": "choice", "options": []}
            ]}
        ]))
        .unwrap();
        let mut errors = FieldErrors::default();
        check_steps(&mut errors, "steps", &bad);
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "steps[0].title",
                "steps[0].inputs[0].max",
                "steps[0].inputs[1].name",
                "steps[0].inputs[1].options"
            ]
        );
        // An unknown input type is refused by the parser.
        assert!(serde_json::from_value::<Step>(
            json!({"title": "x", "inputs": [{"name": "a", "type": "colour"}]})
        )
        .is_err());
    }

    #[test]
    fn line_diff_keeps_common_lines_and_marks_changes() {
        let a = body_lines("one\ntwo\nthree");
        let b = body_lines("one\n2\nthree\nfour");
        let d = line_diff(&a, &b);
        let ops: Vec<(DiffOp, &str)> = d.iter().map(|l| (l.op, l.text.as_str())).collect();
        assert_eq!(
            ops,
            vec![
                (DiffOp::Same, "one"),
                (DiffOp::Removed, "two"),
                (DiffOp::Added, "2"),
                (DiffOp::Same, "three"),
                (DiffOp::Added, "four"),
            ]
        );
        assert!(line_diff(&a, &a).iter().all(|l| l.op == DiffOp::Same));
        assert_eq!(line_diff(&[], &b).len(), 4);
    }

    #[test]
    fn steps_render_as_lines() {
        let steps = vec![Step {
            title: "Spin".into(),
            instructions: "10 min".into(),
            critical: true,
            inputs: vec![ExpectedInput {
                name: "rpm".into(),
                kind: InputType::Number,
                unit: Some("rpm".into()),
                min: Some(100.0),
                max: None,
                options: vec![],
            }],
        }];
        assert_eq!(
            steps_as_lines(&steps),
            vec![
                "1. Spin [critical]",
                "   10 min",
                "   - input rpm: number in rpm ≥ 100"
            ]
        );
        assert_eq!(
            parse_title("t", "  SOP-1 Thawing ").unwrap(),
            "SOP-1 Thawing"
        );
        assert!(parse_title("t", "").is_err());
        assert!(parse_title("t", "a\nb").is_err());
    }
}
