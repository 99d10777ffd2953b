//! Parse-don't-validate newtypes for every input field, and the error that names the field.

use serde::Serialize;
use std::fmt;

/// One rejected input field: which one (a JSON pointer-like path such as `roles[1]`) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All the field errors of one input, so a form shows every problem at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    /// Runs a parse, keeping its value or recording its error.
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

fn bounded_text(field: &str, raw: &str, max_chars: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                bounded_text(field, raw, $max).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A person's display name.
    PersonName,
    200
);
text_type!(
    /// An organization's name.
    OrgName,
    200
);
text_type!(
    /// A custom role's name.
    RoleName,
    64
);
text_type!(
    /// A free-text description.
    Description,
    2000
);
text_type!(
    /// An API token's name.
    TokenName,
    100
);
text_type!(
    /// Why someone asks for privileged access.
    Reason,
    1000
);
text_type!(
    /// The display name of a lab record (a batch, a project...).
    RecordName,
    200
);

/// An email address, lower-cased. Deliberately strict: one `@`, a dotted domain, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let invalid = || FieldError::new(field, "must be a valid email address");
        if s.is_empty() || s.len() > Self::MAX_CHARS {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s))
        } else {
            Err(invalid())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: length rules of NIST SP 800-63B (no composition rules).
/// The strength estimate against common passwords belongs to the identity issue.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("email", " Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "ada@@example.org",
            "ada@exa_mple.org",
            ".ada@example.org",
            "ada@-example.org",
            "ada@example..org",
        ] {
            let e = Email::parse("email", bad).unwrap_err();
            assert_eq!(e.field, "email", "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(300));
        assert!(Email::parse("email", &long).is_err());
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            PersonName::parse("name", "  Ada Lovelace ")
                .unwrap()
                .as_str(),
            "Ada Lovelace"
        );
        assert!(PersonName::parse("name", "   ").is_err());
        assert!(PersonName::parse("name", &"x".repeat(201)).is_err());
        assert!(PersonName::parse("name", &"é".repeat(200)).is_ok());
        assert!(RoleName::parse("name", "line\nbreak").is_err());
    }

    #[test]
    fn passwords_follow_length_rules_only() {
        assert!(NewPassword::parse("password", "short").is_err());
        assert!(NewPassword::parse("password", "correct horse battery").is_ok());
        assert!(NewPassword::parse("password", &"x".repeat(257)).is_err());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("p", "correct horse battery").unwrap()
            ),
            "NewPassword(***)"
        );
    }

    #[test]
    fn field_errors_collect() {
        let mut errs = FieldErrors::default();
        let name = errs.check(PersonName::parse("name", "Ada"));
        let email = errs.check(Email::parse("email", "nope"));
        assert!(name.is_some() && email.is_none());
        let all = errs.into_result().unwrap_err();
        assert_eq!(
            all.0,
            vec![FieldError::new("email", "must be a valid email address")]
        );
    }
}

/// A data region's name (`eu`, `us-east`): 1–32 lower-case letters, digits and dashes,
/// starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RegionName(String);

impl RegionName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=32).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be a region name: 1 to 32 lower-case letters, digits and dashes, starting with a letter",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod region_tests {
    use super::RegionName;

    #[test]
    fn region_names_are_short_lower_case_words() {
        for good in ["eu", "us-east-1", "ch"] {
            assert!(RegionName::parse("region", good).is_ok(), "{good}");
        }
        for bad in ["", "EU", "1eu", "eu_west", "eu west", &"x".repeat(33)] {
            assert!(RegionName::parse("region", bad).is_err(), "{bad}");
        }
    }
}
