//! Password strength per NIST SP 800-63B: length is checked by the domain's `NewPassword`
//! (12 to 256 characters, no composition rules); this refuses common and guessable passwords with
//! zxcvbn (its built-in lists of common passwords, names and words, plus the person's own email,
//! name and organization as context).

/// The lowest zxcvbn score (0..=4) accepted.
pub const MIN_SCORE: u8 = 3;

/// Why a password was refused: zxcvbn's score and its feedback, as one readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeakPassword {
    pub score: u8,
    pub message: String,
}

impl std::fmt::Display for WeakPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Splits context such as an email into the words an attacker would try (`ada.lovelace@lab.example`
/// gives the whole address, `ada.lovelace`, `ada`, `lovelace`, `lab`, `example`).
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in context {
        let c = c.trim().to_lowercase();
        if c.is_empty() {
            continue;
        }
        words.push(c.clone());
        if let Some((local, _)) = c.split_once('@') {
            words.push(local.to_owned());
        }
        for part in c.split(|ch: char| !ch.is_alphanumeric()) {
            if part.chars().count() >= 3 {
                words.push(part.to_owned());
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// Checks a new password against zxcvbn with the person's context words (email, name, org
/// name); a score below [`MIN_SCORE`] is refused with zxcvbn's warning and suggestions.
pub fn check_password_strength(password: &str, context: &[&str]) -> Result<(), WeakPassword> {
    let words = context_words(context);
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    let score = u8::from(entropy.score());
    if score >= MIN_SCORE {
        return Ok(());
    }
    let mut message = String::from("is too easy to guess");
    if let Some(feedback) = entropy.feedback() {
        if let Some(w) = feedback.warning() {
            message.push_str(&format!(": {}", w.to_string().trim_end_matches('.')));
        }
        let suggestions: Vec<String> = feedback
            .suggestions()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !suggestions.is_empty() {
            message.push_str(&format!(". {}", suggestions.join(" ")));
        }
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    Err(WeakPassword { score, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_contextual_passwords_are_refused_with_feedback() {
        for weak in [
            "password1234",
            "qwertyuiop123",
            "aaaaaaaaaaaaaaaa",
            "123456789012",
        ] {
            let e = check_password_strength(weak, &[]).unwrap_err();
            assert!(e.score < MIN_SCORE, "{weak}");
            assert!(
                e.message.starts_with("is too easy to guess"),
                "{}",
                e.message
            );
        }
        // Strong alone, weak once it is known to be the person's own email.
        let pw = "ada.lovelace@analytical.example";
        check_password_strength(pw, &[]).unwrap();
        let e = check_password_strength(
            pw,
            &[
                "ada.lovelace@analytical.example",
                "Ada Lovelace",
                "Analytical Engines",
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("Add another word"), "{}", e.message);
    }

    #[test]
    fn strong_and_generated_passwords_pass() {
        check_password_strength("tangerine-otter-gravel-lighthouse", &["ada@lab.example"]).unwrap();
        for _ in 0..50 {
            check_password_strength(&crate::generate_password(), &[]).unwrap();
        }
    }
}
