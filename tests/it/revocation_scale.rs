//! Revocation at scale (CONTRACT §4 rule 10): a user holding 100,000 refresh
//! tokens is revoked by one call, and none of them can be exchanged or
//! introspected as active once it returns.
//!
//! The tokens are spread as a real tenant would hold them: 500 applications,
//! 200 tokens each (Auth0's cap per user and application). The fixture is
//! written with the store's bulk import; every check goes over HTTP.

use std::time::Instant;

use grantor_domain::{ClientId, FamilyId, GrantId, ScopeSet, TokenHash, UserId};
use grantor_store::NewFamily;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, rt, setup, API};
use crate::support::{claims, read, spawn_app, urlencode};

const APPLICATIONS: usize = 500;
const TOKENS_PER_APPLICATION: usize = 200;

fn seeded_token(app: usize, n: usize) -> String {
    format!("seeded-refresh-token-{app}-{n}")
}

both_databases! {
    async fn revoking_a_user_with_100000_refresh_tokens_takes_effect_at_once(db: Backend) {
        let app = spawn_app(db).await;
        let backend = app.db.url().split(':').next().unwrap().to_owned();
        let (mobile_id, mobile_secret) = setup(&app, rotating(0)).await;
        let signed_in = password_grant(&app, &mobile_id, &mobile_secret, "read:orders offline_access").await;
        let access = signed_in["access_token"].as_str().unwrap().to_owned();
        let user_id = claims(&access)["sub"].as_str().unwrap().to_owned();
        let user = UserId::from(&user_id);

        // 500 applications with a grant each, and 200 tokens per application.
        let store = app.store().await;
        let now = app.clock.now();
        let mut clients = Vec::new();
        let mut families = Vec::with_capacity(APPLICATIONS * TOKENS_PER_APPLICATION);
        for a in 0..APPLICATIONS {
            let (id, secret, _) = app
                .create_client(json!({"name": format!("app-{a}"), "grant_types": ["refresh_token"], "refresh_token": rotating(0)}))
                .await;
            let client = ClientId::from(&id);
            let grant = store
                .upsert_grant(&GrantId::from(format!("seed-grant-{a}")), &user, &client, API, &ScopeSet::parse("read:orders offline_access"), now)
                .await
                .unwrap();
            for n in 0..TOKENS_PER_APPLICATION {
                families.push(NewFamily {
            dpop_jkt: None,
                    id: FamilyId::from(format!("seed-{a}-{n}")),
                    user_id: user.clone(),
                    client_id: client.clone(),
                    grant_id: grant.id.clone(),
                    grant_epoch: grant.token_epoch,
                    session_id: None,
                    audience: API.to_owned(),
                    scope: "read:orders offline_access".to_owned(),
                    rotating: true,
                    device_name: Some(format!("device {n}")),
                    ip: "192.0.2.10".to_owned(),
                    user_agent: "seeder".to_owned(),
                    auth_time: now,
                    created_at: now,
                    expires_at: None,
                    idle_expires_at: None,
                    secret_hash: TokenHash::of(&seeded_token(a, n)),
                });
            }
            clients.push((id, secret));
        }
        store.import_refresh_tokens(&families).await.unwrap();
        store.close().await;
        assert_eq!(families.len(), 100_000);

        // Before: seeded tokens work (one is rotated, so its successor is
        // checked afterwards too).
        let (status, rotated) = refresh(&app, &clients[0].0, &clients[0].1, &seeded_token(0, 0)).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let (status, body) = refresh(&app, &clients[APPLICATIONS - 1].0, &clients[APPLICATIONS - 1].1, &seeded_token(APPLICATIONS - 1, 7)).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // One call revokes them all.
        let started = Instant::now();
        let (status, body) = app
            .mgmt_call(Method::DELETE, &format!("/users/{}/refresh-tokens", urlencode(&user_id)), None)
            .await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        eprintln!(
            "revocation_scale[{backend}]: DELETE /users/{{id}}/refresh-tokens over {} refresh tokens returned in {:.1} ms",
            families.len() + 1,
            took.as_secs_f64() * 1000.0
        );

        // The receipt counted to its bound and says so (the count is a lower
        // bound beyond RECEIPT_COUNT_LIMIT; the revocation covers every token).
        let (status, events) = app.mgmt_call(Method::GET, "/logs?q=type:srrt&per_page=10", None).await;
        assert_eq!(status, StatusCode::OK, "{events}");
        let receipt = &events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["user_id"] == user_id.as_str())
            .unwrap_or_else(|| panic!("no srrt event for the user: {events}"))["details"]["receipt"];
        assert_eq!(receipt["refresh_tokens"], grantor_store::RECEIPT_COUNT_LIMIT, "{receipt}");
        assert_eq!(receipt["refresh_tokens_at_least"], true, "{receipt}");
        // It lists the first RECEIPT_ID_LIMIT of the counted ids, in order,
        // and counts their devices (a few hundred "device n" names).
        let ids: Vec<&str> = receipt["refresh_token_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("ids listed: {receipt}"))
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        assert_eq!(ids.len() as i64, grantor_store::RECEIPT_ID_LIMIT, "{receipt}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted: {ids:?}");
        let devices = receipt["devices"].as_i64().unwrap();
        assert!((2..=grantor_store::RECEIPT_COUNT_LIMIT).contains(&devices), "{receipt}");

        // After: any of them fails at the token endpoint, across applications.
        let samples = [
            (0, rt(&rotated)),
            (0, seeded_token(0, 1)),
            (137, seeded_token(137, 42)),
            (250, seeded_token(250, 199)),
            (APPLICATIONS - 1, seeded_token(APPLICATIONS - 1, 199)),
        ];
        for (a, token) in samples {
            let (status, body) = refresh(&app, &clients[a].0, &clients[a].1, &token).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{token}: {body}");
            assert_eq!(body["error"], "invalid_grant");
        }
        let (status, body) = refresh(&app, &mobile_id, &mobile_secret, &rt(&signed_in)).await;
        assert_eq!((status, body["error"].clone()), (StatusCode::FORBIDDEN, json!("invalid_grant")));

        // Introspection agrees, and the Management API lists nothing.
        let (status, body) = read(
            app.http.post(app.url("/oauth/introspect"))
                .form(&[("client_id", clients[137].0.as_str()), ("client_secret", clients[137].1.as_str()), ("token", seeded_token(137, 43).as_str())])
                .send().await.unwrap(),
        ).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"active": false}));
        let (status, listed) = app
            .mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", urlencode(&user_id)), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed["tokens"], Value::Array(vec![]), "{listed}");

        // The user signs in again and the new token works.
        let again = password_grant(&app, &mobile_id, &mobile_secret, "read:orders offline_access").await;
        let (status, body) = refresh(&app, &mobile_id, &mobile_secret, &rt(&again)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
