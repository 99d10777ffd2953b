//! Sensitive custom field values: AES-256-GCM under the org's field key, a random 96-bit nonce
//! per value, and the org, the sample the value was entered for and the field as associated
//! data, so a sealed value moved to another org, sample or field does not open. The field key
//! is a random 256-bit key stored wrapped by the org key ([`FIELD_KEY_PURPOSE`]): an org key
//! rotation re-wraps it (values are never rewritten), deleting the org key shreds every value.

use crate::keys::Key;
use crate::VaultError;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;
use rand::rngs::OsRng;
use rand::RngCore;

/// The purpose an org's field key is wrapped under (by the org key).
pub const FIELD_KEY_PURPOSE: &str = "sample-field-key";

const NONCE_LEN: usize = 12;

/// One org's key for sensitive field values. Debug never shows it.
#[derive(Clone, Debug)]
pub struct FieldKey {
    org: String,
    key: Key,
}

fn aad(org: &str, sample: &str, field: &str) -> String {
    format!("labledger-field-v1:{org}:{sample}:{field}")
}

impl FieldKey {
    /// A new random field key of `org` and its raw bytes (to wrap with the org key).
    pub fn generate(org: &str) -> (Self, [u8; 32]) {
        let key = Key::generate();
        let raw = *key.as_bytes();
        (
            Self {
                org: org.to_owned(),
                key,
            },
            raw,
        )
    }

    /// The field key of `org` from its unwrapped bytes.
    pub fn from_bytes(org: &str, raw: [u8; 32]) -> Self {
        Self {
            org: org.to_owned(),
            key: Key::from_bytes(raw),
        }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext`, bound to this org, `sample` and `field`.
    pub fn seal(&self, sample: &str, field: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ad = aad(&self.org, sample, field);
        let ct = self
            .key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: ad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    /// Opens what [`seal`](Self::seal) made for the same org, sample and field.
    pub fn open(&self, sample: &str, field: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (nonce, ct) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(VaultError::Integrity("sealed field value too short"))?;
        let ad = aad(&self.org, sample, field);
        self.key
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: ad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Integrity("sealed field value does not open"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_to_org_sample_and_field() {
        let (k, raw) = FieldKey::generate("org-a");
        let sealed = k.seal("s1", "patient", b"Jane Doe").unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"Jane"));
        assert_eq!(k.open("s1", "patient", &sealed).unwrap(), b"Jane Doe");
        assert_ne!(k.seal("s1", "patient", b"Jane Doe").unwrap(), sealed);
        assert!(k.open("s2", "patient", &sealed).is_err(), "another sample");
        assert!(k.open("s1", "donor", &sealed).is_err(), "another field");
        let other_org = FieldKey::from_bytes("org-b", raw);
        assert!(other_org.open("s1", "patient", &sealed).is_err());
        assert!(FieldKey::generate("org-a")
            .0
            .open("s1", "patient", &sealed)
            .is_err());
        let mut flipped = sealed.clone();
        flipped[15] ^= 1;
        assert!(k.open("s1", "patient", &flipped).is_err());
        assert!(k.open("s1", "patient", &sealed[..8]).is_err());
        assert!(!format!("{k:?}").contains("Jane"));
    }
}
