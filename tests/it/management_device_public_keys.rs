//! `POST /api/v2/device-credentials` (`type: public_key`): a device's public
//! key registered for a user and a client, listed with `type=public_key`,
//! deleted by id; private keys and junk refused and never stored, Auth0's
//! limits and scopes.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{
    assert_insufficient_scope, call_with, fixture, token_with, Fixture,
};
use crate::support::{assert_mgmt_error, read, urlencode};

/// A fresh P-256 key pair: (PKCS #8 private key DER, SPKI public key DER).
fn ec_key() -> (Vec<u8>, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .unwrap();
    let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().unwrap();
    (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(der)
    )
}

fn body(f: &Fixture, value: &str, device_id: &str) -> Value {
    json!({
        "device_name": "Kitchen tablet",
        "type": "public_key",
        "value": value,
        "device_id": device_id,
        "client_id": f.web_id,
        "user_id": f.user_id,
    })
}

async fn public_keys(f: &Fixture, query: &str) -> Vec<Value> {
    let (status, page) = f
        .app
        .mgmt_call(
            Method::GET,
            &format!("/device-credentials?type=public_key&include_totals=true&{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        page["total"],
        page["device_credentials"].as_array().unwrap().len(),
        "{page}"
    );
    page["device_credentials"].as_array().unwrap().clone()
}

both_databases! {
    async fn public_keys_are_created_listed_and_deleted(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        let (_, spki) = ec_key();
        let (status, created) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(body(&f, &STANDARD.encode(&spki), "0a1b-2c3d"))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("dcr_") && id.len() == 20, "{created}");
        assert_eq!(created.as_object().unwrap().len(), 1, "only the id: {created}");

        // Listed in Auth0's shape, without the key.
        let user = urlencode(&f.user_id);
        let listed = public_keys(&f, &format!("user_id={user}")).await;
        assert_eq!(listed, vec![json!({
            "id": id, "device_name": "Kitchen tablet", "device_id": "0a1b-2c3d",
            "type": "public_key", "user_id": f.user_id, "client_id": f.web_id,
        })]);
        assert_eq!(public_keys(&f, &format!("client_id={}", f.web_id)).await.len(), 1);
        assert!(public_keys(&f, &format!("client_id={}", f.id)).await.is_empty());
        // Without `type`, Auth0's default: refresh tokens only.
        let (_, devices) = f.app.mgmt_call(Method::GET, &format!("/device-credentials?user_id={user}"), None).await;
        let devices = devices.as_array().unwrap();
        assert_eq!(devices.len(), 1, "{devices:?}");
        assert_eq!(devices[0]["type"], "refresh_token");
        // Stored: the canonical SubjectPublicKeyInfo, nothing else.
        let stored = f.app.query_strings("SELECT public_key FROM device_public_keys").await;
        assert_eq!(stored, vec![STANDARD.encode(&spki)]);

        // One key per user, client and device; the PEM form is accepted too.
        let (_, other) = ec_key();
        let (status, answer) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(body(&f, &pem("PUBLIC KEY", &other), "0a1b-2c3d"))).await;
        assert_mgmt_error(status, &answer, StatusCode::CONFLICT);
        assert_eq!(answer["message"], "A public key already exists for the device.");
        let (status, second) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(body(&f, &pem("PUBLIC KEY", &other), "FFFF"))).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(public_keys(&f, &format!("user_id={user}")).await.len(), 2);

        // Audited.
        let (_, logs) = f.app.mgmt_call(Method::GET, "/logs?q=type:sapi&per_page=100", None).await;
        let created_events: Vec<&Value> = logs.as_array().unwrap().iter().filter(|e| e["description"].as_str().unwrap().contains(&id)).collect();
        assert_eq!(created_events.len(), 1, "{logs}");
        assert_eq!(created_events[0]["user_id"], f.user_id.as_str());

        // Deleted by id, like the other device credentials.
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(public_keys(&f, &format!("user_id={user}")).await.len(), 1);
        let (status, answer) = f.app.mgmt_call(Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_mgmt_error(status, &answer, StatusCode::NOT_FOUND);
        // The deletion is audited with the key's user.
        let (_, logs) = f.app.mgmt_call(Method::GET, "/logs?q=type:sapi&per_page=100", None).await;
        let deleted: Vec<&Value> = logs.as_array().unwrap().iter().filter(|e| e["description"].as_str().unwrap().starts_with("Delete device credential")).collect();
        assert_eq!(deleted.len(), 1, "{logs}");
        assert_eq!(deleted[0]["user_id"], f.user_id.as_str());
        // The refresh token is untouched.
        let (_, devices) = f.app.mgmt_call(Method::GET, &format!("/device-credentials?user_id={user}"), None).await;
        assert_eq!(devices.as_array().unwrap().len(), 1);

        // A key goes with its user.
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(f.app.count_rows("device_public_keys").await, 0);
    }
}

both_databases! {
    async fn public_key_creation_refuses_private_keys_bad_input_and_missing_scopes(db: Backend) {
        let f = fixture(db).await;
        let (pkcs8, spki) = ec_key();
        let ed = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let ed_raw = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap().public_key().as_ref().to_vec();
        let private_forms = [
            STANDARD.encode(&pkcs8),
            pem("PRIVATE KEY", &pkcs8),
            STANDARD.encode(pem("PRIVATE KEY", &pkcs8)),
            STANDARD.encode(ed.as_ref()),
        ];
        for private in &private_forms {
            let (status, answer) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(body(&f, private, "01"))).await;
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            assert!(answer["message"].as_str().unwrap().contains("private key"), "{answer}");
            assert!(!answer.to_string().contains(&STANDARD.encode(&pkcs8)[10..40]), "never echoed: {answer}");
        }
        let good = STANDARD.encode(&spki);
        let mut bad_bodies = vec![
            body(&f, "not a key", "01"),
            body(&f, "", "01"),
            body(&f, &STANDARD.encode(&ed_raw), "01"),
            body(&f, &"A".repeat(20_000), "01"),
            body(&f, &pem("CERTIFICATE", &spki), "01"),
            body(&f, &good, "xyz"),
            body(&f, &good, ""),
            body(&f, &good, &"a".repeat(37)),
            body(&f, &good, "01\u{0}"),
        ];
        let mut edit = |key: &str, value: Value| {
            let mut b = body(&f, &good, "01");
            if value.is_null() {
                b.as_object_mut().unwrap().remove(key);
            } else {
                b[key] = value;
            }
            bad_bodies.push(b);
        };
        edit("type", json!("refresh_token"));
        edit("device_name", json!(""));
        edit("device_name", json!("n".repeat(256)));
        edit("user_id", Value::Null);
        edit("client_id", Value::Null);
        edit("value", json!(42));
        edit("extra", json!("x"));
        for bad in bad_bodies {
            let (status, answer) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(bad.clone())).await;
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
        }
        // Unknown user or client: 404.
        for (key, value) in [("user_id", "auth0|nobody"), ("client_id", "nobody")] {
            let mut b = body(&f, &good, "01");
            b[key] = json!(value);
            let (status, answer) = f.app.mgmt_call(Method::POST, "/device-credentials", Some(b)).await;
            assert_mgmt_error(status, &answer, StatusCode::NOT_FOUND);
        }
        assert_eq!(f.app.count_rows("device_public_keys").await, 0, "nothing stored");

        // Scopes: Auth0's create:current_user_device_credentials; no token is 401.
        let reader = token_with(&f.app, &["read:device_credentials", "delete:device_credentials"]).await;
        let (status, answer) = call_with(&f.app, &reader, Method::POST, "/device-credentials", Some(body(&f, &good, "01"))).await;
        assert_insufficient_scope(status, &answer);
        let (status, answer) = read(f.app.http.post(f.app.url("/api/v2/device-credentials")).json(&body(&f, &good, "01")).send().await.unwrap()).await;
        assert_mgmt_error(status, &answer, StatusCode::UNAUTHORIZED);
        let creator = token_with(&f.app, &["create:current_user_device_credentials"]).await;
        let (status, created) = call_with(&f.app, &creator, Method::POST, "/device-credentials", Some(body(&f, &good, "01"))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap();
        let (status, answer) = call_with(&f.app, &creator, Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_insufficient_scope(status, &answer);
        let deleter = token_with(&f.app, &["delete:current_user_device_credentials"]).await;
        let (status, _) = call_with(&f.app, &deleter, Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}
