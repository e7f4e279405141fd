//! DPoP (RFC 9449): checking a proof of possession sent in the `DPoP` header.
//!
//! A proof is a JWT signed with the client's own key, whose public half it
//! carries (`jwk`). It binds one request (`htm`, `htu`), at one moment
//! (`iat`, accepted from [`IAT_PAST_SECONDS`] before to
//! [`IAT_FUTURE_SECONDS`] after now), once (`jti`, recorded in the database
//! until it leaves that window, so a replay is refused on every process),
//! and at a resource, one access token (`ath`). The key is named by its
//! RFC 7638 thumbprint (`jkt`), which access tokens carry as `cnf.jkt` and a
//! bound refresh token stores.
//!
//! With `--require-dpop-nonce`, a proof must also carry a server nonce
//! (`nonce`, RFC 9449 §8) that grantor handed out in a `DPoP-Nonce` header.
//! Nonces need no storage: one is the tenant MAC (`RefreshSecrets::tag`,
//! its own domain) of a [`NONCE_SLOT_SECONDS`] time slot, so every process
//! issues and accepts the same ones; the current slot's and the previous
//! slot's are accepted, so a nonce lives one to two slots (and the next
//! slot's, for a process whose clock runs ahead).
//!
//! The signature is checked with aws-lc-rs from the JWK's members, which are
//! parsed here strictly (known key types and curves, exact lengths, no
//! private members), so no input can reach a library path that panics.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::{OAuthError, OAuthErrorKind, Timestamp, TokenHash};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::FlowError;
use crate::state::AppState;

/// How old a proof's `iat` may be.
pub const IAT_PAST_SECONDS: i64 = 300;
/// How far ahead of our clock a proof's `iat` may be (clock skew).
pub const IAT_FUTURE_SECONDS: i64 = 60;
/// The algorithms accepted for proofs (discovery's
/// `dpop_signing_alg_values_supported`).
pub const SIGNING_ALGS: &[&str] = &["ES256", "ES384", "RS256", "PS256", "EdDSA"];
/// The span of one server nonce; a nonce is accepted in its slot and the next.
pub const NONCE_SLOT_SECONDS: i64 = 60;
/// The MAC domain of server nonces.
const NONCE_DOMAIN: &str = "dpop-nonce";
/// The longest proof accepted, in bytes (an RSA-4096 JWK and claims fit).
const MAX_PROOF_BYTES: usize = 8192;
/// The longest `jti` accepted.
const MAX_JTI: usize = 256;

/// A checked proof: the key it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopKey {
    /// The JWK SHA-256 thumbprint (RFC 7638), base64url.
    pub jkt: String,
}

fn invalid(why: &'static str) -> OAuthError {
    OAuthError::new(OAuthErrorKind::InvalidDpopProof, why)
}

/// The server nonce of the slot `now` falls in (the `DPoP-Nonce` value).
pub fn nonce(state: &AppState, now: Timestamp) -> String {
    nonce_of_slot(state, now.unix_seconds().div_euclid(NONCE_SLOT_SECONDS))
}

fn nonce_of_slot(state: &AppState, slot: i64) -> String {
    URL_SAFE_NO_PAD.encode(state.refresh_secrets.tag(NONCE_DOMAIN, &slot.to_be_bytes()))
}

/// Whether `nonce` is this slot's, the previous one's, or the next one's
/// (another process whose clock runs a little ahead may have crossed into
/// it first; nonces are public, so accepting it costs nothing).
fn nonce_is_current(state: &AppState, nonce: &str, now: Timestamp) -> bool {
    let slot = now.unix_seconds().div_euclid(NONCE_SLOT_SECONDS);
    [slot, slot - 1, slot + 1].into_iter().any(|s| {
        nonce_of_slot(state, s)
            .as_bytes()
            .ct_eq(nonce.as_bytes())
            .into()
    })
}

/// Checks the `DPoP` header values of a request to `method` `url`
/// (`access_token`: the token it presents, at a resource) and records the
/// proof's `jti`. No header: `None`. More than one, or a bad proof:
/// `invalid_dpop_proof`; with `--require-dpop-nonce`, a sound proof without
/// a current server nonce: `use_dpop_nonce` (nothing recorded, so the client
/// may retry at once with the nonce it was sent).
pub async fn check(
    state: &AppState,
    headers: &[&str],
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: Timestamp,
) -> Result<Option<DpopKey>, FlowError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(invalid("More than one DPoP header").into()),
    };
    let checked = parse(proof, method, url, access_token, now.unix_seconds())?;
    if state.require_dpop_nonce
        && !checked
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_is_current(state, n, now))
    {
        return Err(OAuthError::new(
            OAuthErrorKind::UseDpopNonce,
            "The DPoP proof must carry the server nonce sent in the DPoP-Nonce header",
        )
        .into());
    }
    let key = TokenHash::of(&format!("{}.{}", checked.key.jkt, checked.jti));
    let until = Timestamp((checked.iat + IAT_PAST_SECONDS + IAT_FUTURE_SECONDS) * 1000);
    if !state.store.record_dpop_proof(&key, until).await? {
        return Err(invalid("The DPoP proof was used before").into());
    }
    Ok(Some(checked.key))
}

/// A proof whose signature and claims hold, before its `jti` is recorded.
#[derive(Debug)]
pub struct CheckedProof {
    pub key: DpopKey,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, unchecked.
    pub nonce: Option<String>,
}

/// Everything about a proof that needs no database.
pub fn parse(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now_seconds: i64,
) -> Result<CheckedProof, OAuthError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("The DPoP proof is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("The DPoP proof is not a JWT"));
    };
    let json = |part: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    let header = json(header_b64).ok_or_else(|| invalid("The DPoP proof's header is not JSON"))?;
    let claims = json(claims_b64).ok_or_else(|| invalid("The DPoP proof's claims are not JSON"))?;
    if header["typ"].as_str() != Some("dpop+jwt") {
        return Err(invalid("The DPoP proof's typ must be dpop+jwt"));
    }
    let alg = header["alg"]
        .as_str()
        .filter(|a| SIGNING_ALGS.contains(a))
        .ok_or_else(|| invalid("The DPoP proof's alg is not supported"))?;
    let jwk = header["jwk"]
        .as_object()
        .ok_or_else(|| invalid("The DPoP proof carries no jwk"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| invalid("The DPoP proof's signature is not base64url"))?;
    let signed = &proof.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    let jkt = verify(alg, jwk, signed, &signature)?;

    if claims["htm"].as_str() != Some(method) {
        return Err(invalid("The DPoP proof is for another HTTP method"));
    }
    if !same_target(claims["htu"].as_str().unwrap_or_default(), url) {
        return Err(invalid("The DPoP proof is for another URL"));
    }
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| invalid("The DPoP proof has no iat"))?;
    if iat < now_seconds - IAT_PAST_SECONDS || iat > now_seconds + IAT_FUTURE_SECONDS {
        return Err(invalid(
            "The DPoP proof's iat is outside the accepted window",
        ));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .ok_or_else(|| invalid("The DPoP proof has no usable jti"))?;
    if let Some(token) = access_token {
        let expected = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
        if claims["ath"].as_str() != Some(expected.as_str()) {
            return Err(invalid(
                "The DPoP proof's ath does not match the access token",
            ));
        }
    }
    Ok(CheckedProof {
        key: DpopKey { jkt },
        jti: jti.to_owned(),
        iat,
        nonce: claims["nonce"].as_str().map(str::to_owned),
    })
}

/// `htu` names `url` (RFC 9449 §4.3: without query and fragment; scheme and
/// host compared without case, the default port as none).
fn same_target(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// Members a public JWK never has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks `signature` over `signed` with the JWK's key for `alg`; returns
/// the key's thumbprint.
fn verify(
    alg: &str,
    jwk: &serde_json::Map<String, Value>,
    signed: &[u8],
    signature: &[u8],
) -> Result<String, OAuthError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("The DPoP proof's jwk holds a private key"));
    }
    let text = |name: &str| -> Result<&str, OAuthError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("The DPoP proof's jwk is incomplete"))
    };
    let bytes = |name: &str| -> Result<Vec<u8>, OAuthError> {
        URL_SAFE_NO_PAD
            .decode(text(name)?)
            .map_err(|_| invalid("The DPoP proof's jwk is not base64url"))
    };
    let kty = text("kty")?;
    let bad_key = || invalid("The DPoP proof's jwk does not fit its alg");
    let (members, ok): (Vec<&str>, bool) = match (alg, kty) {
        ("ES256" | "ES384", "EC") => {
            let (crv, size, verifier) = match alg {
                "ES256" => ("P-256", 32, &signature::ECDSA_P256_SHA256_FIXED),
                _ => ("P-384", 48, &signature::ECDSA_P384_SHA384_FIXED),
            };
            if text("crv")? != crv {
                return Err(bad_key());
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != size || y.len() != size {
                return Err(bad_key());
            }
            let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
            let ok = UnparsedPublicKey::new(verifier, point)
                .verify(signed, signature)
                .is_ok();
            (vec!["crv", "kty", "x", "y"], ok)
        }
        ("RS256" | "PS256", "RSA") => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            if n.len() < 256 || n.len() > 1024 || e.is_empty() || e.len() > 8 {
                return Err(bad_key());
            }
            let params = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                _ => &signature::RSA_PSS_2048_8192_SHA256,
            };
            let ok = RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, signed, signature)
                .is_ok();
            (vec!["e", "kty", "n"], ok)
        }
        ("EdDSA", "OKP") => {
            if text("crv")? != "Ed25519" {
                return Err(bad_key());
            }
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err(bad_key());
            }
            let ok = UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(signed, signature)
                .is_ok();
            (vec!["crv", "kty", "x"], ok)
        }
        _ => return Err(bad_key()),
    };
    if !ok {
        return Err(invalid("The DPoP proof's signature does not verify"));
    }
    // RFC 7638: the required members, in lexicographic order, no spaces.
    let canonical: BTreeMap<&str, &str> = members
        .into_iter()
        .map(|m| Ok((m, text(m)?)))
        .collect::<Result<_, OAuthError>>()?;
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        let canonical: BTreeMap<&str, &str> = [("e", "AQAB"), ("kty", "RSA"), ("n", n)]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&canonical).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes())),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // A private member is refused before anything else.
        let mut private = jwk.as_object().unwrap().clone();
        private.insert("d".into(), "AAAA".into());
        assert!(verify("RS256", &private, b"x", b"y").is_err());
    }

    #[test]
    fn mismatched_keys_and_garbage_are_refused_without_panicking() {
        for (alg, jwk) in [
            (
                "ES256",
                serde_json::json!({"kty": "EC", "crv": "Ed25519", "x": "AA", "y": "AA"}),
            ),
            (
                "EdDSA",
                serde_json::json!({"kty": "OKP", "crv": "P-256", "x": "AA"}),
            ),
            (
                "ES256",
                serde_json::json!({"kty": "RSA", "n": "AA", "e": "AQAB"}),
            ),
            (
                "RS256",
                serde_json::json!({"kty": "RSA", "n": "AA", "e": "AQAB"}),
            ),
            (
                "ES256",
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": 1, "y": []}),
            ),
            (
                "ES384",
                serde_json::json!({"kty": "EC", "crv": "P-384", "x": "!!", "y": "AA"}),
            ),
        ] {
            assert!(
                verify(alg, jwk.as_object().unwrap(), b"x", b"y").is_err(),
                "{jwk}"
            );
        }
        for proof in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.e30.",
            "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA",
        ] {
            assert!(
                parse(proof, "POST", "https://a/oauth/token", None, 0).is_err(),
                "{proof}"
            );
        }
    }

    #[test]
    fn htu_ignores_query_fragment_case_and_default_port() {
        assert!(same_target(
            "https://AS.example:443/oauth/token?x=1#f",
            "https://as.example/oauth/token"
        ));
        assert!(!same_target(
            "https://as.example/oauth/token/",
            "https://as.example/oauth/token"
        ));
        assert!(!same_target(
            "http://as.example/oauth/token",
            "https://as.example/oauth/token"
        ));
        assert!(!same_target("not a url", "https://as.example/oauth/token"));
    }
}
