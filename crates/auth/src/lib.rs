//! Credentials: argon2id password hashes verified off the async runtime on a bounded pool,
//! and the opaque random tokens of sessions and CSRF protection.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

mod secretbox;
pub mod totp;

pub use secretbox::{parse_master_key_hex, SecretBox};
mod strength;
pub use strength::{check_password_strength, WeakPassword, MIN_SCORE};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing pool is gone")]
    PoolClosed,
    #[error("a sealed secret did not open (wrong key, owner or data)")]
    Crypto,
    #[error("the master key must be 64 hexadecimal characters (32 bytes)")]
    BadKey,
}

/// OWASP's argon2id recommendation (2024): 19 MiB of memory, 2 iterations, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords on a few dedicated threads (`workers`), so a login storm
/// queues for CPU instead of starving the rest of the server, and memory stays bounded: each
/// hash takes 19 MiB that the allocator keeps per thread, so a fixed set of threads keeps at
/// most `workers × 19 MiB` (tokio's blocking pool would spread it over hundreds of threads).
#[derive(Clone)]
pub struct PasswordHasherPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// A real hash of a random password, verified against when the email is unknown, so an
    /// unknown email costs the same time as a wrong password. Made on first need, not at
    /// start: hashing takes 19 MiB that the allocator keeps, which idle memory should not pay.
    dummy_hash: Arc<std::sync::OnceLock<String>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl PasswordHasherPool {
    pub fn new(workers: usize) -> Result<Self, AuthError> {
        // The queue is what waits; its bound only keeps a flood from growing memory.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(4096);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .map_err(|e| AuthError::Hash(e.to_string()))?;
        }
        Ok(Self {
            jobs,
            dummy_hash: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// Runs `work` on a hashing thread and awaits its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let jobs = self.jobs.clone();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        // `send` blocks only when 4096 jobs wait already; do that off the runtime.
        tokio::task::spawn_blocking(move || jobs.send(job))
            .await
            .map_err(|_| AuthError::PoolClosed)?
            .map_err(|_| AuthError::PoolClosed)?;
        result.await.map_err(|_| AuthError::PoolClosed)
    }

    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        self.run(move || hash_password_blocking(&password)).await?
    }

    /// Checks a password against a stored hash; with no stored hash, burns the same time and
    /// answers false.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let known = stored.is_some();
        let dummy = self.dummy_hash.clone();
        let ok = self
            .run(move || {
                let hash = match stored {
                    Some(h) => h,
                    None => dummy
                        .get_or_init(|| {
                            hash_password_blocking(&random_token(24)).unwrap_or_default()
                        })
                        .clone(),
                };
                verify_password_blocking(&password, &hash)
            })
            .await?;
        Ok(known && ok)
    }
}

pub fn hash_password_blocking(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password_blocking(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    // Verify with the parameters recorded in the hash itself.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// `bytes` random bytes from the OS, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// What is stored for a secret token: its SHA-256 (the token itself has 256 bits of entropy, so
/// a fast hash is enough; a leaked table yields nothing usable).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A session token (32 random bytes) and its stored hash.
pub fn new_session_token() -> (String, Vec<u8>) {
    let token = random_token(32);
    let hash = token_hash(&token);
    (token, hash)
}

/// The prefix of every API token, so secret scanners can spot a leaked one.
pub const API_TOKEN_PREFIX: &str = "llat_";

/// A new API token (`llat_` + 32 random bytes, URL-safe base64), its stored hash, and its
/// display prefix (`llat_` and the first 8 characters after it).
pub fn new_api_token() -> (String, Vec<u8>, String) {
    let token = format!("{API_TOKEN_PREFIX}{}", random_token(32));
    let hash = token_hash(&token);
    let display: String = token.chars().take(API_TOKEN_PREFIX.len() + 8).collect();
    (token, hash, display)
}

/// Compares two secrets in constant time.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A readable generated password (about 120 bits), for first owners and new members.
pub fn generate_password() -> String {
    random_token(20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let h = hash_password_blocking("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password_blocking("correct horse battery staple", &h));
        assert!(!verify_password_blocking("wrong horse battery staple", &h));
        assert!(!verify_password_blocking("x", "not a hash"));
    }

    #[tokio::test]
    async fn pool_refuses_unknown_users_even_with_the_dummy_password() {
        let pool = PasswordHasherPool::new(2).unwrap();
        let h = pool.hash("a long enough password".into()).await.unwrap();
        assert!(pool
            .verify("a long enough password".into(), Some(h))
            .await
            .unwrap());
        assert!(!pool.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_session_token();
        let (b, _) = new_session_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha, token_hash(&a));
        assert!(secrets_equal(&a, &a.clone()));
        assert!(!secrets_equal(&a, &b));
    }
}
