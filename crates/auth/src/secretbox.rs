//! Secrets at rest: AES-256-GCM under the instance's master key, a random 96-bit nonce per
//! sealing, and associated data binding each ciphertext to its owner (a user id), so a sealed
//! value copied to another row does not open.

use crate::AuthError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use std::sync::Arc;

const NONCE_LEN: usize = 12;

/// Encrypts and decrypts small secrets with the master key. Cheap to clone; never prints the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<Aes256Gcm>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<master key>)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Arc::new(Aes256Gcm::new(key.into())),
        }
    }

    /// A box with a random key that lives only as long as the process (tests and tools that
    /// never persist sealed data). `serve` always loads the real master key.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self::new(&key)
    }

    /// `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| AuthError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made with the same key and associated data.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        let (nonce, ct) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(AuthError::Crypto)?;
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| AuthError::Crypto)
    }
}

/// Parses a master key written as 64 hex characters (surrounding whitespace ignored).
pub fn parse_master_key_hex(text: &str) -> Result<[u8; 32], AuthError> {
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() != 64 {
        return Err(AuthError::BadKey);
    }
    for (slot, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| AuthError::BadKey)?;
        *slot = u8::from_str_radix(s, 16).map_err(|_| AuthError::BadKey)?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_its_associated_data() {
        let b = SecretBox::ephemeral();
        let a = b.seal(b"user-1", b"secret").unwrap();
        let c = b.seal(b"user-1", b"secret").unwrap();
        assert_ne!(a, c, "a fresh nonce each time");
        assert_eq!(b.open(b"user-1", &a).unwrap(), b"secret");
        assert!(b.open(b"user-2", &a).is_err(), "bound to the user id");
        assert!(SecretBox::ephemeral().open(b"user-1", &a).is_err());
        let mut tampered = a.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(b.open(b"user-1", &tampered).is_err());
        assert!(b.open(b"user-1", &a[..5]).is_err());
        assert!(!format!("{b:?}").contains("key:"));
    }

    #[test]
    fn master_keys_are_64_hex_chars() {
        let k = parse_master_key_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(k, [0xab; 32]);
        assert!(parse_master_key_hex("abcd").is_err());
        assert!(parse_master_key_hex(&"zz".repeat(32)).is_err());
    }
}
