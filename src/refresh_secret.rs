//! Refresh-token strings that name their family and generation under a MAC.
//!
//! Rotation keeps only the secrets that can still be honoured (the newest
//! generation and the one before it, for the leeway), so a family that rotates
//! for years holds two or three rows, not one per rotation. An older token is
//! then no longer found by its hash; its MAC proves grantor issued it for that
//! family and generation, so presenting it still counts as reuse and revokes
//! the family. The MAC only vouches for the family and generation: a token is
//! honoured only when the SHA-256 of the whole string is stored, as before,
//! and a forged string (no valid MAC) can neither be honoured nor revoke
//! anyone's family.
//!
//! Layout, base64url without padding: `0x01`, the generation (8 bytes, big
//! endian), 32 random bytes, the family id (UTF-8), and the first 16 bytes of
//! HMAC-SHA256 over everything before it. Tokens without this shape (issued
//! before it, or imported) are looked up by hash only.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::FamilyId;
use rand::Rng;
use subtle::ConstantTimeEq;

const VERSION: u8 = 1;
const RANDOM_LEN: usize = 32;
const MAC_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 8 + RANDOM_LEN;
/// Family ids are short; anything longer is not one of ours.
const MAX_FAMILY_ID_LEN: usize = 64;

/// The family and generation a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub family_id: FamilyId,
    pub generation: i64,
}

/// Issues and verifies refresh-token strings with the tenant's MAC key (stored
/// in the database, so every process shares it; loaded once at start).
pub struct RefreshSecrets {
    key: hmac::Key,
}

impl RefreshSecrets {
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// A fresh 256-bit key, stored unless another process stored one first.
    pub fn generate_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key[..]);
        key
    }

    /// A new secret of `family_id` at `generation` (at least 256 random bits).
    pub fn issue(&self, family_id: &str, generation: i64) -> String {
        let mut bytes = Vec::with_capacity(HEADER_LEN + family_id.len() + MAC_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&(generation.max(0) as u64).to_be_bytes());
        let mut random = [0u8; RANDOM_LEN];
        rand::rng().fill(&mut random[..]);
        bytes.extend_from_slice(&random);
        bytes.extend_from_slice(family_id.as_bytes());
        let tag = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(&tag.as_ref()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The family and generation `token` names, if grantor issued it.
    pub fn verify(&self, token: &str) -> Option<Claimed> {
        if token.len() > 4 * (HEADER_LEN + MAX_FAMILY_ID_LEN + MAC_LEN) / 3 + 4 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() <= HEADER_LEN + MAC_LEN || bytes[0] != VERSION {
            return None;
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let expected = hmac::sign(&self.key, body);
        if !bool::from(expected.as_ref()[..MAC_LEN].ct_eq(tag)) {
            return None;
        }
        let generation = u64::from_be_bytes(body[1..9].try_into().ok()?);
        let family_id = std::str::from_utf8(&body[HEADER_LEN..]).ok()?;
        Some(Claimed {
            family_id: FamilyId::from(family_id),
            generation: i64::try_from(generation).ok()?,
        })
    }

    /// A 16-byte MAC of `data` under the same key for another purpose
    /// (the Management API's checkpoint cursors). The input starts with
    /// `domain` and a NUL, never with a token's version byte, so no tag made
    /// here is ever a refresh token's.
    pub fn tag(&self, domain: &str, data: &[u8]) -> [u8; MAC_LEN] {
        // The separation above holds only for such domains.
        debug_assert!(
            !domain.is_empty()
                && !domain.contains('\0')
                && !domain.as_bytes()[0].is_ascii_control(),
            "a MAC domain is printable text"
        );
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..MAC_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let secrets = RefreshSecrets::new(&[7u8; 32]);
        let token = secrets.issue("0123456789abcdef0123456789abcdef", 41);
        assert_eq!(
            secrets.verify(&token),
            Some(Claimed {
                family_id: "0123456789abcdef0123456789abcdef".into(),
                generation: 41
            })
        );
        // Two secrets of the same family and generation differ.
        assert_ne!(token, secrets.issue("0123456789abcdef0123456789abcdef", 41));
        // Another key, a flipped bit anywhere, a cut or an old-style token: nothing.
        assert_eq!(RefreshSecrets::new(&[8u8; 32]).verify(&token), None);
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1;
            assert_eq!(
                secrets.verify(&URL_SAFE_NO_PAD.encode(flipped)),
                None,
                "byte {i}"
            );
        }
        assert_eq!(secrets.verify(&token[..token.len() - 2]), None);
        assert_eq!(secrets.verify(&crate::secrets::bearer_token()), None);
        assert_eq!(secrets.verify(""), None);
        assert_eq!(secrets.verify(&"A".repeat(10_000)), None);
    }
}
