//! Workflow runs: one run of an effective protocol version on a sample or a batch.
//!
//! A run is `in_progress` until it is `completed` (every step recorded, every critical step
//! verified) or `aborted` (with a reason); both are final and a final run never changes. Steps
//! are recorded in order, each once; a critical step needs a second person's verification (a
//! user other than the one who recorded it) before the next step is recorded or the run is
//! completed. The values a step records are checked against the step's expected inputs by the
//! pure functions here, each bad one named `values.<input name>`.

use crate::protocol::{ExpectedInput, InputType, Step, VersionState};
use crate::validate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    InProgress,
    Completed,
    Aborted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 3] = [
        RunStatus::InProgress,
        RunStatus::Completed,
        RunStatus::Aborted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::InProgress => "in_progress",
            RunStatus::Completed => "completed",
            RunStatus::Aborted => "aborted",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| FieldError::new(field, "must be in_progress, completed or aborted"))
    }

    pub fn next(self) -> &'static [RunStatus] {
        match self {
            RunStatus::InProgress => &[RunStatus::Completed, RunStatus::Aborted],
            RunStatus::Completed | RunStatus::Aborted => &[],
        }
    }

    /// A completed or aborted run never changes.
    pub fn is_final(self) -> bool {
        self != RunStatus::InProgress
    }

    pub fn transition(self, to: RunStatus) -> Result<RunStatus, RunRefusal> {
        if self.is_final() {
            Err(RunRefusal::Final(self))
        } else if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(RunRefusal::IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run is run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Sample,
    Batch,
}

impl TargetType {
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetType::Sample => "sample",
            TargetType::Batch => "batch",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "sample" => Ok(TargetType::Sample),
            "batch" => Ok(TargetType::Batch),
            _ => Err(FieldError::new(field, "must be sample or batch")),
        }
    }
}

/// Why a change to a run is refused (answered 409: the request is well-formed, the run's state
/// does not allow it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunRefusal {
    #[error("the run is {0}: a completed or aborted run never changes")]
    Final(RunStatus),
    #[error("a run cannot go from {from} to {to}")]
    IllegalTransition { from: RunStatus, to: RunStatus },
    #[error("only an effective protocol version can be run; this one is {0}")]
    VersionNotEffective(VersionState),
    #[error("step {given} is out of order: the next step to record is {expected}")]
    OutOfOrder { expected: usize, given: usize },
    #[error("step {0} is recorded already; a recorded step never changes")]
    AlreadyRecorded(usize),
    #[error("step {0} is critical and awaits a second person's verification")]
    AwaitingVerification(usize),
    #[error("step {0} is not recorded yet")]
    NotRecorded(usize),
    #[error("step {0} is not critical: it needs no verification")]
    NotCritical(usize),
    #[error("step {0} is verified already")]
    AlreadyVerified(usize),
    #[error("the person who recorded step {0} cannot verify it; a second person must")]
    SelfVerification(usize),
    #[error("the run cannot complete: {recorded} of {total} steps are recorded")]
    Incomplete { recorded: usize, total: usize },
}

/// Whether a step index names a step of the protocol (else a 404-like field error).
pub fn check_step_index(field: &str, steps: &[Step], index: i64) -> Result<usize, FieldError> {
    usize::try_from(index)
        .ok()
        .filter(|i| *i < steps.len())
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "must name a step of the protocol version (0 to {})",
                    steps.len().saturating_sub(1)
                ),
            )
        })
}

/// One step as recorded so far, for the rules below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedStep {
    pub index: usize,
    pub performed_by: String,
    pub verified_by: Option<String>,
}

fn step_done(steps: &[Step], r: &RecordedStep) -> bool {
    let critical = steps.get(r.index).is_some_and(|s| s.critical);
    !critical || r.verified_by.is_some()
}

/// A run may start only on an effective version.
pub fn check_start(version: VersionState) -> Result<(), RunRefusal> {
    match version {
        VersionState::Effective => Ok(()),
        other => Err(RunRefusal::VersionNotEffective(other)),
    }
}

/// Recording step `index`: the run is in progress, the step is the next one, and the previous
/// step (if critical) is verified.
pub fn check_record(
    status: RunStatus,
    steps: &[Step],
    recorded: &[RecordedStep],
    index: usize,
) -> Result<(), RunRefusal> {
    if status.is_final() {
        return Err(RunRefusal::Final(status));
    }
    if recorded.iter().any(|r| r.index == index) {
        return Err(RunRefusal::AlreadyRecorded(index));
    }
    if let Some(last) = recorded.iter().max_by_key(|r| r.index) {
        if !step_done(steps, last) {
            return Err(RunRefusal::AwaitingVerification(last.index));
        }
    }
    let expected = recorded.len();
    if index != expected {
        return Err(RunRefusal::OutOfOrder {
            expected,
            given: index,
        });
    }
    Ok(())
}

/// Verifying step `index` by `verifier`: the run is in progress, the step is critical, recorded
/// by someone else and not verified yet.
pub fn check_verify(
    status: RunStatus,
    steps: &[Step],
    recorded: &[RecordedStep],
    index: usize,
    verifier: &str,
) -> Result<(), RunRefusal> {
    if status.is_final() {
        return Err(RunRefusal::Final(status));
    }
    let Some(r) = recorded.iter().find(|r| r.index == index) else {
        return Err(RunRefusal::NotRecorded(index));
    };
    if !steps.get(index).is_some_and(|s| s.critical) {
        return Err(RunRefusal::NotCritical(index));
    }
    if r.verified_by.is_some() {
        return Err(RunRefusal::AlreadyVerified(index));
    }
    if r.performed_by == verifier {
        return Err(RunRefusal::SelfVerification(index));
    }
    Ok(())
}

/// Completing: in progress, every step recorded and every critical step verified.
pub fn check_complete(
    status: RunStatus,
    steps: &[Step],
    recorded: &[RecordedStep],
) -> Result<(), RunRefusal> {
    status.transition(RunStatus::Completed)?;
    if recorded.len() < steps.len() {
        return Err(RunRefusal::Incomplete {
            recorded: recorded.len(),
            total: steps.len(),
        });
    }
    if let Some(r) = recorded.iter().find(|r| !step_done(steps, r)) {
        return Err(RunRefusal::AwaitingVerification(r.index));
    }
    Ok(())
}

/// Aborting: only an in-progress run (the reason is checked as input).
pub fn check_abort(status: RunStatus) -> Result<(), RunRefusal> {
    status.transition(RunStatus::Aborted).map(|_| ())
}

/// The most characters a text input takes.
pub const MAX_TEXT_VALUE: usize = 2000;

fn number_of(v: &Value) -> Option<f64> {
    v.as_f64().filter(|n| n.is_finite())
}

fn fmt_num(n: f64) -> String {
    format!("{n}")
}

/// Checks one value against its expected input; returns the value to store (numbers stored as
/// plain numbers, the unit being the input's).
pub fn check_value(input: &ExpectedInput, field: &str, v: &Value) -> Result<Value, FieldError> {
    let unit = input.unit.as_deref().unwrap_or("");
    match input.kind {
        InputType::Number => {
            // A plain number, or `{"value": n, "unit": u}` naming the input's own unit.
            let n = match v {
                Value::Object(o) => {
                    if let Some(u) = o.get("unit") {
                        if u.as_str() != input.unit.as_deref() {
                            return Err(FieldError::new(
                                field,
                                format!(
                                    "must be in {}",
                                    if unit.is_empty() { "no unit" } else { unit }
                                ),
                            ));
                        }
                    }
                    if o.keys().any(|k| k != "value" && k != "unit") {
                        return Err(FieldError::new(field, "takes only value and unit"));
                    }
                    o.get("value").and_then(number_of)
                }
                other => number_of(other),
            }
            .ok_or_else(|| FieldError::new(field, "must be a number"))?;
            let with_unit = |x: f64| {
                if unit.is_empty() {
                    fmt_num(x)
                } else {
                    format!("{} {unit}", fmt_num(x))
                }
            };
            if let Some(lo) = input.min {
                if n < lo {
                    return Err(FieldError::new(
                        field,
                        format!("must be at least {}", with_unit(lo)),
                    ));
                }
            }
            if let Some(hi) = input.max {
                if n > hi {
                    return Err(FieldError::new(
                        field,
                        format!("must be at most {}", with_unit(hi)),
                    ));
                }
            }
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| FieldError::new(field, "must be a number"))
        }
        InputType::Choice => {
            let s = v
                .as_str()
                .ok_or_else(|| FieldError::new(field, "must be one of the options"))?;
            if input.options.iter().any(|o| o == s) {
                Ok(Value::String(s.to_owned()))
            } else {
                Err(FieldError::new(
                    field,
                    format!("must be one of {}", input.options.join(", ")),
                ))
            }
        }
        InputType::Bool => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| FieldError::new(field, "must be true or false")),
        InputType::Text => {
            let s = v
                .as_str()
                .ok_or_else(|| FieldError::new(field, "must be text"))?;
            let n = s.trim().chars().count();
            if n == 0 || s.chars().count() > MAX_TEXT_VALUE {
                return Err(FieldError::new(
                    field,
                    format!("must be 1 to {MAX_TEXT_VALUE} characters"),
                ));
            }
            if s.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
            {
                return Err(FieldError::new(
                    field,
                    "must not contain control characters",
                ));
            }
            Ok(Value::String(s.trim().to_owned()))
        }
    }
}

/// Checks the values entered for a step: every expected input present and valid, nothing else.
/// Each bad value is named `values.<input name>`; the result is the values to store.
pub fn check_values(
    inputs: &[ExpectedInput],
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut out = Map::new();
    for input in inputs {
        let field = format!("values.{}", input.name);
        match values.get(&input.name) {
            None | Some(Value::Null) => errors.push(FieldError::new(field, "is required")),
            Some(v) => match check_value(input, &field, v) {
                Ok(v) => {
                    out.insert(input.name.clone(), v);
                }
                Err(e) => errors.push(e),
            },
        }
    }
    for key in values.keys() {
        if !inputs.iter().any(|i| &i.name == key) {
            let shown: String = key.chars().take(64).collect();
            errors.push(FieldError::new(
                format!("values.{shown}"),
                "is not an input of this step",
            ));
        }
    }
    errors.into_result().map(|()| out)
}

/// The values of an HTML form (`values.<name>` fields) as JSON for [`check_values`]: numbers
/// parsed (text that is no number is kept, so the check names it), a bool is a checkbox
/// (`true` when sent as `true`/`on`), an empty field is missing.
pub fn values_from_form(inputs: &[ExpectedInput], form: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for input in inputs {
        let key = format!("values.{}", input.name);
        let raw = form
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        let value = match (input.kind, raw) {
            (InputType::Bool, r) => Some(Value::Bool(matches!(r, Some("true" | "on")))),
            (_, None) => None,
            (_, Some(r)) if r.trim().is_empty() => None,
            (InputType::Number, Some(r)) => Some(
                r.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(r.to_owned())),
            ),
            (_, Some(r)) => Some(Value::String(r.to_owned())),
        };
        if let Some(v) = value {
            out.insert(input.name.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use RunStatus::*;

    fn step(critical: bool) -> Step {
        Step {
            title: "s".into(),
            instructions: String::new(),
            critical,
            inputs: Vec::new(),
        }
    }

    fn rec(index: usize, by: &str, verified: Option<&str>) -> RecordedStep {
        RecordedStep {
            index,
            performed_by: by.into(),
            verified_by: verified.map(Into::into),
        }
    }

    #[test]
    fn every_legal_transition_is_allowed_and_every_other_refused() {
        let legal = [(InProgress, Completed), (InProgress, Aborted)];
        for from in RunStatus::ALL {
            for to in RunStatus::ALL {
                let r = from.transition(to);
                if legal.contains(&(from, to)) {
                    assert_eq!(r, Ok(to), "{from} -> {to}");
                } else {
                    assert!(r.is_err(), "{from} -> {to} must be refused");
                }
            }
        }
        assert_eq!(
            Completed.transition(Aborted),
            Err(RunRefusal::Final(Completed))
        );
        assert_eq!(
            Aborted.transition(Completed),
            Err(RunRefusal::Final(Aborted))
        );
        assert_eq!(
            InProgress.transition(InProgress),
            Err(RunRefusal::IllegalTransition {
                from: InProgress,
                to: InProgress
            })
        );
        assert!(Completed.is_final() && Aborted.is_final() && !InProgress.is_final());
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse("status", s.as_str()).unwrap(), s);
        }
        assert_eq!(
            RunStatus::parse("status", "done").unwrap_err().field,
            "status"
        );
    }

    #[test]
    fn only_an_effective_version_runs() {
        assert!(check_start(VersionState::Effective).is_ok());
        assert_eq!(
            check_start(VersionState::Draft),
            Err(RunRefusal::VersionNotEffective(VersionState::Draft))
        );
        assert_eq!(
            check_start(VersionState::Superseded),
            Err(RunRefusal::VersionNotEffective(VersionState::Superseded))
        );
    }

    #[test]
    fn steps_are_recorded_in_order_once() {
        let steps = [step(false), step(false), step(false)];
        assert!(check_record(InProgress, &steps, &[], 0).is_ok());
        assert_eq!(
            check_record(InProgress, &steps, &[], 1),
            Err(RunRefusal::OutOfOrder {
                expected: 0,
                given: 1
            })
        );
        let done = [rec(0, "a", None)];
        assert_eq!(
            check_record(InProgress, &steps, &done, 0),
            Err(RunRefusal::AlreadyRecorded(0))
        );
        assert!(check_record(InProgress, &steps, &done, 1).is_ok());
        assert_eq!(
            check_record(InProgress, &steps, &done, 2),
            Err(RunRefusal::OutOfOrder {
                expected: 1,
                given: 2
            })
        );
    }

    #[test]
    fn a_critical_step_blocks_the_next_until_another_person_verifies() {
        let steps = [step(true), step(false)];
        let unverified = [rec(0, "alice", None)];
        assert_eq!(
            check_record(InProgress, &steps, &unverified, 1),
            Err(RunRefusal::AwaitingVerification(0))
        );
        assert_eq!(
            check_complete(InProgress, &steps[..1], &unverified),
            Err(RunRefusal::AwaitingVerification(0))
        );
        assert_eq!(
            check_verify(InProgress, &steps, &unverified, 0, "alice"),
            Err(RunRefusal::SelfVerification(0))
        );
        assert!(check_verify(InProgress, &steps, &unverified, 0, "bob").is_ok());
        let verified = [rec(0, "alice", Some("bob"))];
        assert_eq!(
            check_verify(InProgress, &steps, &verified, 0, "carol"),
            Err(RunRefusal::AlreadyVerified(0))
        );
        assert!(check_record(InProgress, &steps, &verified, 1).is_ok());
        assert_eq!(
            check_verify(InProgress, &steps, &verified, 1, "bob"),
            Err(RunRefusal::NotRecorded(1))
        );
        let both = [rec(0, "alice", Some("bob")), rec(1, "alice", None)];
        assert_eq!(
            check_verify(InProgress, &steps, &both, 1, "bob"),
            Err(RunRefusal::NotCritical(1))
        );
        assert!(check_complete(InProgress, &steps, &both).is_ok());
    }

    #[test]
    fn completion_needs_every_step_and_final_runs_refuse_everything() {
        let steps = [step(false), step(false)];
        let one = [rec(0, "a", None)];
        assert_eq!(
            check_complete(InProgress, &steps, &one),
            Err(RunRefusal::Incomplete {
                recorded: 1,
                total: 2
            })
        );
        let all = [rec(0, "a", None), rec(1, "a", None)];
        assert!(check_complete(InProgress, &steps, &all).is_ok());
        assert!(check_abort(InProgress).is_ok());
        for s in [Completed, Aborted] {
            assert_eq!(check_complete(s, &steps, &all), Err(RunRefusal::Final(s)));
            assert_eq!(check_abort(s), Err(RunRefusal::Final(s)));
            assert_eq!(check_record(s, &steps, &one, 1), Err(RunRefusal::Final(s)));
            assert_eq!(
                check_verify(s, &[step(true)], &[rec(0, "a", None)], 0, "b"),
                Err(RunRefusal::Final(s))
            );
        }
    }

    #[test]
    fn a_step_index_must_name_a_step() {
        let steps = [step(false), step(false)];
        assert_eq!(check_step_index("step_index", &steps, 1), Ok(1));
        assert_eq!(
            check_step_index("step_index", &steps, 2).unwrap_err().field,
            "step_index"
        );
        assert!(check_step_index("step_index", &steps, -1).is_err());
    }

    fn inputs() -> Vec<ExpectedInput> {
        serde_json::from_value(json!([
            {"name": "temp", "type": "number", "unit": "°C", "min": -5, "max": 4},
            {"name": "colour", "type": "choice", "options": ["clear", "cloudy"]},
            {"name": "ok", "type": "bool"},
            {"name": "note", "type": "text"}
        ]))
        .unwrap()
    }

    #[test]
    fn good_values_pass_and_are_normalised() {
        let v = json!({"temp": {"value": 2, "unit": "°C"}, "colour": "clear", "ok": true, "note": "  fine "});
        let out = check_values(&inputs(), v.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"temp": 2.0, "colour": "clear", "ok": true, "note": "fine"})
        );
        let plain = json!({"temp": -5, "colour": "cloudy", "ok": false, "note": "x"});
        assert!(check_values(&inputs(), plain.as_object().unwrap()).is_ok());
    }

    #[test]
    fn every_bad_value_is_named_by_its_input() {
        let v = json!({"temp": 9, "colour": "pink", "ok": "yes", "extra": 1});
        let errs = check_values(&inputs(), v.as_object().unwrap()).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "values.temp",
                "values.colour",
                "values.ok",
                "values.note",
                "values.extra"
            ]
        );
        assert!(errs.0[0].message.contains("4 °C"), "{:?}", errs.0[0]);
        assert!(errs.0[3].message.contains("required"));

        let input = &inputs()[0];
        for bad in [
            json!(-6),
            json!("2"),
            json!({"value": 2, "unit": "K"}),
            json!({"value": 2, "unit": "°C", "x": 1}),
            json!({"unit": "°C"}),
            json!(null),
        ] {
            assert!(check_value(input, "values.temp", &bad).is_err(), "{bad}");
        }
        let text = &inputs()[3];
        for bad in [
            json!(""),
            json!("   "),
            json!("a\u{0}b"),
            json!("x".repeat(MAX_TEXT_VALUE + 1)),
            json!(5),
        ] {
            assert_eq!(
                check_value(text, "values.note", &bad).unwrap_err().field,
                "values.note"
            );
        }
    }

    #[test]
    fn form_values_become_typed_json() {
        let form = vec![
            ("values.temp".to_owned(), "3.5".to_owned()),
            ("values.colour".to_owned(), "clear".to_owned()),
            ("values.note".to_owned(), "".to_owned()),
        ];
        let out = values_from_form(&inputs(), &form);
        assert_eq!(
            Value::Object(out),
            json!({"temp": 3.5, "colour": "clear", "ok": false})
        );
        let form = vec![
            ("values.temp".to_owned(), "warm".to_owned()),
            ("values.ok".to_owned(), "true".to_owned()),
        ];
        let out = values_from_form(&inputs(), &form);
        assert_eq!(
            Value::Object(out.clone()),
            json!({"temp": "warm", "ok": true})
        );
        let errs = check_values(&inputs(), &out).unwrap_err();
        assert_eq!(errs.0[0].field, "values.temp");
    }
}
