//! DPoP (RFC 9449) at the token endpoint: proofs made here with aws-lc-rs
//! (ES256) and, for a second key type, Ed25519. Access tokens carry
//! `cnf.jkt` and `token_type: DPoP`; a public client's refresh token is bound
//! to the key, so a stolen one is worthless without it; replays, a wrong
//! `htu`/`htm`, a stale `iat` and foreign keys are refused; a client may
//! require proofs; discovery and introspection say so.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{API, EMAIL, PASSWORD};
use crate::support::{assert_oauth_error, claims, read, spawn_app, TestApp};

/// A client's DPoP key.
pub enum DpopKey {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    pub fn es256() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap(),
        )
    }

    pub fn ed25519() -> Self {
        Self::Ed25519(Ed25519KeyPair::generate().unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    pub fn jwk(&self) -> Value {
        match self {
            Self::Es256(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Self::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        }
    }

    /// The RFC 7638 thumbprint, computed independently of the server's code.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = match self {
            Self::Es256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            Self::Ed25519(_) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            ),
        };
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(k) => k
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::Ed25519(k) => k.sign(message).as_ref().to_vec(),
        }
    }

    /// A proof with these header members and claims.
    pub fn proof_with(&self, header: Value, claims: Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&signature))
    }

    /// A fresh proof for `method` `url`.
    pub fn proof(&self, method: &str, url: &str) -> String {
        self.proof_with(
            json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()}),
            json!({"jti": uuid(), "htm": method, "htu": url, "iat": now()}),
        )
    }
}

fn uuid() -> String {
    b64(&rand::random::<[u8; 16]>())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// POST /oauth/token with a form and optional DPoP proof(s).
async fn token(app: &TestApp, form: &[(&str, &str)], proofs: &[&str]) -> (StatusCode, Value) {
    let mut request = app.http.post(app.url("/oauth/token")).form(form);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    read(request.send().await.unwrap()).await
}

struct Fixture {
    app: TestApp,
    public_id: String,
    token_url: String,
}

/// An API with offline access, a user, and a public client with the
/// password and refresh grants.
async fn fixture(db: crate::support::Backend) -> Fixture {
    let app = spawn_app(db).await;
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/resource-servers",
            Some(json!({
                "identifier": API, "name": "Orders", "allow_offline_access": true,
                "scopes": [{"value": "read:orders"}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .mgmt_call(Method::POST, "/users", Some(json!({
            "connection": "Username-Password-Authentication", "email": EMAIL, "password": PASSWORD,
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, created) = app
        .mgmt_call(Method::POST, "/clients", Some(json!({
            "name": "phone", "app_type": "native", "token_endpoint_auth_method": "none",
            "grant_types": ["password", "refresh_token"],
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0},
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token_url = app.url("/oauth/token");
    Fixture {
        public_id: created["client_id"].as_str().unwrap().to_owned(),
        app,
        token_url,
    }
}

impl Fixture {
    async fn login(&self, proofs: &[&str]) -> (StatusCode, Value) {
        token(
            &self.app,
            &[
                ("grant_type", "password"),
                ("client_id", &self.public_id),
                ("username", EMAIL),
                ("password", PASSWORD),
                ("audience", API),
                ("scope", "offline_access read:orders"),
            ],
            proofs,
        )
        .await
    }

    async fn refresh(&self, rt: &str, proofs: &[&str]) -> (StatusCode, Value) {
        token(
            &self.app,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.public_id),
                ("refresh_token", rt),
            ],
            proofs,
        )
        .await
    }
}

fn dpop_error(status: StatusCode, body: &Value) {
    assert_oauth_error(status, body, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
}

both_databases! {
    async fn a_bound_refresh_token_is_worthless_without_its_key(db: Backend) {
        let f = fixture(db).await;
        let key = DpopKey::es256();
        let (status, body) = f.login(&[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["cnf"]["jkt"], key.thumbprint());
        let rt = body["refresh_token"].as_str().unwrap().to_owned();

        // The thief: no proof, then a proof of their own key. Nothing changes.
        let (status, body) = f.refresh(&rt, &[]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let thief = DpopKey::es256();
        let (status, body) = f.refresh(&rt, &[&thief.proof("POST", &f.token_url)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let audited = f
            .app
            .query_strings("SELECT description FROM logs WHERE type = 'fertft' ORDER BY log_id")
            .await;
        assert_eq!(
            audited,
            [
                "The refresh token is bound to a DPoP key: send a DPoP proof made with it",
                "The refresh token is bound to another DPoP key",
            ],
            "each refusal is audited"
        );
        // The owner, with the key: the token still works (and rotates).
        let (status, body) = f.refresh(&rt, &[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint());
        let rotated = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rotated, rt);

        // Stored: the family's key thumbprint, and nothing else of the key.
        let jkts = f.app.query_strings("SELECT dpop_jkt FROM refresh_token_families").await;
        assert_eq!(jkts, [key.thumbprint()]);
    }
}

both_databases! {
    async fn bad_proofs_are_refused(db: Backend) {
        let f = fixture(db).await;
        let key = DpopKey::es256();
        let url = f.token_url.clone();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()});
        let claims_with = |htm: &str, htu: &str, iat: i64| json!({"jti": uuid(), "htm": htm, "htu": htu, "iat": iat});

        // A replay of a proof that was accepted.
        let proof = key.proof("POST", &url);
        let (status, body) = f.login(&[&proof]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = f.login(&[&proof]).await;
        dpop_error(status, &body);

        let mut private = key.jwk();
        private["d"] = json!("AAAA");
        let cases: Vec<(String, &str)> = vec![
            (key.proof_with(header.clone(), claims_with("POST", &f.app.url("/oauth/revoke"), now())), "wrong htu"),
            (key.proof_with(header.clone(), claims_with("GET", &url, now())), "wrong htm"),
            (key.proof_with(header.clone(), claims_with("POST", &url, now() - 3600)), "stale iat"),
            (key.proof_with(header.clone(), claims_with("POST", &url, now() + 3600)), "future iat"),
            (key.proof_with(json!({"typ": "JWT", "alg": "ES256", "jwk": key.jwk()}), claims_with("POST", &url, now())), "typ"),
            (key.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256"}), claims_with("POST", &url, now())), "no jwk"),
            (key.proof_with(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk()}), claims_with("POST", &url, now())), "HS256"),
            (key.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}), claims_with("POST", &url, now())), "private key"),
            (key.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": DpopKey::es256().jwk()}), claims_with("POST", &url, now())), "another key's jwk"),
            (key.proof_with(header.clone(), json!({"htm": "POST", "htu": url, "iat": now()})), "no jti"),
            ("not-a-jwt".to_owned(), "garbage"),
        ];
        for (proof, why) in &cases {
            let (status, body) = f.login(&[proof]).await;
            assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
            let _ = why;
        }
        // Two DPoP headers.
        let (status, body) = f.login(&[&key.proof("POST", &url), &key.proof("POST", &url)]).await;
        dpop_error(status, &body);
        // htu may differ in query and fragment (RFC 9449 §4.3).
        let proof = key.proof_with(header.clone(), claims_with("POST", &format!("{url}?x=1#y"), now()));
        let (status, body) = f.login(&[&proof]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // An Ed25519 key works too.
        let ed = DpopKey::ed25519();
        let (status, body) = f.login(&[&ed.proof("POST", &url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"], ed.thumbprint());
    }
}

both_databases! {
    async fn a_client_can_require_proofs_and_discovery_and_introspection_say_so(db: Backend) {
        let f = fixture(db).await;
        let (_, discovery) = read(f.app.http.get(f.app.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        let algs = discovery["dpop_signing_alg_values_supported"].as_array().unwrap();
        assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("EdDSA")), "{discovery}");

        // Without a proof, Bearer as before.
        let (status, body) = f.login(&[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(claims(body["access_token"].as_str().unwrap()).get("cnf").is_none());

        let (status, client) = f
            .app
            .mgmt_call(Method::PATCH, &format!("/clients/{}", f.public_id), Some(json!({"require_proof_of_possession": true})))
            .await;
        assert_eq!(status, StatusCode::OK, "{client}");
        assert_eq!(client["require_proof_of_possession"], true);
        let (status, body) = f.login(&[]).await;
        dpop_error(status, &body);

        // A confidential client introspects a bound token and sees cnf.
        let key = DpopKey::es256();
        let (status, body) = f.login(&[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (rs_id, rs_secret, _) = f.app.create_client(json!({"name": "api", "grant_types": ["client_credentials"]})).await;
        f.app.create_client_grant(&rs_id, API, &["read:orders"]).await;
        let answer = f.app.introspect(&rs_id, &rs_secret, body["access_token"].as_str().unwrap()).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["cnf"]["jkt"], key.thumbprint());
        // The Management API shows the refresh token's binding.
        let sub = claims(body["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (status, list) = f
            .app
            .mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", crate::support::urlencode(&sub)), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let bound: Vec<&Value> = list["tokens"].as_array().unwrap().iter().filter(|t| t.get("cnf").is_some()).collect();
        assert_eq!(bound.len(), 1, "{list}");
        assert_eq!(bound[0]["cnf"]["jkt"], key.thumbprint());
    }
}
