//! `/api/v2/users` and `/api/v2/users-by-email`: database users of the
//! `Username-Password-Authentication` connection, in Auth0's wire format.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{assert_mgmt_error, query, spawn_app, TestApp};

const CONNECTION: &str = "Username-Password-Authentication";
const PASSWORD: &str = "correct-horse-battery-staple";

/// `/users/{id}` with the `|` percent-encoded, as the SDKs send it.
fn user_path(user_id: &str) -> String {
    format!("/users/{}", user_id.replace('|', "%7C"))
}

async fn create_user(app: &TestApp, email: &str) -> Value {
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/users",
            Some(json!({"connection": CONNECTION, "email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Every user, in one page (`include_totals=true`).
async fn all_users(app: &TestApp) -> Value {
    let (status, body) = app
        .mgmt_call(Method::GET, "/users?include_totals=true&per_page=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn users_by_email(app: &TestApp, email: &str) -> Vec<Value> {
    let (status, body) = app
        .mgmt_call(
            Method::GET,
            &format!("/users-by-email?{}", query(&[("email", email)])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .expect("users-by-email answers an array")
        .clone()
}

/// `2024-05-01T13:00:30.038Z`: ISO 8601, UTC, milliseconds.
fn assert_iso_date(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("date is a string: {value}"));
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(&text[19..20], ".", "{text}");
    assert!(text[20..23].bytes().all(|b| b.is_ascii_digit()), "{text}");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"));
}

/// No member anywhere in the body names or holds a password or its hash.
fn assert_no_secrets(body: &Value, password: &str) {
    let text = body.to_string();
    assert!(!text.contains(password), "password leaked: {text}");
    assert!(!text.contains("$argon2"), "hash leaked: {text}");
    fn walk(v: &Value) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let k = k.to_lowercase();
                    assert!(
                        !k.contains("password") && !k.contains("hash"),
                        "member {k} leaked"
                    );
                    walk(v);
                }
            }
            Value::Array(items) => items.iter().for_each(walk),
            _ => {}
        }
    }
    walk(body);
}

both_databases! {
    async fn creating_a_user_returns_an_auth0_user_without_password_or_hash(db: Backend) {
        let app = spawn_app(db).await;
        let (status, created) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION,
                    "email": "Alice@Example.test",
                    "password": PASSWORD,
                    "name": "Alice Liddell",
                    "app_metadata": {"plan": "free"},
                    "user_metadata": {"theme": "dark"},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");

        let user_id = created["user_id"].as_str().expect("user_id");
        let hex = user_id.strip_prefix("auth0|").unwrap_or_else(|| panic!("{user_id} starts with auth0|"));
        assert_eq!(hex.len(), 24, "{user_id}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{user_id}");
        assert_eq!(created["email"], "alice@example.test");
        assert_eq!(created["email_verified"], false);
        assert_eq!(created["name"], "Alice Liddell");
        assert_eq!(created["app_metadata"], json!({"plan": "free"}));
        assert_eq!(created["user_metadata"], json!({"theme": "dark"}));
        assert_eq!(created["blocked"], false);
        let identity = &created["identities"][0];
        assert_eq!(identity["connection"], CONNECTION);
        assert_eq!(identity["provider"], "auth0");
        assert_eq!(identity["user_id"], hex);
        assert_eq!(identity["isSocial"], false);
        assert_iso_date(&created["created_at"]);
        assert_iso_date(&created["updated_at"]);
        assert_no_secrets(&created, PASSWORD);

        // Read back with the `|` percent-encoded: the same user, still without secrets.
        let (status, fetched) = app.mgmt_call(Method::GET, &user_path(user_id), None).await;
        assert_eq!(status, StatusCode::OK, "{fetched}");
        assert_eq!(fetched, created);
        assert_no_secrets(&fetched, PASSWORD);
        let listed = all_users(&app).await;
        for user in listed["users"].as_array().unwrap() {
            assert_no_secrets(user, PASSWORD);
            assert_iso_date(&user["created_at"]);
        }
    }
}

both_databases! {
    async fn creating_a_user_with_an_email_in_use_is_a_409_and_creates_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let first = create_user(&app, "bob@example.test").await;
        let before = all_users(&app).await;

        // Same address, other case: still the same user to the connection.
        for email in ["bob@example.test", "BOB@Example.TEST"] {
            let (status, body) = app
                .mgmt_call(
                    Method::POST,
                    "/users",
                    Some(json!({"connection": CONNECTION, "email": email, "password": "another-password-123"})),
                )
                .await;
            assert_mgmt_error(status, &body, StatusCode::CONFLICT);
            assert_eq!(body["errorCode"], "auth0_idp_error", "{body}");
            assert_eq!(body["message"], "The user already exists.", "{body}");
        }

        assert_eq!(all_users(&app).await, before);
        assert_eq!(users_by_email(&app, "bob@example.test").await, vec![first]);
    }
}

both_databases! {
    async fn creating_a_user_from_an_invalid_body_is_a_400_and_creates_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let before = all_users(&app).await;
        let cases = [
            ("unknown connection", json!({"connection": "No-Such-Connection", "email": "c1@example.test", "password": PASSWORD})),
            ("missing connection", json!({"email": "c2@example.test", "password": PASSWORD})),
            ("short password", json!({"connection": CONNECTION, "email": "c3@example.test", "password": "short"})),
            ("missing password", json!({"connection": CONNECTION, "email": "c4@example.test"})),
            ("bad email", json!({"connection": CONNECTION, "email": "not-an-email", "password": PASSWORD})),
            ("email without domain dot", json!({"connection": CONNECTION, "email": "c6@localhost", "password": PASSWORD})),
            ("unknown field", json!({"connection": CONNECTION, "email": "c7@example.test", "password": PASSWORD, "favourite_colour": "blue"})),
            ("wrong type", json!({"connection": CONNECTION, "email": "c8@example.test", "password": PASSWORD, "blocked": "no"})),
        ];
        for (case, body) in cases {
            let email = body["email"].as_str().map(str::to_owned);
            let (status, answer) = app.mgmt_call(Method::POST, "/users", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            if let Some(email) = email.filter(|e| e.contains('.') && e.contains('@')) {
                assert!(users_by_email(&app, &email).await.is_empty(), "{case}: a user was written");
            }
        }
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({"connection": "No-Such-Connection", "email": "c9@example.test", "password": PASSWORD})),
            )
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(body["errorCode"], "inexistent_connection", "{body}");

        assert_eq!(all_users(&app).await, before, "the user list is unchanged");
    }
}

both_databases! {
    async fn fetching_an_unknown_user_is_a_404_inexistent_user(db: Backend) {
        let app = spawn_app(db).await;
        let (status, body) = app.mgmt_call(Method::GET, &user_path("auth0|0123456789abcdef01234567"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_user", "{body}");
        assert_eq!(body["message"], "The user does not exist.", "{body}");
    }
}

both_databases! {
    async fn listing_users_pages_by_offset_with_and_without_totals(db: Backend) {
        let app = spawn_app(db).await;
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(create_user(&app, &format!("pager{i}@example.test")).await["user_id"].as_str().unwrap().to_owned());
        }
        // The dashboard administrator is not a user of the connection.
        let total = 5;

        let (status, everything) = app.mgmt_call(Method::GET, "/users", None).await;
        assert_eq!(status, StatusCode::OK, "{everything}");
        assert_eq!(everything.as_array().expect("bare array without include_totals").len(), total);

        let (status, page) = app.mgmt_call(Method::GET, "/users?page=0&per_page=2", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page.as_array().expect("bare array").len(), 2);

        let mut seen = Vec::new();
        for n in 0..3 {
            let (status, page) = app
                .mgmt_call(Method::GET, &format!("/users?page={n}&per_page=2&include_totals=true"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let users = page["users"].as_array().expect("users key").clone();
            assert_eq!(page["start"], n * 2, "{page}");
            assert_eq!(page["limit"], 2, "{page}");
            assert_eq!(page["length"], users.len(), "{page}");
            assert_eq!(page["total"], total, "{page}");
            assert_eq!(users.len(), if n < 2 { 2 } else { 1 }, "{page}");
            seen.extend(users.iter().map(|u| u["user_id"].as_str().unwrap().to_owned()));
        }
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), total, "every user exactly once: {seen:?}");
        for id in &created {
            assert!(seen.contains(id), "{id} missing from the pages");
        }

        // Past the end: an empty list, in both forms.
        let (status, past) = app.mgmt_call(Method::GET, "/users?page=3&per_page=2", None).await;
        assert_eq!(status, StatusCode::OK, "{past}");
        assert_eq!(past, json!([]));
        let (status, past) = app.mgmt_call(Method::GET, "/users?page=3&per_page=2&include_totals=true", None).await;
        assert_eq!(status, StatusCode::OK, "{past}");
        assert_eq!(past["users"], json!([]));
        assert_eq!(past["length"], 0);
        assert_eq!(past["total"], total);

        for bad in ["per_page=0", "per_page=101", "page=-1", "per_page=ten"] {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/users?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (status, body) = app.mgmt_call(Method::GET, "/users?per_page=100", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn users_are_found_by_email_through_q_and_users_by_email(db: Backend) {
        let app = spawn_app(db).await;
        let carol = create_user(&app, "carol@example.test").await;
        let dave = create_user(&app, "dave@example.test").await;

        for q in ["email:\"carol@example.test\"", "email:carol@example.test", "email:\"Carol@Example.test\""] {
            let (status, found) = app.mgmt_call(Method::GET, &format!("/users?{}", query(&[("q", q)])), None).await;
            assert_eq!(status, StatusCode::OK, "{q}: {found}");
            assert_eq!(found, json!([carol.clone()]), "{q}");
        }
        let (status, found) = app
            .mgmt_call(
                Method::GET,
                &format!("/users?{}", query(&[("q", "email:\"dave@example.test\""), ("include_totals", "true")])),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["total"], 1, "{found}");
        assert_eq!(found["users"], json!([dave.clone()]));

        let (status, none) = app
            .mgmt_call(Method::GET, &format!("/users?{}", query(&[("q", "email:\"nobody@example.test\"")])), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{none}");
        assert_eq!(none, json!([]));

        assert_eq!(users_by_email(&app, "carol@example.test").await, vec![carol.clone()]);
        assert_eq!(users_by_email(&app, "DAVE@example.test").await, vec![dave]);
        assert!(users_by_email(&app, "nobody@example.test").await.is_empty());

        let (status, body) = app.mgmt_call(Method::GET, "/users-by-email", None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = app.mgmt_call(Method::GET, &format!("/users-by-email?{}", query(&[("email", "not-an-email")])), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    async fn patching_a_user_changes_its_name_and_merges_app_metadata(db: Backend) {
        let app = spawn_app(db).await;
        let (status, created) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION,
                    "email": "erin@example.test",
                    "password": PASSWORD,
                    "app_metadata": {"plan": "free", "roles": ["reader"], "region": "eu"},
                    "user_metadata": {"theme": "dark"},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let path = user_path(created["user_id"].as_str().unwrap());

        let (status, patched) = app
            .mgmt_call(
                Method::PATCH,
                &path,
                Some(json!({"name": "Erin Example", "app_metadata": {"plan": "pro", "roles": null, "beta": true}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        let expected_app_metadata = json!({"plan": "pro", "region": "eu", "beta": true});
        assert_eq!(patched["name"], "Erin Example");
        assert_eq!(patched["app_metadata"], expected_app_metadata, "a null member deletes its key, others merge");
        assert_eq!(patched["user_metadata"], json!({"theme": "dark"}), "untouched");
        assert_eq!(patched["email"], "erin@example.test");
        assert_eq!(patched["user_id"], created["user_id"]);
        assert_eq!(patched["created_at"], created["created_at"]);
        assert_iso_date(&patched["updated_at"]);
        assert!(patched["updated_at"].as_str() >= created["updated_at"].as_str());

        let (status, fetched) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{fetched}");
        assert_eq!(fetched, patched, "the change is stored");

        // An unknown member is refused and changes nothing.
        let (status, body) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"name": "Not Stored", "shoe_size": 42})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(after, fetched);

        // Another user's address is refused, and neither user changes.
        let other = create_user(&app, "frank@example.test").await;
        let (status, body) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"email": "Frank@example.test", "name": "Not Stored"})))
            .await;
        assert!(status.is_client_error(), "{status}: {body}");
        assert_mgmt_error(status, &body, status);
        let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(after, fetched);
        let (_, other_after) = app.mgmt_call(Method::GET, &user_path(other["user_id"].as_str().unwrap()), None).await;
        assert_eq!(other_after, other);

        // An unknown user.
        let (status, body) = app
            .mgmt_call(Method::PATCH, &user_path("auth0|0123456789abcdef01234567"), Some(json!({"name": "x"})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_user", "{body}");
    }
}

both_databases! {
    async fn changing_a_password_succeeds_and_a_short_one_is_refused_without_changes(db: Backend) {
        let app = spawn_app(db).await;
        let created = create_user(&app, "frank@example.test").await;
        let path = user_path(created["user_id"].as_str().unwrap());

        let new_password = "a-brand-new-long-password";
        let (status, patched) = app.mgmt_call(Method::PATCH, &path, Some(json!({"password": new_password}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_no_secrets(&patched, new_password);
        assert_eq!(patched["user_id"], created["user_id"]);
        let (_, stored) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(stored, patched);

        let (status, body) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"password": "short", "name": "Should Not Stick"})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(after, stored, "a refused PATCH changes nothing, not even updated_at");
    }
}

both_databases! {
    async fn deleting_a_user_removes_it_from_every_read(db: Backend) {
        let app = spawn_app(db).await;
        let created = create_user(&app, "gina@example.test").await;
        let keep = create_user(&app, "henry@example.test").await;
        let path = user_path(created["user_id"].as_str().unwrap());
        let before = all_users(&app).await;

        let response = app.mgmt(Method::DELETE, &path).await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty(), "204 has no body");

        let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_user", "{body}");
        assert!(users_by_email(&app, "gina@example.test").await.is_empty());
        let after = all_users(&app).await;
        assert_eq!(after["total"], before["total"].as_i64().unwrap() - 1);
        assert!(after["users"].as_array().unwrap().iter().all(|u| u["user_id"] != created["user_id"]));

        // The other user is untouched, and the address can be used again.
        let (_, other) = app.mgmt_call(Method::GET, &user_path(keep["user_id"].as_str().unwrap()), None).await;
        assert_eq!(other, keep);
        let again = create_user(&app, "gina@example.test").await;
        assert_ne!(again["user_id"], created["user_id"]);
    }
}

both_databases! {
    async fn a_user_created_with_its_own_id_is_auth0_prefixed_and_a_taken_id_is_a_409(db: Backend) {
        let app = spawn_app(db).await;
        let (status, created) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION, "user_id": "legacy-42.a_b@corp",
                    "email": "legacy@example.test", "password": PASSWORD,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["user_id"], "auth0|legacy-42.a_b@corp");
        assert_eq!(created["identities"][0]["user_id"], "legacy-42.a_b@corp");
        let (status, fetched) = app
            .mgmt_call(Method::GET, &user_path("auth0|legacy-42.a_b@corp"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{fetched}");
        assert_eq!(fetched, created);

        // The same id again, with another e-mail: 409, and nothing written.
        let before = all_users(&app).await;
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION, "user_id": "legacy-42.a_b@corp",
                    "email": "someone.else@example.test", "password": PASSWORD,
                })),
            )
            .await;
        assert_mgmt_error(status, &body, StatusCode::CONFLICT);
        assert_eq!(body["errorCode"], "auth0_idp_error", "{body}");
        assert_eq!(body["message"], "The user already exists.", "{body}");
        assert!(users_by_email(&app, "someone.else@example.test").await.is_empty());

        // Ids that are empty, too long, carry the prefix or other characters: 400.
        let too_long = "a".repeat(129);
        for (n, id) in ["", "auth0|abc", "has space", "a/b", "a%7Cb", "ünï", "a\"b", too_long.as_str()]
            .into_iter()
            .enumerate()
        {
            let email = format!("bad-id-{n}@example.test");
            let (status, body) = app
                .mgmt_call(
                    Method::POST,
                    "/users",
                    Some(json!({"connection": CONNECTION, "user_id": id, "email": email, "password": PASSWORD})),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "user_id {id:?}: {body}");
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert!(users_by_email(&app, &email).await.is_empty(), "{id:?}: a user was written");
        }
        // 128 characters is the limit.
        let longest = "b".repeat(128);
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({"connection": CONNECTION, "user_id": longest, "email": "longest@example.test", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user_id"], format!("auth0|{longest}"));
        let after = all_users(&app).await;
        assert_eq!(after["total"], before["total"].as_i64().unwrap() + 1);

        // PATCH cannot change the id.
        let (status, body) = app
            .mgmt_call(
                Method::PATCH,
                &user_path("auth0|legacy-42.a_b@corp"),
                Some(json!({"user_id": "other"})),
            )
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    async fn a_user_recreated_under_its_id_does_not_get_its_old_refresh_tokens_back(db: Backend) {
        use crate::refresh_tokens::{password_grant, refresh, rt, API, EMAIL, PASSWORD as RT_PASSWORD};
        let app = spawn_app(db).await;
        let (status, api) = app
            .mgmt_call(
                Method::POST,
                "/resource-servers",
                Some(json!({"identifier": API, "name": "Orders", "allow_offline_access": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api}");
        let body = json!({
            "connection": CONNECTION, "user_id": "returning", "email": EMAIL, "password": RT_PASSWORD,
        });
        let (status, created) = app.mgmt_call(Method::POST, "/users", Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (id, secret, _) = app
            .create_client(json!({"name": "mobile", "grant_types": ["password", "refresh_token"]}))
            .await;
        let old = rt(&password_grant(&app, &id, &secret, "offline_access").await);
        let (status, answer) = refresh(&app, &id, &secret, &old).await;
        assert_eq!(status, StatusCode::OK, "{answer}");

        let response = app.mgmt(Method::DELETE, &user_path("auth0|returning")).await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let (status, again) = app.mgmt_call(Method::POST, "/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        assert_eq!(again["user_id"], "auth0|returning");

        let (status, answer) = refresh(&app, &id, &secret, &old).await;
        crate::support::assert_oauth_error(status, &answer, StatusCode::FORBIDDEN, "invalid_grant");
        // The new user signs in and gets tokens of its own.
        let fresh = rt(&password_grant(&app, &id, &secret, "offline_access").await);
        let (status, answer) = refresh(&app, &id, &secret, &fresh).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

both_databases! {
    async fn phone_number_and_phone_verified_are_stored_and_returned(db: Backend) {
        let app = spawn_app(db).await;
        let (status, created) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION, "email": "phone@example.test", "password": PASSWORD,
                    "phone_number": "+1 (415) 555-0123", "phone_verified": true,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["phone_number"], "+14155550123", "stored in E.164");
        assert_eq!(created["phone_verified"], true);
        let path = user_path(created["user_id"].as_str().unwrap());
        let (_, fetched) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(fetched, created);
        let listed = users_by_email(&app, "phone@example.test").await;
        assert_eq!(listed, vec![created.clone()]);

        // PATCH changes either; a refused one changes nothing.
        let (status, patched) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"phone_number": "+442079460000", "phone_verified": false})))
            .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((&patched["phone_number"], &patched["phone_verified"]), (&json!("+442079460000"), &json!(false)));
        let (_, stored) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(stored, patched);
        for bad in [json!({"phone_number": "4155550123"}), json!({"phone_number": "+1-call-me"}), json!({"phone_number": ""})] {
            let (status, body) = app.mgmt_call(Method::PATCH, &path, Some(bad.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(after, stored);

        // A user without a phone has neither member; phone_verified alone is refused.
        let plain = create_user(&app, "nophone@example.test").await;
        assert!(plain.get("phone_number").is_none() && plain.get("phone_verified").is_none(), "{plain}");
        for (n, body) in [
            json!({"phone_verified": true}),
            json!({"phone_number": "+1 415 555 0123 45678"}),
            json!({"phone_number": 4155550123_i64}),
        ]
        .into_iter()
        .enumerate()
        {
            let email = format!("bad-phone-{n}@example.test");
            let mut full = json!({"connection": CONNECTION, "email": email, "password": PASSWORD});
            full.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
            let (status, answer) = app.mgmt_call(Method::POST, "/users", Some(full)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert!(users_by_email(&app, &email).await.is_empty(), "{body}: a user was written");
        }
        let plain_path = user_path(plain["user_id"].as_str().unwrap());
        let (status, body) = app.mgmt_call(Method::PATCH, &plain_path, Some(json!({"phone_verified": true}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
}

both_databases! {
    /// Concurrent `PATCH`es that each merge their own metadata key all land:
    /// a merge made from a read that another request overtook is made again
    /// from a fresh read, not written over the newer value.
    async fn concurrent_metadata_merges_keep_every_key(db: Backend) {
        let app = spawn_app(db).await;
        let created = create_user(&app, "merges@example.com").await;
        let path = format!("/users/{}", created["user_id"].as_str().unwrap());
        const ROUNDS: usize = 8;
        const AT_ONCE: usize = 4;
        let body = |round: usize, i: usize| {
            Some(json!({
                "user_metadata": {format!("u{round}_{i}"): i},
                "app_metadata": {format!("a{round}_{i}"): i},
            }))
        };
        for round in 0..ROUNDS {
            let answers = tokio::join!(
                app.mgmt_call(Method::PATCH, &path, body(round, 0)),
                app.mgmt_call(Method::PATCH, &path, body(round, 1)),
                app.mgmt_call(Method::PATCH, &path, body(round, 2)),
                app.mgmt_call(Method::PATCH, &path, body(round, 3)),
            );
            for (status, answer) in [answers.0, answers.1, answers.2, answers.3] {
                assert_eq!(status, StatusCode::OK, "{answer}");
            }
        }
        let (status, user) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        for member in ["user_metadata", "app_metadata"] {
            let keys = user[member].as_object().unwrap().len();
            assert_eq!(keys, ROUNDS * AT_ONCE, "{member}: {}", user[member]);
        }
    }
}
