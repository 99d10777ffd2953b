//! TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) with replay protection by time step,
//! and single-use recovery codes.

use crate::{secrets_equal, token_hash};
use rand::rngs::OsRng;
use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
/// Steps of clock skew accepted on either side of now.
pub const SKEW_STEPS: u64 = 1;
pub const RECOVERY_CODES: usize = 10;
pub const ISSUER: &str = "LabLedger";

/// A new 160-bit secret (RFC 4226's recommended length).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    OsRng.fill_bytes(&mut s);
    s
}

/// RFC 4648 base32 without padding, as authenticator apps take it.
pub fn secret_base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// The `otpauth://` URI a QR code carries (Google Authenticator's key URI format).
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        encode_label(account),
        secret_base32(secret)
    )
}

/// Percent-encodes all but RFC 3986 unreserved characters and `@` (valid in a path).
fn encode_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The code of one time step.
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec())
        .generate(step.saturating_mul(STEP_SECS))
}

pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The step a code belongs to, if it is valid within ±[`SKEW_STEPS`] of `now_secs` and newer
/// than `last_step` (a code of an already accepted or earlier step is a replay).
pub fn verify(secret: &[u8], code: &str, now_secs: u64, last_step: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(now_secs);
    let mut found = None;
    // Check every candidate (no early exit), so timing does not tell which step matched.
    for step in now.saturating_sub(SKEW_STEPS)..=now.saturating_add(SKEW_STEPS) {
        if secrets_equal(&code_at_step(secret, step), code) && step > last_step {
            found = Some(step);
        }
    }
    found
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` (50 bits each) from a lowercase base32 alphabet.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut raw = [0u8; 10];
            OsRng.fill_bytes(&mut raw);
            let chars: Vec<char> = raw
                .iter()
                .map(|b| char::from(ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'a')))
                .collect();
            let (a, b) = chars.split_at(5);
            format!(
                "{}-{}",
                a.iter().collect::<String>(),
                b.iter().collect::<String>()
            )
        })
        .collect()
}

/// What is stored for a recovery code: SHA-256 of its normalized form (lowercase, without
/// spaces and dashes), so `ABCDE-FGHIJ` and `abcdefghij` match.
pub fn recovery_code_hash(code: &str) -> Vec<u8> {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    token_hash(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA-1 key, last 6 digits.
        let key = b"12345678901234567890";
        assert_eq!(code_at_step(key, 59 / 30), "287082");
        assert_eq!(code_at_step(key, 1111111109 / 30), "081804");
        assert_eq!(code_at_step(key, 1234567890 / 30), "005924");
        assert_eq!(code_at_step(key, 2000000000 / 30), "279037");
    }

    #[test]
    fn accepts_skew_and_refuses_replays() {
        let key = new_secret();
        let now = 1_700_000_000;
        let step = step_of(now);
        let code = code_at_step(&key, step);
        assert_eq!(verify(&key, &code, now, 0), Some(step));
        assert_eq!(verify(&key, &code, now, step), None, "replay");
        let prev = code_at_step(&key, step - 1);
        assert_eq!(verify(&key, &prev, now, 0), Some(step - 1));
        assert_eq!(verify(&key, &code_at_step(&key, step - 2), now, 0), None);
        assert_eq!(
            verify(&key, &code_at_step(&key, step + 1), now, 0),
            Some(step + 1)
        );
        assert_eq!(verify(&key, "12345", now, 0), None);
        assert_eq!(verify(&key, "abcdef", now, 0), None);
    }

    #[test]
    fn uri_and_recovery_codes() {
        let key = new_secret();
        assert_eq!(key.len(), 20);
        let b32 = secret_base32(&key);
        assert_eq!(b32.len(), 32);
        let uri = otpauth_uri(&key, "ada+x@lab.example");
        assert!(uri.starts_with("otpauth://totp/LabLedger:ada%2Bx@lab.example?secret="));
        assert!(uri.contains("&issuer=LabLedger"));
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0].len(), 11);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(
            recovery_code_hash(&codes[0].to_uppercase().replace('-', " ")),
            recovery_code_hash(&codes[0])
        );
    }
}
