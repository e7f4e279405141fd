//! Signing keys, the JWKS document, and JWT signing and verification.
//!
//! Keys are made once per tenant (at bootstrap), stored in the database so that
//! every process signs with the same keys, and parsed once at start into
//! aws-lc-rs key objects that are kept for the life of the process. JWTs are
//! assembled here rather than with `jsonwebtoken` because that crate re-parses
//! the private key for every signature (about 4x the cost of an RS256 signature
//! with a loaded key).

use std::collections::HashMap;

use anyhow::Context as _;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::{SigningAlg, Timestamp};
use grantor_store::SigningKeyRecord;
use serde_json::{json, Value};

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Signer {
    kid: String,
    key: PrivateKey,
}

struct Verifier {
    alg: SigningAlg,
    key: ParsedPublicKey,
}

/// The tenant's signing keys, loaded once.
pub struct Keys {
    signers: HashMap<&'static str, Signer>,
    verifiers: HashMap<String, Verifier>,
    jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kids", &self.verifiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a JWT was not accepted; never shown in detail to clients.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key id")]
    UnknownKey,
    #[error("invalid signature")]
    BadSignature,
    /// Well signed, but the issuer, expiry or audience is not the one expected.
    #[error("claims rejected")]
    Rejected,
}

/// The `aud` claim as a list: Auth0 writes one string or an array of them.
pub fn audiences(claims: &Value) -> Vec<&str> {
    match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Makes one new key per supported algorithm, ready to store.
pub fn generate_signing_keys(now: Timestamp) -> anyhow::Result<Vec<SigningKeyRecord>> {
    let rng = SystemRandom::new();
    let mut out = Vec::new();
    for alg in SigningAlg::ALL {
        let private_pkcs8 = match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .context("generating RSA key")?
                .as_der()
                .context("encoding RSA key")?
                .as_ref()
                .to_vec(),
            SigningAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .context("generating P-256 key")?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .context("generating Ed25519 key")?
                .as_ref()
                .to_vec(),
        };
        out.push(SigningKeyRecord {
            kid: crate::secrets::alphanumeric(22),
            alg: alg.as_str().to_owned(),
            private_pkcs8,
            created_at: now,
        });
    }
    Ok(out)
}

impl Keys {
    /// Parses stored keys; the newest key of each algorithm signs, all verify.
    pub fn load(records: &[SigningKeyRecord]) -> anyhow::Result<Self> {
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for rec in records {
            let alg = SigningAlg::parse(&rec.alg).map_err(|e| anyhow::anyhow!(e.0))?;
            let (key, verifier, jwk) = match alg {
                SigningAlg::Rs256 | SigningAlg::Ps256 => {
                    let pair = RsaKeyPair::from_pkcs8(&rec.private_pkcs8)
                        .map_err(|e| anyhow::anyhow!("stored RSA key {}: {e}", rec.kid))?;
                    let public = pair.public_key();
                    let n = public.modulus().big_endian_without_leading_zero().to_vec();
                    let e = public.exponent().big_endian_without_leading_zero().to_vec();
                    let params = if alg == SigningAlg::Rs256 {
                        &signature::RSA_PKCS1_2048_8192_SHA256
                    } else {
                        &signature::RSA_PSS_2048_8192_SHA256
                    };
                    let parsed = RsaPublicKeyComponents { n: &n, e: &e }
                        .to_parsed_public_key(params)
                        .map_err(|e| anyhow::anyhow!("RSA public key: {e}"))?;
                    let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
                    (PrivateKey::Rsa(pair), parsed, jwk)
                }
                SigningAlg::Es256 => {
                    let pair = EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &rec.private_pkcs8,
                    )
                    .map_err(|e| anyhow::anyhow!("stored EC key {}: {e}", rec.kid))?;
                    let point = pair.public_key().as_ref().to_vec();
                    anyhow::ensure!(
                        point.len() == 65 && point[0] == 4,
                        "unexpected P-256 point encoding"
                    );
                    let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                        .map_err(|e| anyhow::anyhow!("EC public key: {e}"))?;
                    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
                    (PrivateKey::Ec(pair), parsed, jwk)
                }
                SigningAlg::EdDsa => {
                    let pair = Ed25519KeyPair::from_pkcs8(&rec.private_pkcs8)
                        .map_err(|e| anyhow::anyhow!("stored Ed25519 key {}: {e}", rec.kid))?;
                    let public = pair.public_key().as_ref().to_vec();
                    let parsed = ParsedPublicKey::new(&signature::ED25519, &public)
                        .map_err(|e| anyhow::anyhow!("Ed25519 public key: {e}"))?;
                    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public)});
                    (PrivateKey::Ed(pair), parsed, jwk)
                }
            };
            let mut jwk = jwk;
            jwk["use"] = json!("sig");
            jwk["alg"] = json!(alg.as_str());
            jwk["kid"] = json!(rec.kid);
            jwks.push(jwk);
            verifiers.insert(rec.kid.clone(), Verifier { alg, key: verifier });
            // Records come oldest first, so the newest key of an algorithm wins.
            signers.insert(
                alg.as_str(),
                Signer {
                    kid: rec.kid.clone(),
                    key,
                },
            );
        }
        for alg in SigningAlg::ALL {
            anyhow::ensure!(
                signers.contains_key(alg.as_str()),
                "no stored {} signing key",
                alg.as_str()
            );
        }
        Ok(Self {
            signers,
            verifiers,
            jwks: json!({ "keys": jwks }),
        })
    }

    /// The public JWK set.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS with the current key for `alg`.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> anyhow::Result<String> {
        self.sign_typed(alg, "JWT", claims)
    }

    /// [`Keys::sign`] with an explicit `typ` header (`logout+jwt` for
    /// back-channel logout tokens).
    pub fn sign_typed(&self, alg: SigningAlg, typ: &str, claims: &Value) -> anyhow::Result<String> {
        let signer = self
            .signers
            .get(alg.as_str())
            .context("no key for algorithm")?;
        let header = json!({"alg": alg.as_str(), "typ": typ, "kid": signer.kid});
        let mut token = format!(
            "{}.{}",
            b64(&serde_json::to_vec(&header)?),
            b64(&serde_json::to_vec(claims)?)
        );
        let signature = match &signer.key {
            PrivateKey::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = if alg == SigningAlg::Rs256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), token.as_bytes(), &mut sig)
                    .context("RSA signing failed")?;
                sig
            }
            PrivateKey::Ec(pair) => pair
                .sign(&SystemRandom::new(), token.as_bytes())
                .context("ECDSA signing failed")?
                .as_ref()
                .to_vec(),
            PrivateKey::Ed(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&b64(&signature));
        Ok(token)
    }

    /// [`Keys::verify`], then the checks every bearer token gets: `iss` is
    /// `issuer`, `exp` is after `now_seconds`, and, when given, `aud` names
    /// `audience`.
    pub fn verify_access_token(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
        now_seconds: i64,
    ) -> Result<Value, JwtError> {
        let claims = self.verify(token)?;
        let fresh = claims["exp"].as_i64().is_some_and(|exp| exp > now_seconds);
        let for_audience = audience.is_none_or(|a| audiences(&claims).contains(&a));
        if claims["iss"].as_str() == Some(issuer) && fresh && for_audience {
            Ok(claims)
        } else {
            Err(JwtError::Rejected)
        }
    }

    /// Checks the signature of a compact JWS made by one of our keys and
    /// returns its claims. Claim checks (iss, aud, exp) are the caller's.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(JwtError::UnknownKey)?;
        let verifier = self.verifiers.get(kid).ok_or(JwtError::UnknownKey)?;
        // The header's alg must be the key's: no algorithm substitution.
        if header.get("alg").and_then(Value::as_str) != Some(verifier.alg.as_str()) {
            return Err(JwtError::BadSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(sig_b64)
            .map_err(|_| JwtError::Malformed)?;
        let signed_len = header_b64.len() + 1 + claims_b64.len();
        verifier
            .key
            .verify_sig(&token.as_bytes()[..signed_len], &signature)
            .map_err(|_| JwtError::BadSignature)?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(claims_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if !claims.is_object() {
            return Err(JwtError::Malformed);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::load(&generate_signing_keys(Timestamp(0)).unwrap()).unwrap()
    }

    #[test]
    fn every_algorithm_round_trips_and_rejects_tampering() {
        let keys = keys();
        for alg in SigningAlg::ALL {
            let token = keys.sign(alg, &json!({"sub": "abc", "n": 1})).unwrap();
            assert_eq!(keys.verify(&token).unwrap()["sub"], "abc", "{alg:?}");
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64(br#"{"sub":"evil","n":1}"#);
            parts[1] = &forged;
            assert_eq!(
                keys.verify(&parts.join(".")),
                Err(JwtError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn jwks_lists_every_key_with_kid() {
        let keys = keys();
        let set = keys.jwks()["keys"].as_array().unwrap().clone();
        assert_eq!(set.len(), 4);
        assert!(set
            .iter()
            .all(|k| k["kid"].is_string() && k["use"] == "sig"));
        assert!(
            set.iter().all(|k| k.get("d").is_none()),
            "no private members"
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let keys = keys();
        assert_eq!(keys.verify("a.b"), Err(JwtError::Malformed));
        assert_eq!(keys.verify("!!.!!.!!"), Err(JwtError::Malformed));
        let other = Keys::load(&generate_signing_keys(Timestamp(0)).unwrap()).unwrap();
        let token = other.sign(SigningAlg::Rs256, &json!({})).unwrap();
        assert_eq!(keys.verify(&token), Err(JwtError::UnknownKey));
    }
}
