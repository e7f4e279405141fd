//! Multi-Resource Refresh Tokens (`refresh_token.policies`): one refresh
//! token exchanged for access tokens to the other APIs its client's
//! policies allow, scopes narrowed; an API no policy allows answered with
//! the token's own API (Auth0's treatment); the token's `resource_servers`;
//! and every way of ending access: the refresh token, its grant, the policy
//! API's grant, the policy itself, reuse detection.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, rotating, setup, API};
use crate::support::{assert_mgmt_error, assert_oauth_error, claims, read, urlencode, TestApp};

const BILLING: &str = "https://billing.example.test/";
/// An API that does not skip consent: no policy reaches it.
const CONSENTED: &str = "https://consented.example.test/";

struct Mrrt {
    app: TestApp,
    id: String,
    secret: String,
}

async fn mrrt(db: crate::support::Backend) -> Mrrt {
    let app = crate::support::spawn_app(db).await;
    let (id, secret) = setup(&app, rotating(0)).await;
    for (identifier, skip) in [(BILLING, true), (CONSENTED, false)] {
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/resource-servers",
                Some(json!({
                    "identifier": identifier, "name": identifier,
                    "skip_consent_for_verifiable_first_party_clients": skip,
                    "allow_offline_access": true,
                    "scopes": [{"value": "read:billing"}, {"value": "write:billing"}],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let f = Mrrt { app, id, secret };
    f.set_policies(json!([
        {"audience": BILLING, "scope": ["read:billing", "not:defined"]},
        {"audience": CONSENTED, "scope": ["read:billing"]},
    ]))
    .await;
    f
}

impl Mrrt {
    async fn client(&self) -> Value {
        let (status, body) = self
            .app
            .mgmt_call(Method::GET, &format!("/clients/{}", self.id), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn set_policies(&self, policies: Value) -> Value {
        let (status, body) = self
            .app
            .mgmt_call(
                Method::PATCH,
                &format!("/clients/{}", self.id),
                Some(json!({"refresh_token": {"policies": policies}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A sign-in for the orders API; the token response.
    async fn login(&self) -> Value {
        password_grant(
            &self.app,
            &self.id,
            &self.secret,
            "openid offline_access read:orders",
        )
        .await
    }

    /// A refresh exchange with these extra parameters.
    async fn refresh(&self, rt: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("refresh_token", rt),
        ];
        form.extend_from_slice(extra);
        read(self.app.token_form(&form).await).await
    }

    /// A refresh for `audience` that must succeed: (access token, new refresh token, body).
    async fn refresh_for(
        &self,
        rt: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> (String, String, Value) {
        let mut extra = vec![("audience", audience)];
        if let Some(scope) = scope {
            extra.push(("scope", scope));
        }
        let (status, body) = self.refresh(rt, &extra).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        )
    }

    async fn active(&self, token: &str) -> bool {
        let answer = self.app.introspect(&self.id, &self.secret, token).await;
        answer["active"].as_bool().unwrap()
    }

    async fn refresh_token_view(&self, family_id: &str) -> Value {
        let (status, body) = self
            .app
            .mgmt_call(Method::GET, &format!("/refresh-tokens/{family_id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn reached(&self, family_id: &str) -> Vec<(String, String)> {
        let view = self.refresh_token_view(family_id).await;
        view["resource_servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["audience"].as_str().unwrap().to_owned(),
                    r["scopes"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn grants_of(&self, user_id: &str) -> Vec<Value> {
        let (status, body) = self
            .app
            .mgmt_call(
                Method::GET,
                &format!(
                    "/grants?user_id={}&client_id={}",
                    urlencode(user_id),
                    self.id
                ),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    /// The user's grant for `audience` (its id), if any.
    async fn grant_for(&self, user_id: &str, audience: &str) -> Option<String> {
        self.grants_of(user_id)
            .await
            .iter()
            .find(|g| g["audience"] == audience)
            .map(|g| g["id"].as_str().unwrap().to_owned())
    }
}

fn aud(access_token: &str) -> String {
    let claims = claims(access_token);
    match &claims["aud"] {
        Value::Array(list) => list[0].as_str().unwrap().to_owned(),
        other => other.as_str().unwrap().to_owned(),
    }
}

fn sorted_scope(scope: &str) -> Vec<&str> {
    let mut v: Vec<&str> = scope.split(' ').collect();
    v.sort_unstable();
    v
}

/// The ids of the user's refresh tokens, from the Management API.
async fn family_ids(f: &Mrrt, user_id: &str) -> Vec<String> {
    let (status, body) = f
        .app
        .mgmt_call(
            Method::GET,
            &format!("/users/{}/refresh-tokens", urlencode(user_id)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The id of the user's one refresh token not in `known`.
async fn new_family_id(f: &Mrrt, user_id: &str, known: &[String]) -> String {
    let mut new: Vec<String> = family_ids(f, user_id)
        .await
        .into_iter()
        .filter(|id| !known.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new.remove(0)
}

both_databases! {
    async fn a_refresh_token_reaches_the_policy_apis_with_narrowed_scopes(db: Backend) {
        let f = mrrt(db).await;
        let (_, client) = f.app.mgmt_call(Method::GET, &format!("/clients/{}", f.id), None).await;
        assert_eq!(
            client["refresh_token"]["policies"],
            json!([
                {"audience": BILLING, "scope": ["read:billing", "not:defined"]},
                {"audience": CONSENTED, "scope": ["read:billing"]},
            ])
        );
        let login = f.login().await;
        let user_id = claims(login["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let rt = login["refresh_token"].as_str().unwrap().to_owned();

        // Another API, with a scope the policy does not allow dropped.
        let (billing, rt, body) = f
            .refresh_for(&rt, BILLING, Some("openid read:billing write:billing"))
            .await;
        assert_eq!(aud(&billing), BILLING);
        assert_eq!(sorted_scope(body["scope"].as_str().unwrap()), ["openid", "read:billing"]);
        assert_eq!(claims(&billing)["scope"], body["scope"]);
        assert!(body["id_token"].is_string(), "openid still yields an ID token: {body}");
        assert!(f.active(&billing).await);
        let answer = f.app.introspect(&f.id, &f.secret, &billing).await;
        assert_eq!(answer["aud"][0], BILLING, "{answer}");

        // No scope asked: everything the policy allows there, and the OIDC scopes.
        let (billing_all, rt, body) = f.refresh_for(&rt, BILLING, None).await;
        assert_eq!(aud(&billing_all), BILLING);
        assert_eq!(
            sorted_scope(body["scope"].as_str().unwrap()),
            ["offline_access", "openid", "read:billing"]
        );

        // Its own API as before, with or without naming it.
        let (orders, rt, body) = f.refresh_for(&rt, API, None).await;
        assert_eq!(aud(&orders), API);
        assert_eq!(sorted_scope(body["scope"].as_str().unwrap()), ["offline_access", "openid", "read:orders"]);
        let (status, body) = f.refresh(&rt, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(aud(body["access_token"].as_str().unwrap()), API);
        let rt = body["refresh_token"].as_str().unwrap().to_owned();

        // An API no policy reaches (unknown, or one that asks for consent):
        // the token's own API, as Auth0 answers.
        // The Management API (which no policy can name) is no error either:
        // the token's own API, like any audience no policy reaches.
        let management = f.app.management_audience();
        let mut rt = rt;
        for other in ["https://unknown.example.test/", CONSENTED, management.as_str()] {
            let (orders, next, _) = f.refresh_for(&rt, other, None).await;
            assert_eq!(aud(&orders), API, "{other}");
            rt = next;
        }

        // The refresh token lists both APIs; the user has a grant for each.
        let family = new_family_id(&f, &user_id, &[]).await;
        assert_eq!(
            f.reached(&family).await,
            [
                (API.to_owned(), "openid offline_access read:orders".to_owned()),
                (BILLING.to_owned(), "read:billing".to_owned()),
            ]
        );
        let grants = f.grants_of(&user_id).await;
        let billing_grant = grants.iter().find(|g| g["audience"] == BILLING).expect("a billing grant");
        assert_eq!(billing_grant["scope"], json!([]), "bound, but no consent implied: {billing_grant}");
        assert!(f.grant_for(&user_id, CONSENTED).await.is_none());

        // Each exchange is audited with the API it answered for.
        let audiences = f
            .app
            .query_strings("SELECT details FROM logs WHERE type = 'sertft' ORDER BY log_id")
            .await
            .into_iter()
            .map(|d| serde_json::from_str::<Value>(&d).unwrap()["audience"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            audiences,
            [BILLING, BILLING, API, API, API, API, API],
            "{audiences:?}"
        );
    }
}

both_databases! {
    async fn revoking_the_refresh_token_or_its_grant_ends_every_api(db: Backend) {
        let f = mrrt(db).await;
        // Revoking the refresh token.
        let login = f.login().await;
        let user_id = claims(login["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (billing, rt, _) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), BILLING, None)
            .await;
        let family = new_family_id(&f, &user_id, &[]).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{family}"), None).await;
        assert!(status.is_success(), "{status}");
        assert!(!f.active(&billing).await, "the policy API's token ends with its refresh token");
        let (status, body) = f.refresh(&rt, &[("audience", BILLING)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");

        // Revoking the grant the refresh token was issued under (orders).
        let login = f.login().await;
        let (billing, rt, _) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), BILLING, None)
            .await;
        let orders_grant = f.grant_for(&user_id, API).await.unwrap();
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/grants/{orders_grant}"), None).await;
        assert!(status.is_success(), "{status}");
        assert!(!f.active(&billing).await, "the policy API's token ends with the refresh token's grant");
        let (status, body) = f.refresh(&rt, &[("audience", BILLING)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
    }
}

both_databases! {
    async fn revoking_the_policy_apis_grant_or_the_policy_stops_that_api_at_once(db: Backend) {
        let f = mrrt(db).await;
        let login = f.login().await;
        let user_id = claims(login["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (billing, rt, _) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), BILLING, None)
            .await;
        let family = new_family_id(&f, &user_id, &[]).await;

        // The user's grant for the billing API is revoked.
        let billing_grant = f.grant_for(&user_id, BILLING).await.unwrap();
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/grants/{billing_grant}"), None).await;
        assert!(status.is_success(), "{status}");
        assert!(!f.active(&billing).await, "billing ends at once");
        let (billing_after, rt, _) = f.refresh_for(&rt, BILLING, None).await;
        assert_eq!(aud(&billing_after), API, "the token no longer reaches billing");
        assert_eq!(f.reached(&family).await.len(), 1, "only its own API is listed");
        assert!(f.grant_for(&user_id, BILLING).await.is_none(), "the exchange does not bring the grant back");
        let (orders, _, _) = f.refresh_for(&rt, API, None).await;
        assert!(f.active(&orders).await, "its own API still works");

        // A new sign-in is a new authorization: it reaches billing again.
        let login = f.login().await;
        let (billing2, rt2, _) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), BILLING, None)
            .await;
        assert_eq!(aud(&billing2), BILLING);
        let family2 = new_family_id(&f, &user_id, std::slice::from_ref(&family)).await;
        assert_eq!(f.reached(&family2).await.len(), 2);

        // The policy is removed (null): billing stops at once for every token.
        let client = f.set_policies(Value::Null).await;
        assert!(client["refresh_token"].get("policies").is_none(), "{client}");
        assert!(!f.active(&billing2).await, "an issued billing token ends with its policy");
        let (after, _, _) = f.refresh_for(&rt2, BILLING, None).await;
        assert_eq!(aud(&after), API);
        assert_eq!(f.reached(&family2).await.len(), 1);
    }
}

both_databases! {
    async fn rotation_and_reuse_detection_apply_to_policy_exchanges(db: Backend) {
        let f = mrrt(db).await;
        let login = f.login().await;
        let rt0 = login["refresh_token"].as_str().unwrap().to_owned();
        let (billing, rt1, _) = f.refresh_for(&rt0, BILLING, None).await;
        assert_ne!(rt0, rt1, "the exchange rotated");
        // The rotated-out token again: reuse, which revokes the family and
        // with it the billing token.
        let (status, body) = f.refresh(&rt0, &[("audience", BILLING)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        assert!(!f.active(&billing).await);
        let (status, body) = f.refresh(&rt1, &[("audience", BILLING)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let reuse = f
            .app
            .query_strings("SELECT type FROM logs WHERE type = 'ferrt'")
            .await;
        assert_eq!(reuse.len(), 1, "reuse detection is audited once");
    }
}

both_databases! {
    async fn policies_are_validated_and_cleared(db: Backend) {
        let f = mrrt(db).await;
        let management = f.app.management_audience();
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"audience": format!("https://api{i}.example.test/"), "scope": ["a"]}))
            .collect();
        for (policies, why) in [
            (json!([]), "empty list"),
            (json!([{"audience": management, "scope": ["read:users"]}]), "Management API"),
            (json!([{"audience": BILLING, "scope": ["a"]}, {"audience": BILLING, "scope": ["b"]}]), "repeated audience"),
            (json!([{"audience": BILLING, "scope": []}]), "no scope"),
            (json!([{"audience": BILLING, "scope": ["read billing"]}]), "scope with a space"),
            (json!([{"audience": "", "scope": ["a"]}]), "empty audience"),
            (json!([{"audience": BILLING, "scope": "read:billing"}]), "scope not an array"),
            (json!([{"audience": BILLING}]), "scope missing"),
            (json!([{"audience": BILLING, "scope": ["a"], "extra": 1}]), "unknown member"),
            (json!({"audience": BILLING}), "not a list"),
            (Value::Array(many), "21 policies"),
        ] {
            let (status, body) = f
                .app
                .mgmt_call(
                    Method::PATCH,
                    &format!("/clients/{}", f.id),
                    Some(json!({"refresh_token": {"policies": policies}})),
                )
                .await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            let _ = why;
        }
        // Nothing was changed by the refused calls.
        let (_, client) = f.app.mgmt_call(Method::GET, &format!("/clients/{}", f.id), None).await;
        assert_eq!(client["refresh_token"]["policies"].as_array().unwrap().len(), 2);
        // A PATCH that does not name them keeps them.
        let (status, client) = f
            .app
            .mgmt_call(
                Method::PATCH,
                &format!("/clients/{}", f.id),
                Some(json!({"refresh_token": {"leeway": 5}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{client}");
        assert_eq!(client["refresh_token"]["policies"].as_array().unwrap().len(), 2);
        // Created with policies.
        let (_, _, created) = f
            .app
            .create_client(json!({
                "name": "with policies",
                "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring",
                                  "policies": [{"audience": BILLING, "scope": ["read:billing"]}]},
            }))
            .await;
        assert_eq!(created["refresh_token"]["policies"][0]["audience"], BILLING);
    }
}

both_databases! {
    async fn the_dashboard_edits_policies_as_lines(db: Backend) {
        let f = mrrt(db).await;
        let admin = crate::dashboard::Admin::signed_in(&f.app).await;
        let path = format!("/dashboard/applications/{}", f.id);
        let html = admin.page(&path).await;
        assert!(
            html.contains(&format!("{BILLING} read:billing not:defined\n{CONSENTED} read:billing</textarea>")),
            "{html}"
        );
        let settings = [
            ("rotation_type", "rotating"),
            ("leeway", "0"),
            ("expiration_type", "expiring"),
            ("token_lifetime", "86400"),
            ("idle_token_lifetime", "3600"),
        ];


        let lines = format!("  {BILLING}   read:billing write:billing \n\n");
        let mut fields = settings.to_vec();
        fields.push(("policies", &lines));
        let response = admin.submit(&path, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            f.client().await["refresh_token"]["policies"],
            json!([{"audience": BILLING, "scope": ["read:billing", "write:billing"]}])
        );
        let event = f
            .app
            .query_strings("SELECT details FROM logs WHERE type = 'sapi' AND description LIKE 'Update client%' ORDER BY log_id DESC")
            .await;
        let details: Value = serde_json::from_str(&event[0]).unwrap();
        assert_eq!(details["refresh_token"]["policies"][0]["audience"], BILLING, "{details}");

        // The Management API, refused with the API's words; nothing written.
        let management = format!("{} read:users", f.app.management_audience());
        let mut fields = settings.to_vec();
        fields.push(("policies", &management));
        let response = admin.submit(&path, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = response.text().await.unwrap();
        assert!(html.contains("the Management API cannot be reached with a refresh token"), "{html}");
        assert_eq!(f.client().await["refresh_token"]["policies"][0]["audience"], BILLING);

        // No line removes them.
        let mut fields = settings.to_vec();
        fields.push(("policies", ""));
        let response = admin.submit(&path, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(f.client().await["refresh_token"].get("policies").is_none());
    }
}

both_databases! {
    async fn policies_that_do_not_count_reach_nothing_and_issued_tokens_gain_no_reach(db: Backend) {
        let f = mrrt(db).await;
        // Issued before any policy names the orders-only API below.
        let login = f.login().await;
        let user_id = claims(login["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let rt = login["refresh_token"].as_str().unwrap().to_owned();
        let later = "https://later.example.test/";
        let (status, body) = f
            .app
            .mgmt_call(Method::POST, "/resource-servers", Some(json!({
                "identifier": later, "name": later, "allow_offline_access": true,
                "skip_consent_for_verifiable_first_party_clients": true,
                "scopes": [{"value": "read:later"}],
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        f.set_policies(json!([
            {"audience": BILLING, "scope": ["not:defined"]},
            {"audience": later, "scope": ["read:later"]},
        ]))
        .await;
        // A policy none of whose scopes the API defines counts for nothing.
        let (token, rt, _) = f.refresh_for(&rt, BILLING, None).await;
        assert_eq!(aud(&token), API);
        // A token issued before the policy was added does not gain it.
        let (token, _, _) = f.refresh_for(&rt, later, None).await;
        assert_eq!(aud(&token), API);
        let family = new_family_id(&f, &user_id, &[]).await;
        assert_eq!(f.reached(&family).await.len(), 1);
        // One issued after it does.
        let login = f.login().await;
        let (token, _, _) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), later, None)
            .await;
        assert_eq!(aud(&token), later);

        // Third-party: no policy counts.
        let (status, body) = f
            .app
            .mgmt_call(Method::PATCH, &format!("/clients/{}", f.id), Some(json!({"is_first_party": false})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (third, _, _) = f
            .refresh_for(f.login().await["refresh_token"].as_str().unwrap(), later, None)
            .await;
        assert_eq!(aud(&third), API, "a third-party client's policies count for nothing");
        assert!(!f.active(&token).await, "and its issued policy tokens end");
    }
}

both_databases! {
    async fn account_changes_and_narrowed_policies_apply_to_issued_policy_tokens(db: Backend) {
        let f = mrrt(db).await;
        f.set_policies(json!([{"audience": BILLING, "scope": ["read:billing", "write:billing"]}])).await;
        let login = f.login().await;
        let user_id = claims(login["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (billing, _, body) = f
            .refresh_for(login["refresh_token"].as_str().unwrap(), BILLING, None)
            .await;
        assert_eq!(sorted_scope(body["scope"].as_str().unwrap()), ["offline_access", "openid", "read:billing", "write:billing"]);
        // The policy narrowed: introspection reports only what it still allows.
        f.set_policies(json!([{"audience": BILLING, "scope": ["read:billing"]}])).await;
        let answer = f.app.introspect(&f.id, &f.secret, &billing).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(sorted_scope(answer["scope"].as_str().unwrap()), ["offline_access", "openid", "read:billing"]);
        // Blocking the user ends it.
        let (status, body) = f
            .app
            .mgmt_call(Method::PATCH, &format!("/users/{}", urlencode(&user_id)), Some(json!({"blocked": true})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!f.active(&billing).await, "a blocked user's policy tokens end");
    }
}
