//! `GET /userinfo` (OIDC Core §5.3): the claims of the access token's subject,
//! released by the token's scopes (`flows::userinfo` decides whose).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::claims::add_profile_claims;
use crate::flows::userinfo::{self, Refusal, Scheme, UserInfo};
use crate::http::extract::{bearer_token, dpop_proofs, dpop_token};
use crate::http::AppState;

fn invalid_token(description: &'static str) -> Response {
    refusal(
        "invalid_token",
        description,
        "Bearer error=\"invalid_token\"",
    )
}

/// RFC 9449 §7.1: a DPoP refusal names the scheme and the algorithms.
fn invalid_dpop(error: &'static str, description: &'static str) -> Response {
    let challenge = format!(
        "DPoP error=\"{error}\", algs=\"{}\"",
        crate::flows::dpop::SIGNING_ALGS.join(" ")
    );
    let mut response = refusal(error, description, "");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn refusal(error: &str, description: &'static str, challenge: &'static str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if !challenge.is_empty() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

fn render(info: &UserInfo) -> Value {
    let mut body = json!({ "sub": info.user.user_id.as_str() });
    add_profile_claims(&mut body, &info.user, &info.scope);
    body
}

pub async fn get_userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let proofs = dpop_proofs(&headers);
    let (token, scheme) = if let Some(token) = bearer_token(&headers) {
        (token, Scheme::Bearer)
    } else if let Some(token) = dpop_token(&headers) {
        let method = method.as_str();
        (
            token,
            Scheme::Dpop {
                proofs: &proofs,
                method,
            },
        )
    } else {
        return invalid_token("Missing access token");
    };
    match userinfo::userinfo(&state, token, scheme, state.clock.now()).await {
        Ok(Ok(info)) => Json(render(&info)).into_response(),
        Ok(Err(Refusal::InvalidToken)) => invalid_token("Invalid access token"),
        Ok(Err(Refusal::UserGone)) => invalid_token("The user no longer exists"),
        Ok(Err(Refusal::BadProof)) => invalid_dpop(
            "invalid_dpop_proof",
            "A DPoP-bound access token needs the DPoP scheme and a proof made with its key",
        ),
        Ok(Err(Refusal::UseNonce)) => invalid_dpop(
            "use_dpop_nonce",
            "The DPoP proof must carry the nonce sent in the DPoP-Nonce header",
        ),
        Err(e) => super::AuthApiError::from(e).into_response(),
    }
}
