//! `/api/v2/logs`: every issue, exchange, reuse detection and revocation is
//! an event with Auth0's type code, written with the change; revocations
//! carry a receipt of what they covered and who asked.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, rt, setup};
use crate::support::{assert_mgmt_error, claims, read, spawn_app, urlencode, TestApp};

async fn logs(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/logs?{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

both_databases! {
    async fn issue_exchange_reuse_and_revocation_are_logged_with_a_receipt(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let first = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = claims(first["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (status, rotated) = refresh(&app, &id, &secret, &rt(&first)).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        // The rotated-out token again: reuse detection revokes the family.
        let (status, _) = refresh(&app, &id, &secret, &rt(&first)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let second = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let third = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let response = app.http.post(app.url("/oauth/revoke"))
            .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", rt(&second).as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        // The user's events through this client (the user's creation is the
        // Management API caller's `sapi` event).
        let q = format!("q={}", urlencode(&format!("user_id:\"{user_id}\" AND client_id:\"{id}\"")));
        let events = logs(&app, &q).await;
        assert_eq!(
            types(&events),
            ["srrt", "sepft", "sepft", "ferrt", "sertft", "sepft"],
            "newest first: {events:#}"
        );
        // The failed exchange is the client's event (the token named no user
        // grantor would disclose).
        // It goes through the audit queue, so it is written moments after
        // the answer; wait for it (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let failed = loop {
            let failed = logs(&app, "q=type:fertft").await;
            if !failed.as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
                break failed;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(failed.as_array().unwrap().len(), 1);
        assert_eq!(failed[0]["client_id"], id.as_str());
        assert_eq!(failed[0]["details"]["error"], "invalid_grant");
        for e in events.as_array().unwrap() {
            assert_eq!(e["user_id"], user_id.as_str());
            assert_eq!(e["client_id"], id.as_str());
            assert_eq!(e["client_name"], "mobile");
            assert_eq!(e["user_name"], "ann@example.test");
            assert!(e["date"].as_str().unwrap().ends_with('Z'));
            assert!(e["log_id"].is_string() && e["description"].is_string());
        }

        let revocation = &events[0];
        let receipt = &revocation["details"]["receipt"];
        assert_eq!(receipt["refresh_tokens"], 2, "both live tokens of the grant: {revocation:#}");
        assert_eq!(receipt["grant_ids"].as_array().unwrap().len(), 1);
        let ids: Vec<&str> = receipt["refresh_token_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(revocation["details"]["actor"], json!({"type": "client", "client_id": id}));
        let reuse = &events[3];
        assert_eq!(reuse["details"]["receipt"]["refresh_tokens"], 1);
        assert_eq!(reuse["details"]["actor"]["type"], "system");
        // The revoked tokens are the ones the receipt lists, and they fail.
        for token in [rt(&second), rt(&third)] {
            let (status, _) = refresh(&app, &id, &secret, &token).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }

        // One event by id; filters by type (q or the SDKs' `search`).
        let log_id = revocation["log_id"].as_str().unwrap();
        let (status, one) = app.mgmt_call(Method::GET, &format!("/logs/{log_id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&one, revocation);
        let only = logs(&app, &format!("q={}", urlencode(&format!("type:srrt AND user_id:\"{user_id}\"")))).await;
        assert_eq!(types(&only), ["srrt"]);
        let only = logs(&app, &format!("search={}", urlencode("type:ferrt"))).await;
        assert_eq!(types(&only), ["ferrt"]);

        // Oldest first on request.
        let ascending = logs(&app, &format!("{q}&sort=date:1")).await;
        assert_eq!(types(&ascending), ["sepft", "sertft", "ferrt", "sepft", "sepft", "srrt"]);
        // Offset pages with totals, and checkpoint pages oldest first.
        let page = logs(&app, &format!("{q}&per_page=2&page=1&include_totals=true")).await;
        assert_eq!(page["total"], 6);
        assert_eq!(types(&page["logs"]), ["sepft", "ferrt"]);
        let oldest = events[5]["log_id"].as_str().unwrap();
        let after = logs(&app, &format!("from={oldest}&take=2")).await;
        let after: Vec<&Value> = after.as_array().unwrap().iter().collect();
        assert!(after.iter().all(|e| e["log_id"].as_str().unwrap() > oldest));
        assert!(after[0]["log_id"].as_str().unwrap() < after[1]["log_id"].as_str().unwrap());

        // A user's own log.
        let (status, mine) = app.mgmt_call(Method::GET, &format!("/users/{}/logs", urlencode(&user_id)), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(types(&mine), ["srrt", "sepft", "sepft", "ferrt", "sertft", "sepft", "sapi"]);
    }
}

both_databases! {
    async fn management_changes_are_logged_with_their_caller(db: Backend) {
        let app = spawn_app(db).await;
        let (status, _) = app.mgmt_call(Method::PATCH, "/tenants/settings", Some(json!({"flags": {"revoke_refresh_token_grant": true}}))).await;
        assert_eq!(status, StatusCode::OK);
        let events = logs(&app, "q=type:sapi").await;
        let event = &events[0];
        assert_eq!(event["details"]["flags"]["revoke_refresh_token_grant"], true);
        assert_eq!(event["details"]["actor"]["client_id"], crate::support::MGMT_CLIENT_ID);
        assert_eq!(event["client_id"], crate::support::MGMT_CLIENT_ID);

        // Users, APIs and applications: each change is one `sapi` event,
        // written with it, naming its caller; no password or secret in it.
        let (status, user) = app
            .mgmt_call(Method::POST, "/users", Some(json!({
                "connection": "Username-Password-Authentication",
                "email": "audited@example.test", "password": "correct horse battery staple",
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        let user_id = user["user_id"].as_str().unwrap().to_owned();
        let path = format!("/users/{}", urlencode(&user_id));
        let (status, _) = app.mgmt_call(Method::PATCH, &path, Some(json!({"name": "Renamed", "user_metadata": {"a": 1}}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, api) = app
            .mgmt_call(Method::POST, "/resource-servers", Some(json!({"identifier": "https://audited.example.test/", "scopes": [{"value": "read:x"}]})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let api_path = format!("/resource-servers/{}", api["id"].as_str().unwrap());
        let (status, _) = app.mgmt_call(Method::PATCH, &api_path, Some(json!({"name": "Audited"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.mgmt_call(Method::DELETE, &api_path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, client) = app.mgmt_call(Method::POST, "/clients", Some(json!({"name": "audited app"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();
        let (status, grant) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({
                "client_id": client_id, "audience": app.management_audience(), "scope": ["read:users"],
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{grant}");
        let grant_path = format!("/client-grants/{}", grant["id"].as_str().unwrap());
        let (status, _) = app.mgmt_call(Method::PATCH, &grant_path, Some(json!({"scope": ["read:users", "create:users"]}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.mgmt_call(Method::DELETE, &grant_path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/clients/{client_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let events = logs(&app, "q=type:sapi&sort=date:1").await;
        let events = events.as_array().unwrap();
        let descriptions: Vec<&str> = events.iter().map(|e| e["description"].as_str().unwrap()).collect();
        assert_eq!(
            descriptions,
            [
                "Update tenant settings",
                &format!("Create user {user_id}"),
                &format!("Update user {user_id}"),
                "Create resource server https://audited.example.test/",
                "Update resource server https://audited.example.test/",
                "Delete resource server https://audited.example.test/",
                &format!("Create client {client_id}"),
                &format!("Create client grant {}", grant["id"].as_str().unwrap()),
                &format!("Update client grant {}", grant["id"].as_str().unwrap()),
                &format!("Delete client grant {}", grant["id"].as_str().unwrap()),
                &format!("Delete client {client_id}"),
            ]
        );
        for event in events {
            assert_eq!(event["client_id"], crate::support::MGMT_CLIENT_ID, "{event}");
            assert_eq!(event["details"]["actor"]["type"], "client", "{event}");
        }
        assert_eq!(events[1]["user_id"], user_id.as_str());
        assert_eq!(events[1]["details"]["email"], "audited@example.test");
        assert_eq!(events[2]["details"]["changed"], json!(["name", "user_metadata"]));
        assert_eq!(events[4]["details"]["resource_server"]["name"], "Audited");
        assert_eq!(events[6]["details"]["settings"]["name"], "audited app");
        let mut granted: Vec<&str> = events[8]["details"]["client_grant"]["scope"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        granted.sort_unstable();
        assert_eq!(granted, ["create:users", "read:users"]);

        // A change that also ends access is one event, the revocation's,
        // and it names what else the request changed.
        let (status, _) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"password": "another horse battery staple", "email": "moved@example.test"})))
            .await;
        assert_eq!(status, StatusCode::OK);
        let revocations = logs(&app, "q=type:srrt").await;
        assert_eq!(revocations[0]["user_id"], user_id.as_str());
        assert_eq!(revocations[0]["details"]["changed"], json!(["email"]));
        let sapi_after = logs(&app, "q=type:sapi").await;
        assert_eq!(sapi_after.as_array().unwrap().len(), events.len(), "no second event for it");
        let text = format!("{}{}", serde_json::to_string(events).unwrap(), revocations);
        assert!(
            !text.contains("correct horse") && !text.contains("another horse") && !text.contains(&secret),
            "no password or secret: {text}"
        );
    }
}

both_databases! {
    async fn logs_need_read_logs_and_refuse_what_they_cannot_filter(db: Backend) {
        let app = spawn_app(db).await;
        let audience = app.management_audience();
        let (id, secret, _) = app.create_client(json!({"name": "reader", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        let token = app.client_credentials(&id, &secret, &audience).await;
        let (status, body) = read(app.http.get(app.url("/api/v2/logs")).bearer_auth(&token).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);

        for query in ["q=email:someone", "q=type:srrt%20OR%20type:ferrt", "sort=user_id:1", "per_page=0", "from=x&take=1000"] {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/logs?{query}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (status, body) = app.mgmt_call(Method::GET, "/logs/0000", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    /// Machine tokens and failed exchanges are queued for the audit writer;
    /// a graceful stop drains the queue, so none is lost on SIGTERM.
    async fn queued_events_are_written_before_a_graceful_stop(db: Backend) {
        let database = std::sync::Arc::new(crate::support::TestDatabase::new(db).await);
        let app = crate::support::spawn_app_on(database.clone(), crate::support::AppOptions::default()).await;
        let audience = app.management_audience();
        for _ in 0..50 {
            app.client_credentials(crate::support::MGMT_CLIENT_ID, crate::support::MGMT_CLIENT_SECRET, &audience).await;
        }
        app.stop().await;
        let store = crate::support::connect_store(&database).await;
        let filter = grantor_store::LogFilter { type_code: Some("seccft".into()), ..Default::default() };
        let written = store.list_logs(&filter, grantor_store::PageRequest { offset: 0, limit: 1 }).await.unwrap().total;
        store.close().await;
        assert_eq!(written, 50);
    }
}
