use jsonwebtoken::jwk::JwkSet;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{claims, spawn_app};

both_databases! {
    async fn discovery_document_derives_every_url_from_the_issuer(db: Backend) {
        let app = spawn_app(db).await;
        let doc: Value = app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], app.issuer);
        assert!(app.issuer.ends_with('/'));
        assert_eq!(doc["token_endpoint"], format!("{}oauth/token", app.issuer));
        assert_eq!(doc["jwks_uri"], format!("{}.well-known/jwks.json", app.issuer));
        let grants: Vec<&str> = doc["grant_types_supported"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(grants.contains(&"client_credentials"));
        let methods = doc["token_endpoint_auth_methods_supported"].as_array().unwrap();
        for m in ["client_secret_basic", "client_secret_post"] {
            assert!(methods.iter().any(|v| v == m), "{m} missing");
        }
        assert!(doc["id_token_signing_alg_values_supported"].as_array().unwrap().iter().any(|v| v == "RS256"));
        let health = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}

both_databases! {
    async fn jwks_verifies_issued_tokens_with_a_third_party_library(db: Backend) {
        let app = spawn_app(db).await;
        let jwks: JwkSet = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert!(jwks.keys.iter().all(|k| k.common.key_id.is_some()), "every key has a kid");
        let token = app.mgmt_token().await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("signing key is published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[app.management_audience()]);
        validation.set_issuer(std::slice::from_ref(&app.issuer));
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("token verifies against JWKS");
        assert_eq!(data.claims, claims(&token));
    }
}

both_databases! {
    /// Auth0 publishes RSA keys only, and auth0-python's verifier fails on a
    /// set holding other key types; so EC and OKP keys are published only
    /// while some API signs with them, and tokens they sign still verify.
    async fn jwks_lists_non_rsa_keys_only_while_an_api_uses_them(db: Backend) {
        let app = spawn_app(db).await;
        let key_types = |set: &JwkSet| {
            let mut algs: Vec<String> = set.keys.iter().map(|k| format!("{:?}", k.common.key_algorithm.unwrap())).collect();
            algs.sort();
            // Each algorithm's current and next key (signing-key rotation).
            let published = algs.len();
            algs.dedup();
            assert_eq!(published, 2 * algs.len(), "a current and a next key per algorithm");
            algs
        };
        let fetch = || async { app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json::<JwkSet>().await.unwrap() };
        assert_eq!(key_types(&fetch().await), vec!["PS256", "RS256"]);

        let api = "https://ec.example.test/";
        app.create_api(api, &[]).await;
        let (status, body) = app.mgmt_call(Method::PATCH, &format!("/resource-servers/{}", crate::support::urlencode(api)), Some(json!({"signing_alg": "ES256"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let jwks = fetch().await;
        assert_eq!(key_types(&jwks), vec!["ES256", "PS256", "RS256"]);

        let (id, secret, _) = app.create_client(json!({"name": "machine", "app_type": "non_interactive", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, api, &[]).await;
        let token = app.client_credentials(&id, &secret, api).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[api]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("the ES256 token verifies against the published key");
    }
}
