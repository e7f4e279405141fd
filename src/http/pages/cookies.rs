//! Cookies of the browser pages, and CSRF protection by double submit: a
//! random `grantor_csrf` cookie (HttpOnly, SameSite=Lax) whose value every
//! form repeats in a hidden `csrf` field; [`CheckedForm`] compares the two in
//! constant time before a handler sees the form.
//!
//! Under an https issuer the cookie is `__Host-grantor_csrf`: the browser
//! then only accepts it with `Secure`, `Path=/` and no `Domain`, so a
//! neighbouring subdomain (or a plain-http page) cannot plant a token of its
//! choosing. The token is also replaced at every sign-in (end user and
//! administrator), so one planted before signing in is useless afterwards.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_TYPE, COOKIE};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{Page, PageError};
use crate::http::AppState;
use crate::secrets;

/// The browser session cookie: a random secret whose hash names the session.
pub const SESSION_COOKIE: &str = "grantor_session";
pub const CSRF_COOKIE: &str = "grantor_csrf";
/// [`CSRF_COOKIE`] under an https issuer.
pub const CSRF_COOKIE_HOST: &str = "__Host-grantor_csrf";

/// The CSRF cookie's name: with the `__Host-` prefix when cookies are `Secure`.
pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        CSRF_COOKIE_HOST
    } else {
        CSRF_COOKIE
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure on https
/// issuers; `max_age` in seconds, or a cookie for the browser session.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", max_age.max(0)));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", secure, Some(0))
}

/// Bearer secrets are 43 base64url characters; anything else in a cookie is
/// ignored rather than trusted.
fn looks_like_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF token a page with a form embeds: the browser's, or a new one.
pub struct CsrfToken {
    value: String,
    is_new: bool,
}

impl CsrfToken {
    pub fn for_page(headers: &HeaderMap, secure: bool) -> Self {
        match cookie(headers, csrf_cookie_name(secure)).filter(|v| looks_like_token(v)) {
            Some(value) => Self {
                value: value.to_owned(),
                is_new: false,
            },
            None => Self::fresh(),
        }
    }

    /// A new token whatever the browser holds: at sign-in, so that a token
    /// known before (planted, or read over someone's shoulder) stops working.
    pub fn fresh() -> Self {
        Self {
            value: secrets::bearer_token(),
            is_new: true,
        }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Sets the cookie on `page` when the token is new.
    pub fn attach(self, page: Page, secure: bool) -> Page {
        if self.is_new {
            page.with_cookie(set_cookie(
                csrf_cookie_name(secure),
                &self.value,
                secure,
                None,
            ))
        } else {
            page
        }
    }
}

/// A form body whose `csrf` field matched the `grantor_csrf` cookie.
pub struct CheckedForm<T>(pub T);

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let name = csrf_cookie_name(state.issuer.is_https());
        let expected = cookie(req.headers(), name).map(str::to_owned);
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(PageError::bad_request("The form was not sent as a form."));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| PageError::bad_request("The form could not be read."))?;
        let presented = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .ok()
            .and_then(|f| f.csrf);
        let valid = match (expected, presented) {
            (Some(expected), Some(presented)) => {
                looks_like_token(&expected)
                    && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        };
        if !valid {
            tracing::info!("form refused: CSRF token missing or wrong");
            return Err(PageError::csrf());
        }
        if crate::http::nul::in_form(&bytes) {
            return Err(PageError::bad_request(crate::http::nul::MESSAGE));
        }
        serde_urlencoded::from_bytes::<T>(&bytes)
            .map(CheckedForm)
            .map_err(|_| PageError::bad_request("The form is malformed."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; grantor_csrf=xyz"));
        headers.append(COOKIE, HeaderValue::from_static("grantor_session=s"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("s"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn set_cookie_flags() {
        assert_eq!(
            set_cookie("n", "v", true, Some(60)),
            "n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert_eq!(
            clear_cookie("n", false),
            "n=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn the_csrf_cookie_is_host_prefixed_under_https() {
        assert_eq!(csrf_cookie_name(false), "grantor_csrf");
        // A `__Host-` cookie must be Secure, Path=/ and without Domain, or
        // browsers drop it.
        let cookie = set_cookie(csrf_cookie_name(true), "v", true, None);
        assert!(cookie.starts_with("__Host-grantor_csrf=v; "), "{cookie}");
        assert!(cookie.contains("; Path=/;") && cookie.ends_with("; Secure"));
        assert!(!cookie.to_ascii_lowercase().contains("domain"));
    }
}
