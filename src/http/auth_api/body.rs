//! `FormOrJson<T>`: the Authentication API takes form and JSON bodies alike.
//!
//! Auth0's SDKs send JSON with `null` and `""` for unset optionals, so both are
//! dropped before `T` sees the body: every member of `T` is then either a real
//! value or absent (reference §1.6).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use grantor_domain::OAuthError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::AuthApiError;
use crate::http::media_type;

pub struct FormOrJson<T>(pub T);

/// The two encodings a body may come in (its `Content-Type`).
enum Encoding {
    Form,
    Json,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormOrJson<T> {
    type Rejection = AuthApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // `of` leaves parameters out, so `==` compares type and subtype.
        let encoding = match media_type::of(req.headers()) {
            Some(m) if m == mime::APPLICATION_WWW_FORM_URLENCODED => Some(Encoding::Form),
            Some(m) if m == mime::APPLICATION_JSON => Some(Encoding::Json),
            _ => None,
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            AuthApiError::Status(
                rejection.status(),
                "invalid_request",
                "The request body could not be read (it may be too large)".to_owned(),
            )
        })?;
        let object =
            match encoding {
                Some(Encoding::Form) => {
                    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                        .map_err(|_| OAuthError::invalid_request("Malformed form body"))?;
                    let mut map = Map::new();
                    for (key, value) in pairs {
                        if map.contains_key(&key) {
                            // RFC 6749 §3.1: parameters must not be included more than once.
                            return Err(OAuthError::invalid_request(format!(
                                "Duplicate parameter: {key}"
                            ))
                            .into());
                        }
                        if !value.is_empty() {
                            map.insert(key, Value::String(value));
                        }
                    }
                    map
                }
                Some(Encoding::Json) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(map)) => map
                        .into_iter()
                        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                        .collect(),
                    _ => {
                        return Err(OAuthError::invalid_request(
                            "Malformed JSON body: expected an object",
                        )
                        .into())
                    }
                },
                None => return Err(AuthApiError::Status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "invalid_request",
                    "Content-Type must be application/x-www-form-urlencoded or application/json"
                        .to_owned(),
                )),
            };
        if object
            .iter()
            .any(|(k, v)| k.contains('\0') || crate::http::nul::in_json(v))
        {
            return Err(OAuthError::invalid_request(crate::http::nul::MESSAGE).into());
        }
        serde_json::from_value(Value::Object(object))
            .map(FormOrJson)
            .map_err(|e| {
                OAuthError::invalid_request(format!("Invalid request parameter: {e}")).into()
            })
    }
}
