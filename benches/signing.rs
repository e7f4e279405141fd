//! Signing an access token: keys parsed once (what grantor does) against keys
//! re-parsed from their stored form for every signature.
//!
//! Run with `cargo bench --bench signing`; figures are in docs/benchmarks.md.
//!
//! - `sign/loaded/{RS256,PS256,ES256,EdDSA}`: `grantor::keys::Keys::sign`
//!   with the keys bootstrap generates, loaded once with `Keys::load`.
//! - `sign/reparsed/RS256`: the same JWT assembly, but the RSA key is parsed
//!   from its stored PKCS#8 bytes (`RsaKeyPair::from_pkcs8`) for every token.
//! - `sign/jsonwebtoken/RS256`: `jsonwebtoken::encode` with an `EncodingKey`
//!   made once; the crate parses the DER key again inside every signature.
//! - `load/all_keys`: `Keys::load` of the four stored keys (done once at start).

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use grantor::keys::{generate_signing_keys, Keys};
use grantor_domain::{SigningAlg, Timestamp};
use grantor_store::SigningKeyRecord;
use serde_json::{json, Value};

/// The claims of a `client_credentials` access token for the Management API,
/// shaped as `flows::token::client_credentials` makes them.
fn claims() -> Value {
    let scope = grantor::bootstrap::MANAGEMENT_SCOPES.join(" ");
    json!({
        "iss": "http://127.0.0.1:8080/",
        "sub": "bench-client-id@clients",
        "aud": "http://127.0.0.1:8080/api/v2/",
        "iat": 1_790_000_000_i64,
        "exp": 1_790_086_400_i64,
        "scope": scope,
        "azp": "bench-client-id",
        "gty": "client-credentials",
        "jti": "0123456789abcdef0123456789abcdef",
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs as `Keys::sign` does for RS256, but parses the key from its stored
/// PKCS#8 form first, as a signer without a key cache would.
fn sign_rs256_reparsing(record: &SigningKeyRecord, claims: &Value) -> String {
    let pair = RsaKeyPair::from_pkcs8(&record.private_pkcs8).expect("stored RSA key parses");
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": record.kid});
    let mut token = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        token.as_bytes(),
        &mut sig,
    )
    .expect("RSA signing");
    token.push('.');
    token.push_str(&b64(&sig));
    token
}

/// Reads one DER TLV at the start of `input`: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let n = usize::from(long & 0x7f);
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`
/// (SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey OCTET STRING }),
/// which is the form `jsonwebtoken::EncodingKey::from_rsa_der` takes.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    let (tag, info, _) = der_tlv(pkcs8);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (tag, _version, rest) = der_tlv(info);
    assert_eq!(tag, 0x02, "version INTEGER");
    let (tag, _algorithm, rest) = der_tlv(rest);
    assert_eq!(tag, 0x30, "AlgorithmIdentifier SEQUENCE");
    let (tag, private_key, _) = der_tlv(rest);
    assert_eq!(tag, 0x04, "privateKey OCTET STRING");
    private_key.to_vec()
}

fn bench_signing(c: &mut Criterion) {
    let records = generate_signing_keys(Timestamp(0)).expect("generating keys");
    let keys = Keys::load(&records).expect("loading keys");
    let claims = claims();
    let rs256 = records
        .iter()
        .find(|r| r.alg == SigningAlg::Rs256.as_str())
        .expect("an RS256 key")
        .clone();

    // Sanity: every variant makes a token that grantor itself accepts.
    for alg in SigningAlg::ALL {
        keys.verify(&keys.sign(alg, &claims).unwrap())
            .expect("loaded-key token verifies");
    }
    keys.verify(&sign_rs256_reparsing(&rs256, &claims))
        .expect("re-parsed-key token verifies");
    let jwt_key = jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(&rs256.private_pkcs8));
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jwt_header.kid = Some(rs256.kid.clone());
    keys.verify(&jsonwebtoken::encode(&jwt_header, &claims, &jwt_key).unwrap())
        .expect("jsonwebtoken token verifies");

    let mut group = c.benchmark_group("sign");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for alg in SigningAlg::ALL {
        group.bench_function(format!("loaded/{}", alg.as_str()), |b| {
            b.iter(|| keys.sign(black_box(alg), black_box(&claims)).unwrap());
        });
    }
    group.bench_function("reparsed/RS256", |b| {
        b.iter(|| sign_rs256_reparsing(black_box(&rs256), black_box(&claims)));
    });
    group.bench_function("jsonwebtoken/RS256", |b| {
        b.iter(|| {
            jsonwebtoken::encode(black_box(&jwt_header), black_box(&claims), &jwt_key).unwrap()
        });
    });
    group.finish();

    let mut group = c.benchmark_group("load");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("all_keys", |b| {
        b.iter(|| Keys::load(black_box(&records)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench_signing);
criterion_main!(benches);
