//! Signing-key rotation (`/api/v2/keys/signing`, the dashboard's Signing
//! Keys page): the API's shapes and scopes, tokens signed before a rotation
//! still verifying, a revoked key's tokens rejected everywhere, a second
//! process picking a rotation up within its poll, and the dashboard's
//! confirmations.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::dashboard::Admin;
use crate::refresh_tokens::{password_grant, refresh, rt, setup};
use crate::support::{
    assert_mgmt_error, read, spawn_app, spawn_app_on, AppOptions, TestApp, MGMT_CLIENT_ID,
    MGMT_CLIENT_SECRET,
};

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt)
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

async fn jwks(app: &TestApp) -> JwkSet {
    app.http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    jwks(app)
        .await
        .keys
        .into_iter()
        .filter_map(|k| k.common.key_id)
        .collect()
}

/// A Management API call with `token`.
async fn call(app: &TestApp, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
    read(
        app.http
            .request(method, app.url(&format!("/api/v2{path}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("management request"),
    )
    .await
}

/// A Management API token minted now (the cached one of `TestApp` may be
/// signed by a key a test revoked).
async fn fresh_mgmt_token(app: &TestApp) -> String {
    app.client_credentials(
        MGMT_CLIENT_ID,
        MGMT_CLIENT_SECRET,
        &app.management_audience(),
    )
    .await
}

/// Every key, through the API, with a fresh token.
async fn list(app: &TestApp) -> Vec<Value> {
    let token = fresh_mgmt_token(app).await;
    let (status, body) = call(app, &token, Method::GET, "/keys/signing").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

/// The kid of the key of `alg` that is `state` (`current`, `next`, …).
fn kid_in(keys: &[Value], alg: &str, state: &str) -> String {
    let found: Vec<&Value> = keys
        .iter()
        .filter(|k| k["alg"] == alg && k[state] == true)
        .collect();
    assert_eq!(found.len(), 1, "one {state} {alg} key in {keys:?}");
    found[0]["kid"].as_str().unwrap().to_owned()
}

fn key<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("{kid} in {keys:?}"))
}

/// Polls `check` until it holds or `within` has passed; returns how long it took.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events(app: &TestApp, description: &str) -> Vec<Value> {
    let token = fresh_mgmt_token(app).await;
    let query = serde_urlencoded::to_string([("q", "type:\"sapi\"")]).unwrap();
    let (status, body) = call(app, &token, Method::GET, &format!("/logs?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["description"] == description)
        .cloned()
        .collect()
}

both_databases! {
    async fn keys_have_auth0_shapes_and_need_their_scopes(db: Backend) {
        let app = spawn_app(db).await;
        let keys = list(&app).await;
        assert_eq!(keys.len(), 8, "a current and a next key per algorithm: {keys:?}");
        for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
            let current = key(&keys, &kid_in(&keys, alg, "current"));
            let next = key(&keys, &kid_in(&keys, alg, "next"));
            assert!(current["current_since"].is_string(), "{current}");
            assert!(next.get("current_since").is_none(), "{next}");
            for k in [current, next] {
                assert_eq!(k["revoked"], false);
                assert_eq!(k["previous"], false);
                assert!(k.get("revoked_at").is_none() && k.get("current_until").is_none(), "{k}");
                let cert = k["cert"].as_str().unwrap();
                assert!(cert.starts_with("-----BEGIN PUBLIC KEY-----\r\n") && cert.ends_with("-----END PUBLIC KEY-----"), "{cert}");
                let fingerprint = k["fingerprint"].as_str().unwrap();
                assert_eq!(fingerprint.len(), 59, "{fingerprint}");
                assert!(fingerprint.split(':').all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())), "{fingerprint}");
                assert_eq!(k["thumbprint"], fingerprint.replace(':', ""));
            }
        }
        // `cert` is the public key that signs: its DER holds the modulus the
        // JWKS publishes for that kid, and the JWK verifies the token.
        let token = fresh_mgmt_token(&app).await;
        let current_rs256 = key(&keys, &kid_of(&token));
        assert_eq!(current_rs256["current"], true);
        let pem = current_rs256["cert"].as_str().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("base64 PEM body");
        let set = jwks(&app).await;
        let jwk = set.find(&kid_of(&token)).expect("published");
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else { panic!("an RSA JWK") };
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&rsa.n).unwrap();
        assert!(der.windows(n.len()).any(|w| w == n.as_slice()), "the cert holds the JWK's modulus");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[app.management_audience()]);
        jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &validation).expect("verifies");
        // The next RS256 key is published before it signs anything.
        assert!(jwks_kids(&app).await.contains(&kid_in(&keys, "RS256", "next")));

        // One key by kid.
        let (status, one) = call(&app, &token, Method::GET, &format!("/keys/signing/{}", current_rs256["kid"].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(&one, current_rs256);

        // No token, a token without the scope, a reader.
        let (status, body) = read(app.http.get(app.url("/api/v2/keys/signing")).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        let audience = app.management_audience();
        let (id, secret, _) = app.create_client(json!({"name": "no keys", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        let other = app.client_credentials(&id, &secret, &audience).await;
        let previous_kid = kid_in(&keys, "RS256", "current");
        for (method, path) in [
            (Method::GET, "/keys/signing".to_owned()),
            (Method::GET, format!("/keys/signing/{previous_kid}")),
            (Method::POST, "/keys/signing/rotate".to_owned()),
            (Method::PUT, format!("/keys/signing/{previous_kid}/revoke")),
        ] {
            let (status, body) = call(&app, &other, method.clone(), &path).await;
            assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
            assert_eq!(body["errorCode"], "insufficient_scope", "{method} {path}");
        }
        let (id, secret, _) = app.create_client(json!({"name": "key reader", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:signing_keys"]).await;
        let reader = app.client_credentials(&id, &secret, &audience).await;
        assert_eq!(call(&app, &reader, Method::GET, "/keys/signing").await.0, StatusCode::OK);
        let (status, body) = call(&app, &reader, Method::POST, "/keys/signing/rotate").await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        assert_eq!(list(&app).await, keys, "nothing rotated");

        // Unknown and hostile kids are 404s.
        let long = "k".repeat(300);
        for kid in ["nope", long.as_str(), "a%20b", "%C3%A9", "x'%22"] {
            let (status, body) = call(&app, &token, Method::GET, &format!("/keys/signing/{kid}")).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
            let (status, body) = call(&app, &token, Method::PUT, &format!("/keys/signing/{kid}/revoke")).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        }
        // The current and the next key cannot be revoked.
        for state in ["current", "next"] {
            let kid = kid_in(&keys, "RS256", state);
            let (status, body) = call(&app, &token, Method::PUT, &format!("/keys/signing/{kid}/revoke")).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(body["errorCode"], "invalid_signing_key_state");
        }
        assert_eq!(list(&app).await, keys, "refusals change nothing");
        assert!(events(&app, "Revoke signing key").await.is_empty());

        // `create:signing_keys` alone may rotate, not revoke.
        let (id, secret, _) = app.create_client(json!({"name": "key rotator", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["create:signing_keys"]).await;
        let rotator = app.client_credentials(&id, &secret, &audience).await;
        let (status, body) = call(&app, &rotator, Method::POST, "/keys/signing/rotate").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = call(&app, &rotator, Method::PUT, &format!("/keys/signing/{previous_kid}/revoke")).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        assert_eq!(key(&list(&app).await, &previous_kid)["previous"], true, "rotated, not revoked");
    }
}

both_databases! {
    async fn rotation_keeps_old_tokens_valid_and_revocation_ends_them(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        // Tokens signed by the first keys.
        let old_mgmt = app.mgmt_token().await;
        let tokens = password_grant(&app, &id, &secret, "openid offline_access read:orders").await;
        let old_access = tokens["access_token"].as_str().unwrap().to_owned();
        let old_rs256 = kid_of(&old_access);
        assert_eq!(kid_of(&old_mgmt), old_rs256);
        let before = list(&app).await;
        let next_rs256 = kid_in(&before, "RS256", "next");

        // Rotate, with the old Management token.
        let (status, rotated) = call(&app, &old_mgmt, Method::POST, "/keys/signing/rotate").await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        assert_eq!(rotated["kid"], next_rs256, "the RS256 key that was next signs now");
        assert!(rotated["cert"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(rotated.as_object().unwrap().len(), 2, "{{cert, kid}}: {rotated}");
        let after = list(&app).await;
        assert_eq!(after.len(), 12);
        assert_eq!(kid_in(&after, "RS256", "current"), next_rs256);
        let previous = key(&after, &old_rs256);
        assert_eq!(previous["previous"], true);
        assert!(previous["current_until"].is_string(), "{previous}");
        let new_next = kid_in(&after, "RS256", "next");
        let published = jwks_kids(&app).await;
        for kid in [&old_rs256, &next_rs256, &new_next] {
            assert!(published.contains(kid), "{kid} published in {published:?}");
        }
        let rotation = events(&app, "Rotate signing keys").await;
        assert_eq!(rotation.len(), 1, "{rotation:?}");
        let demoted = rotation[0]["details"]["signing_keys"]["previous"].as_array().cloned().unwrap_or_default();
        assert_eq!(demoted.len(), 4, "one key per algorithm demoted: {demoted:?}");
        assert!(demoted.contains(&json!(old_rs256)), "{demoted:?}");
        assert!(!demoted.contains(&json!(next_rs256)), "{demoted:?}");
        assert_eq!(rotation[0]["details"]["actor"]["client_id"], MGMT_CLIENT_ID);

        // New tokens carry the new kid and verify against the JWKS.
        let new_mgmt = fresh_mgmt_token(&app).await;
        assert_eq!(kid_of(&new_mgmt), next_rs256);
        let set = jwks(&app).await;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(set.find(&next_rs256).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[app.management_audience()]);
        jsonwebtoken::decode::<Value>(&new_mgmt, &decoding, &validation).expect("the new token verifies");
        let (status, exchanged) = refresh(&app, &id, &secret, &rt(&tokens)).await;
        assert_eq!(status, StatusCode::OK, "{exchanged}");
        assert_eq!(kid_of(exchanged["access_token"].as_str().unwrap()), next_rs256);
        assert_eq!(kid_of(exchanged["id_token"].as_str().unwrap()), next_rs256);

        // Tokens signed before still verify: introspection, /userinfo, the
        // Management API.
        assert_eq!(app.introspect(&id, &secret, &old_access).await["active"], true);
        let userinfo = app.http.get(app.url("/userinfo")).bearer_auth(&old_access).send().await.unwrap();
        assert_eq!(userinfo.status(), StatusCode::OK);
        assert_eq!(call(&app, &old_mgmt, Method::GET, "/keys/signing").await.0, StatusCode::OK);

        // Revoke the previous RS256 key (with the token it signed).
        let (status, revoked) = call(&app, &old_mgmt, Method::PUT, &format!("/keys/signing/{old_rs256}/revoke")).await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        assert_eq!(revoked["kid"], old_rs256);
        assert_eq!(revoked["cert"], previous["cert"]);
        // Everything it signed is rejected now.
        let (status, body) = call(&app, &old_mgmt, Method::GET, "/keys/signing").await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        assert_eq!(app.introspect(&id, &secret, &old_access).await["active"], false);
        let userinfo = app.http.get(app.url("/userinfo")).bearer_auth(&old_access).send().await.unwrap();
        assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
        assert!(!jwks_kids(&app).await.contains(&old_rs256), "unpublished");
        // What the new key signed is not affected; the refresh token is opaque
        // and still exchanges.
        assert_eq!(call(&app, &new_mgmt, Method::GET, "/keys/signing").await.0, StatusCode::OK);
        let new_access = exchanged["access_token"].as_str().unwrap();
        assert_eq!(app.introspect(&id, &secret, new_access).await["active"], true);
        let (status, again) = refresh(&app, &id, &secret, &rt(&tokens)).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        let listed = list(&app).await;
        let gone = key(&listed, &old_rs256);
        assert_eq!(gone["revoked"], true);
        assert_eq!(gone["previous"], false);
        assert!(gone["revoked_at"].is_string(), "{gone}");
        // A revoked key cannot be revoked again.
        let (status, body) = call(&app, &new_mgmt, Method::PUT, &format!("/keys/signing/{old_rs256}/revoke")).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let revocation = events(&app, "Revoke signing key").await;
        assert_eq!(revocation.len(), 1, "{revocation:?}");
        assert_eq!(revocation[0]["details"]["signing_keys"]["revoked"], json!(old_rs256));
    }
}

both_databases! {
    async fn a_second_process_picks_a_rotation_up_within_its_poll(db: Backend) {
        let refresh_every = Duration::from_secs(1);
        let options = || AppOptions { signing_key_refresh: refresh_every, ..AppOptions::default() };
        let a = spawn_app_on(std::sync::Arc::new(crate::support::TestDatabase::new(db).await), options()).await;
        // Processes behind one load balancer share one issuer.
        let b = spawn_app_on(a.db.clone(), AppOptions { issuer: Some(a.issuer.clone()), ..options() }).await;
        let b_token = b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await;
        let old_rs256 = kid_of(&b_token);
        let before = list(&a).await;
        let next_rs256 = kid_in(&before, "RS256", "next");

        let a_token = fresh_mgmt_token(&a).await;
        let (status, body) = call(&a, &a_token, Method::POST, "/keys/signing/rotate").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // A signs with the new key at once.
        assert_eq!(kid_of(&fresh_mgmt_token(&a).await), next_rs256);
        // B within its poll (plus slack for a loaded machine).
        let bound = refresh_every + Duration::from_secs(5);
        eventually("B signs with the new key", bound, || async {
            kid_of(&b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await) == next_rs256
        })
        .await;
        let new_next = kid_in(&list(&a).await, "RS256", "next");
        assert!(jwks_kids(&b).await.contains(&new_next), "B publishes the new next key");
        // B still trusts what it signed before the rotation.
        assert_eq!(call(&b, &b_token, Method::GET, "/keys/signing").await.0, StatusCode::OK);

        // A revokes the old key: B stops trusting it within its poll.
        let a_token = fresh_mgmt_token(&a).await;
        let (status, body) = call(&a, &a_token, Method::PUT, &format!("/keys/signing/{old_rs256}/revoke")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        eventually("B rejects the revoked key's token", bound, || async {
            call(&b, &b_token, Method::GET, "/keys/signing").await.0 == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(!jwks_kids(&b).await.contains(&old_rs256));
    }
}

both_databases! {
    async fn the_dashboard_rotates_and_revokes_behind_a_confirmation(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        let before = list(&app).await;
        let html = admin.page("/dashboard/signing-keys").await;
        assert!(html.contains(r#"href="/dashboard/signing-keys" aria-current="page""#), "linked in the navigation");
        for k in &before {
            assert!(html.contains(k["kid"].as_str().unwrap()), "{k} listed");
        }
        assert!(!html.contains("/revoke\""), "no previous key to revoke yet");

        // The confirmation names the next keys; its form posts with the token.
        let confirm = admin.page("/dashboard/signing-keys/rotate").await;
        assert!(confirm.contains(r#"action="/dashboard/signing-keys/rotate""#), "{confirm}");
        assert!(confirm.contains(&kid_in(&before, "RS256", "next")));
        assert_eq!(list(&app).await, before, "showing the confirmation changes nothing");
        // Without the CSRF token: refused, nothing rotated.
        let response = admin.post("/dashboard/signing-keys/rotate", &[]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(list(&app).await, before);
        let response = admin.submit("/dashboard/signing-keys/rotate", "/dashboard/signing-keys/rotate", &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/dashboard/signing-keys?done=rotated");
        let after = list(&app).await;
        assert_eq!(kid_in(&after, "RS256", "current"), kid_in(&before, "RS256", "next"));
        let rotation = events(&app, "Rotate signing keys").await;
        assert_eq!(rotation.len(), 1);
        assert_eq!(rotation[0]["details"]["actor"]["type"], "admin");

        // Previous keys get a Revoke link; its confirmation, then the POST.
        let html = admin.page("/dashboard/signing-keys?done=rotated").await;
        assert!(html.contains("Signing keys rotated"));
        let old_ps256 = kid_in(&before, "PS256", "current");
        let revoke_path = format!("/dashboard/signing-keys/{old_ps256}/revoke");
        assert!(html.contains(&format!("href=\"{revoke_path}\"")), "{html}");
        let confirm = admin.page(&revoke_path).await;
        assert!(confirm.contains(&format!("action=\"{revoke_path}\"")) && confirm.contains("cannot be undone"));
        // A current key has no confirmation (and no revocation).
        let current = kid_in(&after, "PS256", "current");
        assert_eq!(admin.get(&format!("/dashboard/signing-keys/{current}/revoke")).await.status(), StatusCode::BAD_REQUEST);
        let response = admin.submit(&revoke_path, &format!("/dashboard/signing-keys/{current}/revoke"), &[]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(admin.get("/dashboard/signing-keys/nope/revoke").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(list(&app).await, after, "refusals change nothing");
        let response = admin.post(&revoke_path, &[]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF token");
        let response = admin.submit(&revoke_path, &revoke_path, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/dashboard/signing-keys?done=revoked");
        assert_eq!(key(&list(&app).await, &old_ps256)["revoked"], true);
        assert!(!jwks_kids(&app).await.contains(&old_ps256));
        let revocation = events(&app, "Revoke signing key").await;
        assert_eq!(revocation.len(), 1);
        assert_eq!(revocation[0]["details"]["actor"]["type"], "admin");
    }
}

both_databases! {
    /// A stored set that no longer parses (here: a damaged next key) still
    /// takes a revocation away: the other process drops the revoked key at
    /// its next poll and keeps verifying with the keys that are still live.
    async fn a_revocation_applies_even_when_the_new_set_does_not_parse(db: Backend) {
        let refresh_every = Duration::from_secs(1);
        let options = || AppOptions { signing_key_refresh: refresh_every, ..AppOptions::default() };
        let a = spawn_app_on(std::sync::Arc::new(crate::support::TestDatabase::new(db).await), options()).await;
        let b = spawn_app_on(a.db.clone(), AppOptions { issuer: Some(a.issuer.clone()), ..options() }).await;
        let old_token = b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await;
        let old_rs256 = kid_of(&old_token);
        let a_token = fresh_mgmt_token(&a).await;
        let (status, body) = call(&a, &a_token, Method::POST, "/keys/signing/rotate").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let new_rs256 = kid_in(&list(&a).await, "RS256", "current");
        let bound = refresh_every + Duration::from_secs(5);
        eventually("B signs with the new key", bound, || async {
            kid_of(&b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await) == new_rs256
        })
        .await;
        let new_token = b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await;

        let damaged = kid_in(&list(&a).await, "ES256", "next");
        execute(&a.db, &format!("UPDATE signing_keys SET private_pkcs8 = 'AAAA' WHERE kid = '{damaged}'")).await;
        let a_token = fresh_mgmt_token(&a).await;
        let (status, body) = call(&a, &a_token, Method::PUT, &format!("/keys/signing/{old_rs256}/revoke")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        eventually("B rejects the revoked key's token", bound, || async {
            call(&b, &old_token, Method::GET, "/keys/signing").await.0 == StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(!jwks_kids(&b).await.contains(&old_rs256));
        // A, whose own reload failed the same way, dropped it at once.
        assert_eq!(call(&a, &old_token, Method::GET, "/keys/signing").await.0, StatusCode::UNAUTHORIZED);
        // The live keys still verify, on both.
        assert_eq!(call(&b, &new_token, Method::GET, "/keys/signing").await.0, StatusCode::OK);
        assert_eq!(call(&a, &new_token, Method::GET, "/keys/signing").await.0, StatusCode::OK);

        // Another rotation makes the damaged key ES256's current one. The
        // other algorithms take their new current keys; ES256 keeps signing
        // with the key it signed with (now previous, still live). Nothing
        // stops issuing tokens, on either process.
        let a_token = fresh_mgmt_token(&a).await;
        let (status, body) = call(&a, &a_token, Method::POST, "/keys/signing/rotate").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let newest_rs256 = kid_in(&list(&a).await, "RS256", "current");
        assert_eq!(kid_of(&fresh_mgmt_token(&a).await), newest_rs256);
        eventually("B signs with the newest key", bound, || async {
            kid_of(&b.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &b.management_audience()).await) == newest_rs256
        })
        .await;
        assert!(jwks_kids(&b).await.contains(&kid_in(&list(&a).await, "RS256", "next")), "B publishes the new next key");
        assert!(!jwks_kids(&b).await.contains(&damaged), "a key that does not parse is not published");
    }
}

/// Runs one statement straight on the database.
async fn execute(db: &crate::support::TestDatabase, sql: &str) {
    match db.backend() {
        crate::support::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        crate::support::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

both_databases! {
    /// A database from before rotation holds current keys only (migration
    /// 0016 marks them current): the first start of this version publishes
    /// a next key per algorithm and keeps signing with the current ones.
    async fn a_start_on_an_older_database_publishes_next_keys(db: Backend) {
        let app = spawn_app(db).await;
        let before = list(&app).await;
        let database = app.db.clone();
        app.stop().await;
        execute(&database, "DELETE FROM signing_keys WHERE state = 'next'").await;
        let app = spawn_app_on(database, AppOptions::default()).await;
        let after = list(&app).await;
        assert_eq!(after.len(), 8, "{after:?}");
        for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
            assert_eq!(kid_in(&after, alg, "current"), kid_in(&before, alg, "current"), "{alg} still signs");
            assert_ne!(kid_in(&after, alg, "next"), kid_in(&before, alg, "next"), "{alg} has a new next key");
        }
        assert!(jwks_kids(&app).await.contains(&kid_in(&after, "RS256", "next")));
    }
}
