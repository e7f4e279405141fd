//! `GET /userinfo` (OIDC Core §5.3): the claims of the access token's subject,
//! released by the token's scopes (`flows::userinfo` decides whose).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::claims::add_profile_claims;
use crate::flows::userinfo::{self, Refusal, UserInfo};
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

fn render(info: &UserInfo) -> Value {
    let mut body = json!({ "sub": info.user.user_id.as_str() });
    add_profile_claims(&mut body, &info.user, &info.scope);
    body
}

pub async fn get_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return invalid_token("Missing access token");
    };
    match userinfo::userinfo(&state, token, state.clock.now()).await {
        Ok(Ok(info)) => Json(render(&info)).into_response(),
        Ok(Err(Refusal::InvalidToken)) => invalid_token("Invalid access token"),
        Ok(Err(Refusal::UserGone)) => invalid_token("The user no longer exists"),
        Err(e) => super::AuthApiError::from(e).into_response(),
    }
}
