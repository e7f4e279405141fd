//! The media type a request body is sent as (`Content-Type`), read with the
//! `mime` crate. Every extractor of a body asks here: `FormOrJson`, `ApiJson`
//! and `CheckedForm`.
//!
//! Only the type and subtype are parsed; parameters are not. We read none of
//! them (JSON is UTF-8 by RFC 8259, a form body is percent-encoded ASCII), and
//! these extractors have always accepted whatever follows the first `;`,
//! including what `mime`'s parameter grammar refuses: a space before the `;`
//! (`application/json ; charset=utf-8`), a parameter without a value
//! (`application/json; charset`), an unclosed quote. Giving the whole header
//! to `mime` would turn those requests into 415s; parsing the part before the
//! `;` keeps acceptance as it was, and type and subtype still compare without
//! regard to case (RFC 9110 §8.3.1).

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use mime::Mime;

/// The type and subtype `Content-Type` names, without parameters; `None`
/// when the header is absent, not visible ASCII, or not a media type.
pub fn of(headers: &HeaderMap) -> Option<Mime> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.parse().ok()
}

/// Whether the body is sent as `expected` (compared by type and subtype).
pub fn is(headers: &HeaderMap, expected: &Mime) -> bool {
    of(headers).is_some_and(|m| m.essence_str() == expected.essence_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_bytes(content_type).unwrap());
        headers
    }

    #[test]
    fn parameters_and_case_do_not_matter() {
        for accepted in [
            "application/json",
            "APPLICATION/JSON",
            "Application/Json; charset=utf-8",
            " application/json ",
            "application/json;",
            // What `mime` alone would refuse, and we always accepted.
            "application/json ; charset=utf-8",
            "application/json; charset",
            "application/json; charset=\"utf-8",
            "application/json;\tcharset=utf-8",
        ] {
            assert!(
                is(&headers(accepted.as_bytes()), &mime::APPLICATION_JSON),
                "{accepted}"
            );
        }
    }

    #[test]
    fn other_types_are_not_json() {
        for refused in [
            "",
            "application",
            "application/jsonx",
            "application/vnd.api+json",
            "application/x-www-form-urlencoded",
            "application / json",
            "text/json",
            "*/*",
        ] {
            assert!(
                !is(&headers(refused.as_bytes()), &mime::APPLICATION_JSON),
                "{refused}"
            );
        }
        // Not visible ASCII: never a media type.
        assert!(!is(
            &headers(b"application/json\xff"),
            &mime::APPLICATION_JSON
        ));
        assert!(!is(&HeaderMap::new(), &mime::APPLICATION_JSON));
    }
}
