//! `POST /oauth/introspect` (RFC 7662) for confidential clients: the answer
//! `flows::introspect` gives, rendered as RFC 7662 JSON.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{self, Endpoint};
use super::{AuthApiError, FormOrJson};
use crate::flows::introspect::{self, ActiveAccessToken, ActiveRefreshToken, Introspection};
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct IntrospectForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn post_introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormOrJson(form): FormOrJson<IntrospectForm>,
) -> Result<Json<Value>, AuthApiError> {
    let client = client::authenticate(
        &state,
        Endpoint::Introspect,
        &headers,
        form.client_id,
        form.client_secret,
    )
    .await?;
    let now = state.clock.now();
    let answer = introspect::introspect(&state, &client, form.token.as_deref(), now).await?;
    Ok(Json(render(&answer, state.issuer.as_str())))
}

fn render(answer: &Introspection, issuer: &str) -> Value {
    match answer {
        Introspection::Inactive => json!({ "active": false }),
        Introspection::AccessToken(token) => access_token(token),
        Introspection::RefreshToken(token) => refresh_token(token, issuer),
    }
}

/// The token's own claims, `azp` as `client_id`; a missing claim is `null`,
/// except `sid`, which is left out.
fn access_token(token: &ActiveAccessToken) -> Value {
    // `aud` as the token writes it: one string, or an array of several.
    let aud = match token.audiences.as_slice() {
        [] => Value::Null,
        [one] => json!(one),
        several => json!(several),
    };
    let mut body = json!({
        "active": true,
        "token_type": "access_token",
        "iss": token.issuer,
        "sub": token.subject,
        "aud": aud,
        "iat": token.issued_at,
        "exp": token.expires_at,
        "scope": token.scope,
        "client_id": token.client_id,
        "jti": token.jti,
    });
    if let Some(jkt) = &token.dpop_jkt {
        body["cnf"] = json!({ "jkt": jkt });
    }
    if let Some(sid) = &token.session_id {
        body["sid"] = json!(sid);
    }
    body
}

/// `exp` only when the token expires; `sid` only when it is bound to a session.
fn refresh_token(token: &ActiveRefreshToken, issuer: &str) -> Value {
    let mut body = json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": token.client_id,
        "sub": token.user_id,
        "aud": token.audience,
        "scope": token.scope,
        "iat": token.issued_at.unix_seconds(),
        "iss": issuer,
    });
    if let Some(exp) = token.expires_at {
        body["exp"] = json!(exp.unix_seconds());
    }
    if let Some(jkt) = &token.dpop_jkt {
        body["cnf"] = json!({ "jkt": jkt });
    }
    if let Some(sid) = &token.session_id {
        body["sid"] = json!(sid);
    }
    body
}
