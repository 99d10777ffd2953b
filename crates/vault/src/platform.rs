//! Platform data keys: instance-level keys (not any org's) stored wrapped by the master key.
//! `user-secrets` seals users' TOTP secrets: a user belongs to many orgs, so no org key fits,
//! and sealing them with the master key itself would tie them to it — a master rotation
//! re-wraps this one key instead of re-sealing every secret.

use crate::keys::{self, Key};
use crate::VaultError;

/// The purpose of the key that seals users' TOTP secrets.
pub const USER_SECRETS: &str = "user-secrets";

fn context(purpose: &str) -> String {
    format!("platform-key:{purpose}")
}

/// A new platform key for `purpose` and its form wrapped by `master` (to store).
pub fn new_key(master: &[u8; 32], purpose: &str) -> Result<(Key, Vec<u8>), VaultError> {
    let key = Key::generate();
    let wrapped = keys::wrap(&Key::from_bytes(*master), &key, &context(purpose))?;
    Ok((key, wrapped))
}

/// Unwraps a stored platform key; fails with another master key, purpose or altered bytes.
pub fn unwrap_key(master: &[u8; 32], purpose: &str, wrapped: &[u8]) -> Result<Key, VaultError> {
    keys::unwrap(&Key::from_bytes(*master), wrapped, &context(purpose))
}

/// Re-wraps a platform key from the `old` master key to the `new` one.
pub fn rewrap_key(
    old: &[u8; 32],
    new: &[u8; 32],
    purpose: &str,
    wrapped: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let key = unwrap_key(old, purpose, wrapped)?;
    keys::wrap(&Key::from_bytes(*new), &key, &context(purpose))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_keys_are_bound_to_master_and_purpose_and_rewrap() {
        let m1 = [1u8; 32];
        let m2 = [2u8; 32];
        let (key, wrapped) = new_key(&m1, USER_SECRETS).unwrap();
        assert_eq!(unwrap_key(&m1, USER_SECRETS, &wrapped).unwrap(), key);
        assert!(unwrap_key(&m2, USER_SECRETS, &wrapped).is_err());
        assert!(unwrap_key(&m1, "other", &wrapped).is_err());
        let moved = rewrap_key(&m1, &m2, USER_SECRETS, &wrapped).unwrap();
        assert_eq!(unwrap_key(&m2, USER_SECRETS, &moved).unwrap(), key);
        assert!(unwrap_key(&m1, USER_SECRETS, &moved).is_err());
    }
}
