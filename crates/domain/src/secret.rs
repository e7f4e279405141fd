//! Hashes of bearer secrets (client secrets, refresh tokens, codes).
//!
//! Secrets are generated with at least 256 bits of entropy, so a plain SHA-256
//! is a sound at-rest form: it cannot be brute-forced, and lookups by hash are
//! exact. Comparisons of hashes against presented values go through
//! [`TokenHash::matches`], which is constant-time in the hash bytes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `value` is shaped like 32 bytes in unpadded base64url: 43
/// characters of `[A-Za-z0-9-_]`. A SHA-256 digest sent as base64url (a PKCE
/// `code_challenge`, a JWK thumbprint) and a bearer secret look like this.
pub fn is_base64url_32_bytes(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lower-case hex SHA-256 of a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// Wraps a hash read back from storage.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Constant-time check of a presented secret against this hash.
    pub fn matches(&self, presented: &str) -> bool {
        let candidate = Self::of(presented);
        self.0.as_bytes().ct_eq(candidate.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_only_its_secret() {
        let h = TokenHash::of("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cret "));
        assert_eq!(h.as_str().len(), 64);
        assert_eq!(format!("{h:?}"), "TokenHash(..)");
    }
}
