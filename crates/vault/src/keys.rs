//! 256-bit keys and key wrapping: `wrap(kek, key, context)` seals a key under a key-encryption
//! key with AES-256-GCM; the context (e.g. `org-key:<org id>`) is the associated data, so a
//! wrapped key moved to another record does not unwrap.

use crate::VaultError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;

/// A 256-bit secret key. Its Debug output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(k)
    }
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

const WRAP_NONCE: usize = 12;

/// Seals `key` under `kek`: 12-byte random nonce ‖ ciphertext ‖ tag (60 bytes).
pub fn wrap(kek: &Key, key: &Key, context: &str) -> Result<Vec<u8>, VaultError> {
    let mut nonce = [0u8; WRAP_NONCE];
    OsRng.fill_bytes(&mut nonce);
    let sealed = kek
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: key.as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Encrypt)?;
    Ok([nonce.as_slice(), &sealed].concat())
}

/// Opens a wrapped key; fails on the wrong key-encryption key, context or any altered byte.
pub fn unwrap(kek: &Key, wrapped: &[u8], context: &str) -> Result<Key, VaultError> {
    let (nonce, sealed) = wrapped
        .split_at_checked(WRAP_NONCE)
        .ok_or(VaultError::Integrity("wrapped key too short"))?;
    let plain = kek
        .cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| VaultError::Integrity("wrapped key does not open"))?;
    let bytes: [u8; 32] = plain
        .try_into()
        .map_err(|_| VaultError::Integrity("wrapped key has the wrong length"))?;
    Ok(Key(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trips_and_binds_key_and_context() {
        let master = Key::generate();
        let org = Key::generate();
        let wrapped = wrap(&master, &org, "org-key:a").unwrap();
        assert_eq!(wrapped.len(), 60);
        assert_eq!(unwrap(&master, &wrapped, "org-key:a").unwrap(), org);
        assert!(
            unwrap(&master, &wrapped, "org-key:b").is_err(),
            "moved to another org"
        );
        assert!(
            unwrap(&Key::generate(), &wrapped, "org-key:a").is_err(),
            "another master key"
        );
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert!(unwrap(&master, &flipped, "org-key:a").is_err());
        assert!(unwrap(&master, &wrapped[..10], "org-key:a").is_err());
        assert_eq!(format!("{org:?}"), "Key(***)");
    }
}
