//! PKCE (RFC 7636): only `S256` is accepted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ValidationError;

/// A `code_challenge` is 43 base64url characters (a SHA-256 digest).
pub fn validate_challenge(challenge: &str, method: Option<&str>) -> Result<(), ValidationError> {
    match method {
        Some("S256") => {}
        Some(other) => {
            return Err(ValidationError::new(format!(
                "code_challenge_method '{other}' is not supported; use S256"
            )))
        }
        None => {
            return Err(ValidationError::new(
                "code_challenge_method=S256 is required with code_challenge",
            ))
        }
    }
    if crate::secret::is_base64url_32_bytes(challenge) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "code_challenge must be a base64url SHA-256 digest (43 characters)",
        ))
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(validate_challenge(challenge, Some("S256")).is_ok());
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
        assert!(!verify_s256("short", challenge));
        assert!(validate_challenge(challenge, Some("plain")).is_err());
        assert!(validate_challenge(challenge, None).is_err());
        assert!(validate_challenge("abc", Some("S256")).is_err());
    }
}
