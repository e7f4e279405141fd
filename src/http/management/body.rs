//! `ApiJson<T>`: Management API request bodies. JSON only; unknown members are
//! refused by `#[serde(deny_unknown_fields)]` on every DTO, so a bad body is a
//! 400 before any handler code runs and nothing is written.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::http::media_type;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !media_type::is(req.headers(), &mime::APPLICATION_JSON) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
                Some("unsupported_media_type"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "Request body is too large"
            } else {
                "Request body could not be read"
            };
            ApiError::new(status, message, Some("invalid_body"))
        })?;
        if crate::http::nul::in_json_text(&bytes) {
            return Err(ApiError::invalid_body(crate::http::nul::MESSAGE));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::invalid_body(format!("Payload validation error: {e}")))
    }
}
