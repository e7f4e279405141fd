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

    /// A fresh proof for `method` `url` carrying the server nonce `nonce`.
    pub fn proof_with_nonce(&self, method: &str, url: &str, nonce: &str) -> String {
        self.proof_with(
            json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()}),
            json!({"jti": uuid(), "htm": method, "htu": url, "iat": now(), "nonce": nonce}),
        )
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
    let (status, body, _) = token_and_nonce(app, form, proofs).await;
    (status, body)
}

/// [`token`], and the answer's `DPoP-Nonce` header, if any.
async fn token_and_nonce(
    app: &TestApp,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (StatusCode, Value, Option<String>) {
    let mut request = app.http.post(app.url("/oauth/token")).form(form);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, nonce)
}

struct Fixture {
    app: TestApp,
    public_id: String,
    token_url: String,
}

/// An API with offline access, a user, and a public client with the
/// password and refresh grants.
async fn fixture(db: crate::support::Backend) -> Fixture {
    fixture_on(spawn_app(db).await).await
}

async fn fixture_on(app: TestApp) -> Fixture {
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
    /// The password grant for the fixture's user with `scope`; the answer's
    /// `DPoP-Nonce` too.
    async fn password(&self, scope: &str, proofs: &[&str]) -> (StatusCode, Value, Option<String>) {
        token_and_nonce(
            &self.app,
            &[
                ("grant_type", "password"),
                ("client_id", &self.public_id),
                ("username", EMAIL),
                ("password", PASSWORD),
                ("audience", API),
                ("scope", scope),
            ],
            proofs,
        )
        .await
    }

    async fn login(&self, proofs: &[&str]) -> (StatusCode, Value) {
        let (status, body, _) = self.password("offline_access read:orders", proofs).await;
        (status, body)
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
        // Nonces are not asked for by default (`--require-dpop-nonce`).
        let (_, _, nonce) = token_and_nonce(&f.app, &[("grant_type", "password")], &[]).await;
        assert_eq!(nonce, None);
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
        // Failed exchanges go through the audit queue: written moments
        // after the answer, so wait for both (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let audited = loop {
            let audited = f
                .app
                .query_strings("SELECT description FROM logs WHERE type = 'fertft' ORDER BY log_id")
                .await;
            if audited.len() >= 2 || std::time::Instant::now() > deadline {
                break audited;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
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

/// `GET /userinfo` with this Authorization header and proofs.
async fn userinfo(
    app: &TestApp,
    authorization: &str,
    proofs: &[&str],
) -> (StatusCode, Value, String) {
    let mut request = app
        .http
        .get(app.url("/userinfo"))
        .header("Authorization", authorization);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, body) = read(response).await;
    (status, body, challenge)
}

/// A proof for `GET /userinfo` with `ath` for `token` (and a server nonce).
fn userinfo_proof(key: &DpopKey, url: &str, token: &str, nonce: Option<&str>) -> String {
    let ath = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
    let mut claims = json!({"jti": uuid(), "htm": "GET", "htu": url, "iat": now(), "ath": ath});
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    key.proof_with(
        json!({"typ": "dpop+jwt", "alg": key.alg(), "jwk": key.jwk()}),
        claims,
    )
}

both_databases! {
    async fn userinfo_takes_a_bound_token_only_with_a_proof_of_its_key(db: Backend) {
        let f = fixture(db).await;
        let key = DpopKey::es256();
        let url = f.app.url("/userinfo");
        let (status, body, _) = f.password("openid read:orders", &[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let bound = body["access_token"].as_str().unwrap().to_owned();

        let proof = userinfo_proof(&key, &url, &bound, None);
        let (status, body, _) = userinfo(&f.app, &format!("DPoP {bound}"), &[&proof]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["sub"], claims(&bound)["sub"]);
        // The same proof again: a replay.
        let (status, body, challenge) = userinfo(&f.app, &format!("DPoP {bound}"), &[&proof]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_dpop_proof");
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        // As a bearer token, without a proof, with another key, without ath.
        let (status, _, _) = userinfo(&f.app, &format!("Bearer {bound}"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = userinfo(&f.app, &format!("DPoP {bound}"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let other = DpopKey::es256();
        let (status, _, _) = userinfo(&f.app, &format!("DPoP {bound}"), &[&userinfo_proof(&other, &url, &bound, None)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let no_ath = key.proof("GET", &url);
        let (status, _, _) = userinfo(&f.app, &format!("DPoP {bound}"), &[&no_ath]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // An unbound token: as a bearer token only.
        let (status, body, _) = f.password("openid", &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let plain = body["access_token"].as_str().unwrap().to_owned();
        let (status, _, _) = userinfo(&f.app, &format!("Bearer {plain}"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = userinfo(&f.app, &format!("DPoP {plain}"), &[&userinfo_proof(&key, &url, &plain, None)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

both_databases! {
    async fn what_a_proof_binds_and_where_bound_tokens_are_refused(db: Backend) {
        let f = fixture(db).await;
        let key = DpopKey::es256();

        // An old (rotated-out) bound token without its key: refused, and it
        // trips nothing (no reuse detection): the owner's token still works.
        let (status, body) = f.login(&[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let first = body["refresh_token"].as_str().unwrap().to_owned();
        let (_, body) = f.refresh(&first, &[&key.proof("POST", &f.token_url)]).await;
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        let (_, body) = f.refresh(&second, &[&key.proof("POST", &f.token_url)]).await;
        let third = body["refresh_token"].as_str().unwrap().to_owned();
        let (status, body) = f.refresh(&first, &[]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let (status, body) = f.refresh(&third, &[&key.proof("POST", &f.token_url)]).await;
        assert_eq!(status, StatusCode::OK, "the family survived the thief's old token: {body}");

        // A confidential client: its access token is bound, its refresh
        // token is not (its authentication constrains it).
        let (id, secret, _) = f
            .app
            .create_client(json!({"name": "web", "grant_types": ["password", "refresh_token", "client_credentials"]}))
            .await;
        let (status, body) = token(
            &f.app,
            &[
                ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
                ("username", EMAIL), ("password", PASSWORD), ("audience", API),
                ("scope", "offline_access read:orders"),
            ],
            &[&key.proof("POST", &f.token_url)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint());
        let (status, body) = token(
            &f.app,
            &[
                ("grant_type", "refresh_token"), ("client_id", &id), ("client_secret", &secret),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");

        // A machine token with a proof is bound, and the Management API
        // (which takes bearer tokens only) refuses it rather than honour it.
        let management = f.app.management_audience();
        let (status, body) = token(
            &f.app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", crate::support::MGMT_CLIENT_ID),
                ("client_secret", crate::support::MGMT_CLIENT_SECRET),
                ("audience", &management),
            ],
            &[&key.proof("POST", &f.token_url)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        let bound = body["access_token"].as_str().unwrap();
        assert_eq!(claims(bound)["cnf"]["jkt"], key.thumbprint());
        let response = f.app.http.get(f.app.url("/api/v2/clients")).bearer_auth(bound).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

        // A refused proof is audited like any failed exchange.
        let replayed = key.proof("POST", &f.token_url);
        let _ = f.login(&[&replayed]).await;
        let (status, body) = f.login(&[&replayed]).await;
        dpop_error(status, &body);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let refused = f
                .app
                .query_strings("SELECT description FROM logs WHERE details LIKE '%invalid_dpop_proof%'")
                .await;
            if refused == ["The DPoP proof was used before"] {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not audited: {refused:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

both_databases! {
    async fn with_nonces_required_a_proof_carries_a_current_server_nonce(db: Backend) {
        // The server's clock is manual (starting now, as the proofs' iat
        // does) so that nonces can be made to age.
        let database = std::sync::Arc::new(crate::support::TestDatabase::new(db).await);
        let clock = grantor::Clock::manual(grantor_domain::Timestamp(now() * 1000));
        let app = crate::support::spawn_app_on(
            database,
            crate::support::AppOptions {
                require_dpop_nonce: true,
                clock: clock.clone(),
                ..Default::default()
            },
        )
        .await;
        let f = fixture_on(app).await;
        let key = DpopKey::es256();
        let login = |proof: String| {
            let f = &f;
            async move {
                f.password("openid offline_access read:orders", &[&proof]).await
            }
        };

        // No nonce: use_dpop_nonce, with the nonce to use.
        let (status, body, nonce) = login(key.proof("POST", &f.token_url)).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "use_dpop_nonce");
        let nonce = nonce.expect("a use_dpop_nonce answer carries DPoP-Nonce");
        // A nonce grantor did not issue: the same.
        let (status, body, _) = login(key.proof_with_nonce("POST", &f.token_url, "made-up")).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "use_dpop_nonce");
        // The nonce it sent: tokens, and a nonce for next time.
        let (status, body, next) = login(key.proof_with_nonce("POST", &f.token_url, &nonce)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(next.as_deref(), Some(nonce.as_str()), "the same slot, the same nonce");
        let rt = body["refresh_token"].as_str().unwrap().to_owned();
        let access = body["access_token"].as_str().unwrap().to_owned();

        // /userinfo asks for it too (RFC 9449 §9): 401 with the challenge.
        let url = f.app.url("/userinfo");
        let (status, body, challenge) =
            userinfo(&f.app, &format!("DPoP {access}"), &[&userinfo_proof(&key, &url, &access, None)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "use_dpop_nonce");
        assert!(challenge.starts_with("DPoP error=\"use_dpop_nonce\""), "{challenge}");
        let (status, body, _) = userinfo(
            &f.app,
            &format!("DPoP {access}"),
            &[&userinfo_proof(&key, &url, &access, Some(&nonce))],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // A slot later it is still good (the previous slot's).
        let slot = grantor::flows::dpop::NONCE_SLOT_SECONDS;
        let at_userinfo = |nonce: String| {
            let f = &f;
            let (url, access, key) = (url.clone(), access.clone(), &key);
            async move {
                userinfo(&f.app, &format!("DPoP {access}"), &[&userinfo_proof(key, &url, &access, Some(&nonce))]).await.0
            }
        };
        clock.advance_seconds(slot);
        assert_eq!(at_userinfo(nonce.clone()).await, StatusCode::OK, "the previous slot's nonce");
        // So is the next slot's: a process whose clock runs a little ahead
        // may hand it out first.
        clock.advance_seconds(slot);
        let (_, _, ahead) = token_and_nonce(&f.app, &[("grant_type", "password")], &[]).await;
        let ahead = ahead.unwrap();
        assert_ne!(ahead, nonce);
        clock.advance_seconds(-slot);
        assert_eq!(at_userinfo(ahead).await, StatusCode::OK, "the next slot's nonce");

        // Two slots later the nonce is stale (well inside the iat window):
        // refused, and the answer carries the new one, which works.
        clock.advance_seconds(slot);
        let refresh = |proof: String| {
            let f = &f;
            let rt = rt.clone();
            async move {
                token_and_nonce(
                    &f.app,
                    &[("grant_type", "refresh_token"), ("client_id", &f.public_id), ("refresh_token", &rt)],
                    &[&proof],
                )
                .await
            }
        };
        let (status, body, fresh) = refresh(key.proof_with_nonce("POST", &f.token_url, &nonce)).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "use_dpop_nonce");
        let fresh = fresh.unwrap();
        assert_ne!(fresh, nonce);
        // The refused attempts changed nothing: the token still rotates.
        let (status, body, _) = refresh(key.proof_with_nonce("POST", &f.token_url, &fresh)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_ne!(body["refresh_token"], rt.as_str());

        // The dance is not a failure: no refusal above is audited. A thief's
        // refused exchange is, so once it is written, it is the only one.
        let (status, _, _) = refresh(DpopKey::es256().proof_with_nonce("POST", &f.token_url, &fresh)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let failures = loop {
            let failures = f
                .app
                .query_strings("SELECT type FROM logs WHERE type LIKE 'f%' ORDER BY log_id")
                .await;
            if !failures.is_empty() || std::time::Instant::now() > deadline {
                break failures;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(failures, ["fertft"]);
    }
}
