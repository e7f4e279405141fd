//! Property tests of the parsers the server runs before any handler code,
//! called directly (no server): JWT verification with a generated key set,
//! `FormOrJson` and `ApiJson` on built requests, Basic credentials and the
//! `/authorize` parameter collection. Random and mutated input must give an
//! error, never a panic, and an error must be a 4xx in its API's format.
//! Seed and case count: see `support/fuzz.rs`.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, HeaderMap, HeaderValue, Request};
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor::flows::authorize::AuthorizeParams;
use grantor::http::auth_api::FormOrJson;
use grantor::http::extract::basic_credentials;
use grantor::http::management::ApiJson;
use grantor::keys::{generate_signing_keys, JwtError, Keys};
use grantor_domain::{SigningAlg, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::support::fuzz::{self, any_json, bearer, body, hostile_text, jwt_shaped, RawBody};

const ISSUER: &str = "https://issuer.example/";

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        Keys::load(&generate_signing_keys(Timestamp(0)).expect("keys")).expect("load keys")
    })
}

fn alg() -> impl Strategy<Value = SigningAlg> {
    prop::sample::select(SigningAlg::ALL.to_vec())
}

fn claims() -> impl Strategy<Value = Value> {
    (any_json(), any::<i64>()).prop_map(|(extra, exp)| {
        json!({"iss": ISSUER, "aud": ["api", "other"], "exp": exp, "sub": "auth0|x", "extra": extra})
    })
}

/// Ways of breaking a signed token.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace one byte with a printable one.
    Byte(prop::sample::Index, u8),
    /// Keep only a prefix.
    Truncate(prop::sample::Index),
    /// Replace one of the three segments with other text.
    Segment(usize, String),
    /// Add a fourth segment, or drop the signature.
    ExtraSegment(String),
    DropSignature,
    /// Rewrite the header with another `alg` (the same `kid`).
    Alg(String),
    /// Re-encode the header with extra members or another `kid`.
    Header(Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        2 => (0usize..3, prop_oneof!["[A-Za-z0-9_-]{0,60}", hostile_text()]).prop_map(|(i, s)| Mutation::Segment(i, s)),
        1 => "[A-Za-z0-9_-]{0,20}".prop_map(Mutation::ExtraSegment),
        1 => Just(Mutation::DropSignature),
        2 => prop_oneof![
            Just("none".to_owned()), Just("HS256".to_owned()), Just("RS256".to_owned()),
            Just("PS256".to_owned()), Just("ES256".to_owned()), Just("EdDSA".to_owned()),
            Just("rs256".to_owned()), hostile_text(),
        ].prop_map(Mutation::Alg),
        1 => any_json().prop_map(Mutation::Header),
    ]
}

fn apply(token: &str, mutation: &Mutation) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let header = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json")
    };
    match mutation {
        Mutation::Byte(i, b) => fuzz::mutate_byte(token, i.index(token.len()), *b),
        Mutation::Truncate(i) => token[..i.index(token.len())].to_owned(),
        Mutation::Segment(i, s) => {
            let mut parts = parts.clone();
            parts[*i] = s;
            parts.join(".")
        }
        Mutation::ExtraSegment(s) => format!("{token}.{s}"),
        Mutation::DropSignature => format!("{}.{}.", parts[0], parts[1]),
        Mutation::Alg(alg) => {
            let mut h = header();
            h["alg"] = json!(alg);
            let h = URL_SAFE_NO_PAD.encode(h.to_string());
            format!("{h}.{}.{}", parts[1], parts[2])
        }
        Mutation::Header(extra) => {
            let mut h = header();
            match extra {
                Value::Object(members) => {
                    for (k, v) in members {
                        h[k] = v.clone();
                    }
                }
                other => h["kid"] = other.clone(),
            }
            let h = URL_SAFE_NO_PAD.encode(h.to_string());
            format!("{h}.{}.{}", parts[1], parts[2])
        }
    }
}

proptest! {
    #![proptest_config(fuzz::config(256))]

    /// Anything that is not one of our signatures is an error, never a panic.
    #[test]
    fn jwt_verification_rejects_junk(token in prop_oneof![
        jwt_shaped(),
        hostile_text(),
        "[A-Za-z0-9_.-]{0,300}",
        (1usize..200_000).prop_map(|n| format!("{}.{}.{}", "a".repeat(n), "b".repeat(n / 2), "c".repeat(n / 3))),
        bearer(vec!["eyJhbGciOiJSUzI1NiJ9.e30.c2ln".to_owned()]),
    ]) {
        prop_assert!(keys().verify(&token).is_err());
        prop_assert!(keys().verify_access_token(&token, ISSUER, None, 0).is_err());
    }

    /// A token of ours with any change at all no longer verifies, whatever
    /// the algorithm, including a header that names another `alg`.
    #[test]
    fn jwt_verification_rejects_every_mutation(alg in alg(), claims in claims(), mutation in mutation()) {
        let token = keys().sign(alg, &claims).expect("sign");
        // Compared with the claims as JSON text reads back (floats need not round-trip).
        let expected: Value = serde_json::from_str(&claims.to_string()).expect("claims");
        prop_assert_eq!(keys().verify(&token), Ok(expected));
        let mutated = apply(&token, &mutation);
        prop_assume!(mutated != token);
        let result = keys().verify(&mutated);
        prop_assert!(result.is_err(), "{mutation:?} still verifies: {mutated}");
        if let Mutation::Alg(_) = mutation {
            // The key decides the algorithm; a header naming another is refused.
            prop_assert!(matches!(result, Err(JwtError::BadSignature | JwtError::Malformed)));
        }
    }

    /// Signed claims come back as they were; the bearer checks then decide on
    /// `iss`, `exp` and `aud` alone.
    #[test]
    fn jwt_claim_checks(alg in alg(), claims in claims(), now in any::<i64>(), audience in prop_oneof![Just("api".to_owned()), hostile_text()]) {
        let token = keys().sign(alg, &claims).expect("sign");
        let checked = keys().verify_access_token(&token, ISSUER, Some(&audience), now);
        let expected = claims["exp"].as_i64().unwrap() > now && (audience == "api" || audience == "other");
        prop_assert_eq!(checked.is_ok(), expected);
        prop_assert!(keys().verify_access_token(&token, "https://other.example/", None, i64::MIN).is_err());
    }
}

/// The token endpoint's members, as `TokenForm` reads them.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only through Debug
struct TokenProbe {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    code: Option<String>,
    refresh_token: Option<String>,
}

const TOKEN_FIELDS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "audience",
    "scope",
    "code",
    "refresh_token",
];

/// A Management body with nesting, numbers and unknown-member refusal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ManagementProbe {
    name: Option<String>,
    callbacks: Option<Vec<String>>,
    token_lifetime: Option<i64>,
    is_first_party: Option<bool>,
    refresh_token: Option<NestedProbe>,
    app_metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NestedProbe {
    leeway: Option<i64>,
    rotation_type: Option<String>,
}

const MANAGEMENT_FIELDS: &[&str] = &[
    "name",
    "callbacks",
    "token_lifetime",
    "is_first_party",
    "refresh_token",
    "app_metadata",
];

fn request(body: &RawBody) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri("/probe");
    if let Some(content_type) = &body.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder
        .body(Body::from(body.bytes.clone()))
        .expect("request")
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Status and JSON of a rejection.
fn rendered(response: axum::response::Response) -> Result<(u16, Value), TestCaseError> {
    let status = response.status().as_u16();
    let bytes = block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
        .map_err(|e| TestCaseError::fail(format!("body: {e}")))?;
    let json = serde_json::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{status}: not JSON ({e})")))?;
    Ok((status, json))
}

proptest! {
    #![proptest_config(fuzz::config(512))]

    /// `FormOrJson`: any body and content type is either parsed or refused
    /// with a 4xx `{error, error_description}`.
    #[test]
    fn form_or_json_refuses_with_oauth_errors(raw in body("application/x-www-form-urlencoded", TOKEN_FIELDS, vec![json!("client_credentials"), json!("x"), json!(""), Value::Null], vec![])) {
        match block_on(FormOrJson::<TokenProbe>::from_request(request(&raw), &())) {
            Ok(FormOrJson(probe)) => {
                // No value that reaches a handler holds a NUL (see src/http/nul.rs).
                let values = [&probe.grant_type, &probe.client_id, &probe.client_secret, &probe.audience, &probe.scope, &probe.code, &probe.refresh_token];
                prop_assert!(!values.iter().any(|v| v.as_deref().is_some_and(|v| v.contains('\0'))), "{probe:?}");
            }
            Err(rejection) => {
                let (status, body) = rendered(rejection.into_response())?;
                prop_assert!((400..500).contains(&status), "{status} {body}");
                prop_assert!(body["error"].is_string() && body["error_description"].is_string(), "{body}");
            }
        }
    }

    /// Distinct known members with string values are always accepted, in
    /// either encoding, and empty values count as absent.
    #[test]
    fn form_or_json_accepts_distinct_string_members(values in prop::collection::btree_map(prop::sample::select(TOKEN_FIELDS), "[ -~]{0,20}", 0..7), as_json in any::<bool>()) {
        let members: Vec<(String, Value)> = values.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let raw = if as_json {
            RawBody { content_type: Some("application/json".to_owned()), bytes: fuzz::render_object(&members).into_bytes() }
        } else {
            RawBody { content_type: Some("application/x-www-form-urlencoded".to_owned()), bytes: fuzz::form_encode(&members) }
        };
        let parsed = block_on(FormOrJson::<TokenProbe>::from_request(request(&raw), &()));
        let Ok(FormOrJson(probe)) = parsed else {
            return Err(TestCaseError::fail(format!("refused: {}", raw.text())));
        };
        let expected = |name: &str| values.get(name).filter(|v| !v.is_empty()).cloned();
        prop_assert_eq!(probe.grant_type, expected("grant_type"));
        prop_assert_eq!(probe.client_id, expected("client_id"));
        prop_assert_eq!(probe.scope, expected("scope"));
    }

    /// `ApiJson`: any body is either parsed or refused with a 4xx
    /// `{statusCode, error, message}`.
    #[test]
    fn api_json_refuses_with_management_errors(raw in body("application/json", MANAGEMENT_FIELDS, vec![json!("name"), json!(["https://a.example/cb"]), json!(3600), json!({"leeway": 0}), json!({})], vec![])) {
        match block_on(ApiJson::<ManagementProbe>::from_request(request(&raw), &())) {
            Ok(ApiJson(probe)) => {
                let texts = probe.name.iter().chain(probe.callbacks.iter().flatten()).chain(probe.refresh_token.iter().filter_map(|r| r.rotation_type.as_ref()));
                prop_assert!(!texts.into_iter().any(|t| t.contains('\0')), "{probe:?}");
                let metadata = Value::Object(probe.app_metadata.clone().unwrap_or_default());
                prop_assert!(!grantor::http::nul::in_json(&metadata), "{probe:?}");
            }
            Err(rejection) => {
                let (status, body) = rendered(rejection.into_response())?;
                prop_assert!((400..500).contains(&status), "{status} {body}");
                prop_assert_eq!(body["statusCode"].as_u64(), Some(u64::from(status)), "{}", body);
                prop_assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
            }
        }
    }

    /// Basic credentials: any header value is parsed or refused, never a panic.
    #[test]
    fn basic_credentials_never_panic(value in prop_oneof![
        hostile_text().prop_map(|s| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(b))),
        "(Basic|basic|BASIC|Bearer) ?[ -~]{0,60}",
        prop::collection::vec(32u8..=255, 0..60).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(header::AUTHORIZATION, v);
        }
        let _ = basic_credentials(&headers);
    }

    /// `/authorize` parameters: each known one is its first non-empty value,
    /// and every later non-empty repeat is noted as a duplicate.
    #[test]
    fn authorize_parameters_keep_the_first_and_note_repeats(pairs in prop::collection::vec((prop_oneof![
        4 => prop::sample::select(vec!["response_type", "client_id", "redirect_uri", "scope", "audience", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "response_mode", "device"]).prop_map(str::to_owned),
        1 => hostile_text(),
    ], prop_oneof![Just(String::new()), hostile_text()]), 0..16)) {
        let params = AuthorizeParams::from_pairs(pairs.clone());
        let first = |name: &str| pairs.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
        prop_assert_eq!(params.client_id.clone(), first("client_id"));
        prop_assert_eq!(params.redirect_uri.clone(), first("redirect_uri"));
        prop_assert_eq!(params.scope.clone(), first("scope"));
        prop_assert_eq!(params.prompt.clone(), first("prompt"));
        let repeats = |name: &str| pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).count().saturating_sub(1);
        prop_assert_eq!(params.duplicates.iter().filter(|d| *d == "state").count(), repeats("state"));
        prop_assert_eq!(params.duplicates.iter().filter(|d| *d == "client_id").count(), repeats("client_id"));
    }
}
