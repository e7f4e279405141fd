//! Signing keys, the JWKS document, and JWT signing and verification.
//!
//! Keys are made per tenant (at bootstrap, then by each rotation), stored in
//! the database so that every process signs with the same keys, and parsed
//! into aws-lc-rs key objects once per change of the set, never per
//! signature. JWTs are assembled here rather than with `jsonwebtoken` because
//! that crate re-parses the private key for every signature (about 4x the
//! cost of an RS256 signature with a loaded key).
//!
//! Rotation: every key is next, current, previous or revoked
//! (`grantor_store::SigningKeyState`). The current key of an algorithm signs;
//! next, current and previous keys verify and are published; revoked keys do
//! neither. [`KeyRing`] holds the parsed set of this process behind one
//! pointer that is swapped whole, so a request sees the old set or the new
//! one, never a mix; [`spawn_refresher`] polls the set's version and swaps
//! when another process changed it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use grantor_domain::{SigningAlg, Timestamp};
use grantor_store::{SigningKeyRecord, SigningKeySet, SigningKeyState, Store};
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
    signers: HashMap<&'static str, Arc<Signer>>,
    verifiers: HashMap<String, Arc<Verifier>>,
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

/// Makes one new key per supported algorithm, current from `now` (the
/// bootstrap's set; a rotation stores them as next instead).
pub fn generate_signing_keys(now: Timestamp) -> anyhow::Result<Vec<SigningKeyRecord>> {
    SigningAlg::ALL
        .into_iter()
        .map(|alg| generate_signing_key(alg, SigningKeyState::Current, now))
        .collect()
}

/// Makes one new key for `alg` in `state`.
pub fn generate_signing_key(
    alg: SigningAlg,
    state: SigningKeyState,
    now: Timestamp,
) -> anyhow::Result<SigningKeyRecord> {
    let rng = SystemRandom::new();
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
    Ok(SigningKeyRecord::new(
        crate::secrets::alphanumeric(22),
        alg.as_str().to_owned(),
        private_pkcs8,
        state,
        now,
    ))
}

/// A stored key, parsed.
struct ParsedKey {
    alg: SigningAlg,
    private: PrivateKey,
    public: ParsedPublicKey,
    jwk: Value,
    /// The public key as DER `SubjectPublicKeyInfo`.
    spki: Vec<u8>,
}

fn parse_key(rec: &SigningKeyRecord) -> anyhow::Result<ParsedKey> {
    let alg = SigningAlg::parse(&rec.alg).map_err(|e| anyhow::anyhow!(e.0))?;
    let (private, public, jwk, spki) = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            let pair = RsaKeyPair::from_pkcs8(&rec.private_pkcs8)
                .map_err(|e| anyhow::anyhow!("stored RSA key {}: {e}", rec.kid))?;
            let public = pair.public_key();
            let spki = public
                .as_der()
                .context("encoding an RSA public key")?
                .as_ref()
                .to_vec();
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
            (PrivateKey::Rsa(pair), parsed, jwk, spki)
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rec.private_pkcs8,
            )
            .map_err(|e| anyhow::anyhow!("stored EC key {}: {e}", rec.kid))?;
            let spki = pair
                .public_key()
                .as_der()
                .context("encoding an EC public key")?
                .as_ref()
                .to_vec();
            let point = pair.public_key().as_ref().to_vec();
            anyhow::ensure!(
                point.len() == 65 && point[0] == 4,
                "unexpected P-256 point encoding"
            );
            let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|e| anyhow::anyhow!("EC public key: {e}"))?;
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
            (PrivateKey::Ec(pair), parsed, jwk, spki)
        }
        SigningAlg::EdDsa => {
            let pair = Ed25519KeyPair::from_pkcs8(&rec.private_pkcs8)
                .map_err(|e| anyhow::anyhow!("stored Ed25519 key {}: {e}", rec.kid))?;
            let spki = pair
                .public_key()
                .as_der()
                .context("encoding an Ed25519 public key")?
                .as_ref()
                .to_vec();
            let public = pair.public_key().as_ref().to_vec();
            let parsed = ParsedPublicKey::new(&signature::ED25519, &public)
                .map_err(|e| anyhow::anyhow!("Ed25519 public key: {e}"))?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public)});
            (PrivateKey::Ed(pair), parsed, jwk, spki)
        }
    };
    let mut jwk = jwk;
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg.as_str());
    jwk["kid"] = json!(rec.kid);
    Ok(ParsedKey {
        alg,
        private,
        public,
        jwk,
        spki,
    })
}

/// The public half of a stored key as the Management API shows it.
#[derive(Debug, Clone)]
pub struct PublicKeyInfo {
    /// PEM `PUBLIC KEY` (DER `SubjectPublicKeyInfo`), CRLF line ends as
    /// Auth0 writes its PEM.
    pub pem: String,
    /// SHA-1 of the DER, upper-case hex in colon-separated pairs.
    pub fingerprint: String,
    /// The same SHA-1 as plain upper-case hex.
    pub thumbprint: String,
}

/// Parses `rec` for its public key (the Management API's `cert`,
/// `fingerprint` and `thumbprint`). A kid's key never changes, so each is
/// parsed once per process: listing the keys must not parse every private
/// key ever made (four more with each rotation) on every request.
pub fn public_key_info(rec: &SigningKeyRecord) -> anyhow::Result<PublicKeyInfo> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<HashMap<String, PublicKeyInfo>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&rec.kid)
        .cloned();
    if let Some(info) = cached {
        return Ok(info);
    }
    let info = public_key_info_uncached(rec)?;
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(rec.kid.clone(), info.clone());
    Ok(info)
}

fn public_key_info_uncached(rec: &SigningKeyRecord) -> anyhow::Result<PublicKeyInfo> {
    let spki = parse_key(rec)?.spki;
    let body = STANDARD.encode(&spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\r\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push_str("\r\n");
    }
    pem.push_str("-----END PUBLIC KEY-----");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    Ok(PublicKeyInfo {
        pem,
        fingerprint: hex.join(":"),
        thumbprint: hex.concat(),
    })
}

impl Keys {
    /// Parses stored keys: the current key of each algorithm signs (the one
    /// current since the latest instant, should there be two); next, current
    /// and previous keys verify and are published (current first, then next,
    /// then previous); revoked keys are left out. Every key must parse and
    /// every algorithm have a current key (a start).
    pub fn load(records: &[SigningKeyRecord]) -> anyhow::Result<Self> {
        let (keys, problems) = Self::load_over(records, None);
        if let Some(problem) = problems.first() {
            anyhow::bail!("{problem}");
        }
        Ok(keys)
    }

    /// [`Keys::load`] for a running process that holds `held`: a key that
    /// does not parse is taken from `held` when it has it (a key never
    /// changes under its kid), and otherwise left out; an algorithm whose
    /// current key is unusable keeps signing with the key `held` signed with,
    /// while that key is still live. Revoked keys are dropped whatever
    /// fails. Returns the keys and what could not be used.
    pub fn load_over(records: &[SigningKeyRecord], held: Option<&Keys>) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut signers: HashMap<&'static str, (Timestamp, Arc<Signer>)> = HashMap::new();
        let mut verifiers: HashMap<String, Arc<Verifier>> = HashMap::new();
        let mut jwks = Vec::new();
        let rank = |state: SigningKeyState| match state {
            SigningKeyState::Current => 0,
            SigningKeyState::Next => 1,
            SigningKeyState::Previous => 2,
            SigningKeyState::Revoked => 3,
        };
        let mut live: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|r| r.state != SigningKeyState::Revoked)
            .collect();
        live.sort_by_key(|r| rank(r.state));
        for rec in live {
            let (verifier, jwk, signer) = match parse_key(rec) {
                Ok(parsed) => (
                    Arc::new(Verifier {
                        alg: parsed.alg,
                        key: parsed.public,
                    }),
                    parsed.jwk,
                    Some(Arc::new(Signer {
                        kid: rec.kid.clone(),
                        key: parsed.private,
                    })),
                ),
                Err(e) => match held.and_then(|h| h.held_key(&rec.kid)) {
                    Some(reused) => reused,
                    None => {
                        problems.push(format!("signing key {}: {e:#}", rec.kid));
                        continue;
                    }
                },
            };
            let alg = verifier.alg.as_str();
            jwks.push(jwk);
            verifiers.insert(rec.kid.clone(), verifier);
            if rec.state == SigningKeyState::Current {
                let Some(signer) = signer else { continue };
                let since = rec.current_since.unwrap_or(rec.created_at);
                let newer = signers.get(alg).is_none_or(|(held, _)| since >= *held);
                if newer {
                    signers.insert(alg, (since, signer));
                }
            }
        }
        if let Some(held) = held {
            for (alg, signer) in &held.signers {
                if !signers.contains_key(alg) && verifiers.contains_key(&signer.kid) {
                    signers.insert(alg, (Timestamp(i64::MIN), signer.clone()));
                }
            }
        }
        for alg in SigningAlg::ALL {
            if !signers.contains_key(alg.as_str()) {
                problems.push(format!("no current {} signing key", alg.as_str()));
            }
        }
        let keys = Self {
            signers: signers.into_iter().map(|(k, (_, s))| (k, s)).collect(),
            verifiers,
            jwks: json!({ "keys": jwks }),
        };
        (keys, problems)
    }

    /// The key held under `kid`: its verifier, its JWK and, if it signs
    /// here, its signer.
    fn held_key(&self, kid: &str) -> Option<(Arc<Verifier>, Value, Option<Arc<Signer>>)> {
        let verifier = self.verifiers.get(kid)?.clone();
        let jwk = self.jwks["keys"]
            .as_array()?
            .iter()
            .find(|k| k["kid"] == kid)?
            .clone();
        let signer = self.signers.values().find(|s| s.kid == kid).cloned();
        Some((verifier, jwk, signer))
    }

    /// The kid the current key of `alg` signs under.
    pub fn signing_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.signers.get(alg.as_str()).map(|s| s.kid.as_str())
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

/// This process's signing keys: one parsed [`Keys`] behind a pointer that
/// a change of the stored set replaces whole. Each call takes the pointer
/// once, so it signs or verifies with one set from start to end.
pub struct KeyRing {
    keys: RwLock<Arc<Keys>>,
    /// The stored set's version the held keys were loaded at.
    version: AtomicI64,
    /// One reload at a time (the poller and a rotating request may race).
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("version", &self.version())
            .field("keys", &self.get())
            .finish()
    }
}

impl KeyRing {
    pub fn new(set: &SigningKeySet) -> anyhow::Result<Self> {
        Ok(Self {
            keys: RwLock::new(Arc::new(Keys::load(&set.keys)?)),
            version: AtomicI64::new(set.version),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// A ring over keys that never change (tools and unit tests).
    pub fn fixed(keys: Keys) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            version: AtomicI64::new(0),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The keys as they are now.
    pub fn get(&self) -> Arc<Keys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The stored set's version the held keys were loaded at.
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    /// Reads the stored set and, when its version is not the one held,
    /// parses it and swaps it in; returns whether it did. A key of the set
    /// that fails to parse is kept as held, or left out (`Keys::load_over`),
    /// and logged; keys the set revoked or no longer has are dropped.
    pub async fn reload(&self, store: &Store) -> anyhow::Result<bool> {
        let _one = self.reloading.lock().await;
        let set = store.signing_key_set().await?;
        if set.version == self.version() {
            return Ok(false);
        }
        let (keys, problems) = Keys::load_over(&set.keys, Some(&self.get()));
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        self.version.store(set.version, Ordering::Release);
        if !problems.is_empty() {
            // Said once per change of the set: the version is recorded, so
            // the next poll does not parse the same keys again.
            tracing::error!(
                version = set.version,
                "signing keys reloaded without what could not be used (revoked keys are dropped all the same): {}",
                problems.join("; ")
            );
            return Ok(true);
        }
        tracing::info!(version = set.version, "signing keys reloaded");
        Ok(true)
    }

    /// The poll: the version alone, and a reload only when it moved.
    pub async fn refresh(&self, store: &Store) -> anyhow::Result<bool> {
        if store.signing_key_version().await? == self.version() {
            return Ok(false);
        }
        self.reload(store).await
    }

    /// [`Keys::jwks`] of the keys now held.
    pub fn jwks(&self) -> Value {
        self.get().jwks().clone()
    }

    /// [`Keys::sign`] with the keys now held.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> anyhow::Result<String> {
        self.get().sign(alg, claims)
    }

    /// [`Keys::sign_typed`] with the keys now held.
    pub fn sign_typed(&self, alg: SigningAlg, typ: &str, claims: &Value) -> anyhow::Result<String> {
        self.get().sign_typed(alg, typ, claims)
    }

    /// [`Keys::verify`] with the keys now held.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        self.get().verify(token)
    }

    /// [`Keys::verify_access_token`] with the keys now held.
    pub fn verify_access_token(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
        now_seconds: i64,
    ) -> Result<Value, JwtError> {
        self.get()
            .verify_access_token(token, issuer, audience, now_seconds)
    }
}

/// A start of this version: every algorithm gets a next key if it has none
/// (databases from before rotation hold current keys only). Keys are made
/// only when one is missing, and the store adds only the missing ones, so
/// concurrent starts agree.
pub async fn ensure_next_keys(store: &Store, now: Timestamp) -> anyhow::Result<()> {
    let stored = store.signing_keys().await?;
    let missing: Vec<SigningAlg> = SigningAlg::ALL
        .into_iter()
        .filter(|alg| {
            !stored
                .iter()
                .any(|k| k.state == SigningKeyState::Next && k.alg == alg.as_str())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let fresh = tokio::task::spawn_blocking(move || {
        missing
            .into_iter()
            .map(|alg| generate_signing_key(alg, SigningKeyState::Next, now))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let added = store.ensure_next_signing_keys(&fresh, now).await?;
    if added > 0 {
        tracing::info!(added, "published next signing keys");
    }
    Ok(())
}

/// Polls the stored set's version every `interval` and reloads the ring
/// when another process rotated or revoked.
pub fn spawn_refresher(
    ring: Arc<KeyRing>,
    store: Store,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(e) = ring.refresh(&store).await {
                tracing::warn!("refreshing the signing keys failed: {e:#}");
            }
        }
    })
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

    fn in_state(mut rec: SigningKeyRecord, state: SigningKeyState, since: i64) -> SigningKeyRecord {
        rec.state = state;
        rec.current_since = (state != SigningKeyState::Next).then_some(Timestamp(since));
        rec
    }

    #[test]
    fn current_keys_sign_and_only_revoked_keys_are_left_out() {
        let gen = |state, since| {
            in_state(
                generate_signing_key(SigningAlg::Es256, SigningKeyState::Current, Timestamp(0))
                    .unwrap(),
                state,
                since,
            )
        };
        let mut records = generate_signing_keys(Timestamp(0)).unwrap();
        records.retain(|r| r.alg != "ES256");
        let (previous, current, next, revoked) = (
            gen(SigningKeyState::Previous, 1),
            gen(SigningKeyState::Current, 2),
            gen(SigningKeyState::Next, 0),
            gen(SigningKeyState::Revoked, 0),
        );
        records.extend([
            previous.clone(),
            current.clone(),
            next.clone(),
            revoked.clone(),
        ]);
        let keys = Keys::load(&records).unwrap();
        assert_eq!(
            keys.signing_kid(SigningAlg::Es256),
            Some(current.kid.as_str())
        );
        let published: Vec<&str> = keys.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == "ES256")
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(
            published,
            [&current.kid, &next.kid, &previous.kid],
            "current, next, previous; never revoked"
        );
        // What the previous and next keys sign verifies; the revoked key's does not.
        for (rec, ok) in [(&previous, true), (&next, true), (&revoked, false)] {
            let only = Keys::load(
                &generate_signing_keys(Timestamp(0))
                    .unwrap()
                    .into_iter()
                    .filter(|r| r.alg != "ES256")
                    .chain([in_state(rec.clone(), SigningKeyState::Current, 0)])
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let token = only.sign(SigningAlg::Es256, &json!({"sub": "x"})).unwrap();
            assert_eq!(keys.verify(&token).is_ok(), ok, "{:?}", rec.state);
            if !ok {
                assert_eq!(keys.verify(&token), Err(JwtError::UnknownKey));
            }
        }
    }

    #[test]
    fn public_key_info_is_pem_and_sha1() {
        let rec = generate_signing_key(SigningAlg::EdDsa, SigningKeyState::Current, Timestamp(0))
            .unwrap();
        let info = public_key_info(&rec).unwrap();
        assert!(info.pem.starts_with("-----BEGIN PUBLIC KEY-----\r\n"));
        assert!(info.pem.ends_with("\r\n-----END PUBLIC KEY-----"));
        assert_eq!(info.fingerprint.len(), 59);
        assert_eq!(info.thumbprint, info.fingerprint.replace(':', ""));
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
