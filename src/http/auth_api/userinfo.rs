//! `GET /userinfo` (OIDC Core §5.3): the claims of the access token's subject,
//! released by the token's scopes. The token must be ours, unexpired, include
//! the userinfo audience and carry `openid`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::ScopeSet;
use serde_json::json;

use crate::flows::issue::add_profile_claims;
use crate::http::extract::bearer_token;
use crate::http::AppState;

fn invalid_token(description: &'static str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": description})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

pub async fn get_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return invalid_token("Missing access token");
    };
    let now = state.clock.now().unix_seconds();
    let userinfo = state.issuer.url("userinfo");
    let Ok(claims) =
        state
            .keys
            .verify_access_token(token, state.issuer.as_str(), Some(&userinfo), now)
    else {
        return invalid_token("Invalid access token");
    };
    let scope = ScopeSet::parse(claims["scope"].as_str().unwrap_or_default());
    if !scope.contains("openid") {
        return invalid_token("Invalid access token");
    }
    let Some(user_id) = claims["sub"].as_str() else {
        return invalid_token("Invalid access token");
    };
    match state.store.user(user_id).await {
        Ok(Some(user)) if !user.blocked => {
            let mut body = json!({ "sub": user.user_id });
            add_profile_claims(&mut body, &user, &scope);
            Json(body).into_response()
        }
        Ok(_) => invalid_token("The user no longer exists"),
        Err(e) => super::AuthApiError::from(e).into_response(),
    }
}
