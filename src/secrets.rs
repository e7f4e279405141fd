//! Random identifiers and secrets, and password hashing.
//!
//! Bearer secrets carry at least 256 bits from the operating system's CSPRNG.
//! Passwords are hashed with Argon2id (the `argon2` crate's defaults, which
//! follow OWASP's recommended parameters); the server runs every hash through
//! the bound in `password.rs`, and the plain functions here serve tests and tools.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// An opaque bearer secret: 32 random bytes, base64url (43 characters).
pub fn bearer_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A Content-Security-Policy nonce: 16 random bytes (128 bits), base64url
/// (which CSP's nonce grammar accepts, and which needs no HTML escaping).
pub fn csp_nonce() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A client secret in Auth0's shape: 64 base64url characters (384 bits).
pub fn client_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<48>())
}

/// A client id in Auth0's shape: 32 alphanumeric characters.
pub fn client_id() -> String {
    alphanumeric(32)
}

/// `n` random characters from `[A-Za-z0-9]`.
pub fn alphanumeric(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `n` random bytes as lower-case hex.
pub fn hex_id(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// An Argon2id hash of a random value, verified against when a user does not
/// exist so that sign-in takes the same time either way.
pub const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$I29EBIkdan8ZSqOJSxcPvQ$QId//WemwqyWmh2f6ZctrwNRmNU/CCuEudU7bYoXT3Y";

/// Hashes a password with Argon2id; CPU-heavy and unbounded: the server uses
/// [`crate::password::PasswordHashing`] instead.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("operating system RNG failed: {e}"))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Checks a password against an Argon2 PHC string (constant-time inside argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(bearer_token().len(), 43);
        assert_eq!(client_secret().len(), 64);
        let id = client_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(bearer_token(), bearer_token());
        assert_eq!(hex_id(12).len(), 24);
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("not a hash", "x"));
        assert!(
            argon2::password_hash::PasswordHash::new(DUMMY_PASSWORD_HASH).is_ok(),
            "dummy hash is a real one"
        );
    }
}
