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
//!
//! Cookie headers are parsed and `Set-Cookie` values written with the
//! `cookie` crate.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use cookie::{Cookie, CookieBuilder, SameSite};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{Page, PageError};
use crate::http::{media_type, AppState};
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

/// The value of cookie `name` in the request, if any: the first of that name
/// in the `Cookie` headers (a browser lists the cookie with the longest path
/// first). Headers that are not visible ASCII and pairs without `=` are
/// skipped; values are taken as sent (no percent-decoding), without the
/// double quotes around them.
///
/// One edge differs from the hand-written parser this replaces: the `cookie`
/// crate trims spaces around the `=`, so `grantor_session = v` now names the
/// cookie `grantor_session` with value `v` (it used to be ignored). Browsers
/// never send that (RFC 6265 §4.2.1), and every value we read is a random
/// secret checked by its hash or in constant time, so a trimmed space can
/// only let the secret's holder present it; it cannot make a wrong one pass.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
        // All quotes at either end, balanced or not, as before (the crate's
        // `value_trimmed` removes one balanced pair only). Our values never
        // contain a quote, so this only matters for a hand-made header.
        .map(|v| v.trim_matches('"'))
}

/// A cookie of ours: HttpOnly, SameSite=Lax, Path=/, Secure on https issuers
/// and never a `Domain` (so a `__Host-` name stays valid); `max_age` in
/// seconds (a negative one counts as 0), or none for a cookie that lasts the
/// browser session. The dashboard narrows the path and SameSite of its own.
pub fn builder<'c>(
    name: &'c str,
    value: &'c str,
    secure: bool,
    max_age: Option<i64>,
) -> CookieBuilder<'c> {
    debug_assert!(
        secure || !name.starts_with("__Host-"),
        "a __Host- cookie must be Secure"
    );
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    match max_age {
        Some(seconds) => cookie.max_age(time::Duration::seconds(seconds.max(0))),
        None => cookie,
    }
}

/// A `Set-Cookie` value for [`builder`]'s cookie. The crate writes the
/// attributes in its own order (`HttpOnly; SameSite; Secure; Path; Max-Age`),
/// which browsers do not care about (RFC 6265 §5.2).
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    builder(name, value, secure, max_age).to_string()
}

/// A `Set-Cookie` value that deletes cookie `name`.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", secure, Some(0))
}

/// Bearer secrets are 43 base64url characters; anything else in a cookie is
/// ignored rather than trusted.
fn looks_like_token(value: &str) -> bool {
    grantor_domain::secret::is_base64url_32_bytes(value)
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
        if !media_type::is(req.headers(), &mime::APPLICATION_WWW_FORM_URLENCODED) {
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
    fn malformed_cookie_headers() {
        let found = |header: &'static [u8]| {
            let mut headers = HeaderMap::new();
            headers.append(COOKIE, HeaderValue::from_bytes(header).unwrap());
            headers.append(COOKIE, HeaderValue::from_static("grantor_csrf=second"));
            cookie(&headers, CSRF_COOKIE).map(str::to_owned)
        };
        // Pieces without `=`, empty pieces and empty names are skipped.
        assert_eq!(found(b"junk; ;; =x; grantor_csrf=v").as_deref(), Some("v"));
        // The first of a name wins, across headers too.
        assert_eq!(
            found(b"grantor_csrf=a; grantor_csrf=b").as_deref(),
            Some("a")
        );
        assert_eq!(found(b"other=a").as_deref(), Some("second"));
        // A header that is not visible ASCII is skipped whole.
        assert_eq!(found(b"grantor_csrf=\xff").as_deref(), Some("second"));
        // Names are exact: no prefix, suffix or case match.
        assert_eq!(
            found(b"xgrantor_csrf=a; GRANTOR_CSRF=b").as_deref(),
            Some("second")
        );
        // Values are not percent-decoded, may contain `=`, and lose every
        // double quote at either end, paired or not.
        assert_eq!(found(b"grantor_csrf=%41").as_deref(), Some("%41"));
        assert_eq!(found(b"grantor_csrf=a=b").as_deref(), Some("a=b"));
        assert_eq!(found(b"grantor_csrf=\"v\"").as_deref(), Some("v"));
        assert_eq!(found(b"grantor_csrf=\"v").as_deref(), Some("v"));
        assert_eq!(found(b"grantor_csrf=\"\"v\"").as_deref(), Some("v"));
        assert_eq!(found(b"grantor_csrf=").as_deref(), Some(""));
        // The one change from the hand-written parser: spaces around `=` are
        // trimmed (see `cookie`).
        assert_eq!(found(b"grantor_csrf = v").as_deref(), Some("v"));
        assert_eq!(found(b"grantor_csrf= v").as_deref(), Some("v"));
    }

    /// A `Set-Cookie` value as its `name=value` and its set of attributes,
    /// whose order does not matter to a browser.
    fn attributes(set_cookie: &str) -> (&str, std::collections::BTreeSet<&str>) {
        let mut parts = set_cookie.split("; ");
        (parts.next().unwrap(), parts.collect())
    }

    #[test]
    fn set_cookie_flags() {
        assert_eq!(
            attributes(&set_cookie("n", "v", true, Some(60))),
            attributes("n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure")
        );
        assert_eq!(
            attributes(&set_cookie("n", "v", false, None)),
            attributes("n=v; Path=/; HttpOnly; SameSite=Lax")
        );
        assert_eq!(
            attributes(&set_cookie("n", "v", false, Some(-5))),
            attributes("n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
        );
        assert_eq!(
            attributes(&clear_cookie("n", false)),
            attributes("n=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
        );
    }

    #[test]
    fn the_csrf_cookie_is_host_prefixed_under_https() {
        assert_eq!(csrf_cookie_name(false), "grantor_csrf");
        // A `__Host-` cookie must be Secure, Path=/ and without Domain, or
        // browsers drop it.
        let cookie = set_cookie(csrf_cookie_name(true), "v", true, None);
        assert_eq!(
            attributes(&cookie),
            attributes("__Host-grantor_csrf=v; Path=/; HttpOnly; SameSite=Lax; Secure")
        );
    }
}
