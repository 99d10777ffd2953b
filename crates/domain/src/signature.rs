//! Electronic signatures (21 CFR Part 11 style): one mechanism for every record type.
//!
//! A signature names its signer (user id and full name at signing), the time, its meaning, the
//! record (type and id) and the SHA-256 of the record's canonical content (RFC 8785 JSON) at
//! signing. Verification recomputes the record's current canonical hash: a record changed after
//! signing shows the signature as invalid. The content a record signs excludes its lifecycle state
//! (which the signature itself moves), so signing does not invalidate itself.

use crate::jcs;
use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;

/// What a signature means, shown beside the signer's name wherever it appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMeaning {
    Authored,
    Reviewed,
    Approved,
    Verified,
    Closed,
    /// A workflow step was performed as recorded.
    Performed,
}

impl SignatureMeaning {
    pub const ALL: [SignatureMeaning; 6] = [
        SignatureMeaning::Authored,
        SignatureMeaning::Reviewed,
        SignatureMeaning::Approved,
        SignatureMeaning::Verified,
        SignatureMeaning::Closed,
        SignatureMeaning::Performed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SignatureMeaning::Authored => "authored",
            SignatureMeaning::Reviewed => "reviewed",
            SignatureMeaning::Approved => "approved",
            SignatureMeaning::Verified => "verified",
            SignatureMeaning::Closed => "closed",
            SignatureMeaning::Performed => "performed",
        }
    }

    /// The sentence a signature carries, e.g. "Approved by Ada Lovelace".
    pub const fn label(self) -> &'static str {
        match self {
            SignatureMeaning::Authored => "Authored",
            SignatureMeaning::Reviewed => "Reviewed",
            SignatureMeaning::Approved => "Approved",
            SignatureMeaning::Verified => "Verified",
            SignatureMeaning::Closed => "Closed",
            SignatureMeaning::Performed => "Performed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "must be one of {}",
                        Self::ALL.map(|m| m.as_str()).join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for SignatureMeaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SHA-256 of the RFC 8785 canonical text of a record's content.
pub fn content_hash(content: &Value) -> [u8; 32] {
    Sha256::digest(jcs::canonicalize(content).as_bytes()).into()
}

/// The result of checking a stored signature against the record as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Validity {
    pub valid: bool,
    /// Why it is invalid; `None` when valid.
    pub reason: Option<String>,
}

/// Compares the hash stored at signing with the record's current canonical hash.
pub fn verify(signed_hash: &[u8], current_content: Option<&Value>) -> Validity {
    let Some(content) = current_content else {
        return Validity {
            valid: false,
            reason: Some("the signed record no longer exists".into()),
        };
    };
    let now = content_hash(content);
    if signed_hash == now.as_slice() {
        Validity {
            valid: true,
            reason: None,
        }
    } else {
        Validity {
            valid: false,
            reason: Some(format!(
                "the record changed after signing: signed content SHA-256 {}, current {}",
                hex::encode(signed_hash),
                hex::encode(now)
            )),
        }
    }
}

/// The manifestation of a signature (what it says in the audit trail and on reports).
pub fn manifestation(meaning: SignatureMeaning, signer_name: &str, at_rfc3339: &str) -> String {
    format!("{} by {signer_name} at {at_rfc3339}", meaning.label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meanings_round_trip_and_unknown_is_refused() {
        for m in SignatureMeaning::ALL {
            assert_eq!(SignatureMeaning::parse("meaning", m.as_str()).unwrap(), m);
        }
        let e = SignatureMeaning::parse("meaning", "liked").unwrap_err();
        assert_eq!(e.field, "meaning");
        assert!(e.message.contains("approved"));
    }

    #[test]
    fn the_hash_is_of_the_canonical_form_whatever_the_key_order() {
        let a = json!({"b": 1, "a": "x"});
        let b = json!({"a": "x", "b": 1});
        assert_eq!(content_hash(&a), content_hash(&b));
        // SHA-256 of `{"a":"x","b":1}`.
        assert_eq!(
            hex::encode(content_hash(&a)),
            hex::encode(Sha256::digest(br#"{"a":"x","b":1}"#))
        );
    }

    #[test]
    fn a_changed_record_invalidates_the_signature() {
        let signed = json!({"title": "Thaw", "steps": ["a"]});
        let hash = content_hash(&signed);
        assert_eq!(
            verify(&hash, Some(&signed)),
            Validity {
                valid: true,
                reason: None
            }
        );
        let changed = json!({"title": "Thaw!", "steps": ["a"]});
        let v = verify(&hash, Some(&changed));
        assert!(!v.valid);
        assert!(v.reason.unwrap().contains("changed after signing"));
        let gone = verify(&hash, None);
        assert!(!gone.valid);
    }

    #[test]
    fn manifestation_names_meaning_signer_and_time() {
        assert_eq!(
            manifestation(
                SignatureMeaning::Approved,
                "Ada Lovelace",
                "2026-01-02T03:04:05Z"
            ),
            "Approved by Ada Lovelace at 2026-01-02T03:04:05Z"
        );
    }
}
