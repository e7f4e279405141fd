//! The URLs a client registers (`callbacks`, `allowed_logout_urls`,
//! `allowed_origins`, `web_origins`): parsed with the WHATWG parser of the
//! `url` crate, then checked against the rules of CONTRACT §6.5.
//!
//! - Schemes that run code or read local data in a browser (`javascript:`,
//!   `data:`, `vbscript:`, `file:`, `blob:`, `about:`, …) are refused.
//! - `http`, `https` (and the other WHATWG special schemes) need a host,
//!   written as `scheme://host`, without user name or password.
//! - Private-use schemes of native apps stay allowed (RFC 8252 §7.1:
//!   `com.example.app:/callback`, `myapp://cb`).
//! - No fragment (RFC 6749 §3.1.2), no whitespace or control characters, no
//!   backslash, at most 2048 characters.
//!
//! The parser only decides whether a value is acceptable: the value is
//! stored as sent, and `/authorize` compares `redirect_uri` with it by exact
//! string equality. That is also why whitespace and control characters are
//! refused rather than left to the parser, which would silently drop them.

use url::Url;

use crate::ValidationError;

/// The longest URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

/// Schemes never accepted: they run script, show attacker-chosen content
/// under the browser's authority, or reach local files.
pub const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "vbscript",
    "livescript",
    "data",
    "file",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "mhtml",
    "jar",
    "ms-its",
    "res",
];

/// Which list of a client a URL belongs to; the name is the Auth0 member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlField {
    Callbacks,
    AllowedLogoutUrls,
    AllowedOrigins,
    WebOrigins,
    BackchannelLogoutUrls,
}

impl UrlField {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callbacks => "callbacks",
            Self::AllowedLogoutUrls => "allowed_logout_urls",
            Self::AllowedOrigins => "allowed_origins",
            Self::WebOrigins => "web_origins",
            Self::BackchannelLogoutUrls => "oidc_logout.backchannel_logout_urls",
        }
    }
}

/// Parses `raw` and checks it against the rules above. `Ok` carries the
/// parsed URL (for reading its scheme or origin), never a rewritten string.
pub fn parse_registered_url(raw: &str) -> Result<Url, String> {
    if raw.is_empty() {
        return Err("is empty".to_owned());
    }
    if raw.len() > MAX_URL_LENGTH {
        return Err(format!("is longer than {MAX_URL_LENGTH} characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".to_owned());
    }
    if raw.contains('\\') {
        return Err("contains a backslash".to_owned());
    }
    if raw.contains('#') {
        return Err("has a fragment (#), which a redirect URI must not have".to_owned());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    let scheme = url.scheme();
    if DANGEROUS_SCHEMES.contains(&scheme) {
        return Err(format!("uses the scheme '{scheme}:', which is not allowed"));
    }
    // What follows `scheme:` in the text as sent (the parser lowercases the
    // scheme but the length is the same).
    let rest = &raw[scheme.len() + 1..];
    if url.is_special() {
        let authority = rest.strip_prefix("//").unwrap_or("");
        let host = url.host_str().unwrap_or("");
        if authority.is_empty() || authority.starts_with('/') || host.is_empty() {
            return Err(format!("must name a host ({scheme}://host/…)"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password".to_owned());
        }
    } else {
        if rest.is_empty() {
            return Err("has nothing after its scheme".to_owned());
        }
        // `localhost:3000/cb` parses as scheme `localhost`: a forgotten
        // `http://`, not a native app's scheme.
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("looks like host:port without http:// or https://".to_owned());
        }
    }
    Ok(url)
}

/// Checks one registered URL; the message names the member and its index,
/// e.g. `callbacks[0]: 'javascript:…' uses the scheme 'javascript:', …`.
pub fn validate_url(field: UrlField, index: usize, raw: &str) -> Result<(), ValidationError> {
    parse_registered_url(raw).map(|_| ()).map_err(|reason| {
        // The value is echoed shortened: it can be up to the body limit long.
        let shown: String = raw.chars().take(100).collect();
        let ellipsis = if shown.len() < raw.len() { "…" } else { "" };
        ValidationError::new(format!(
            "{}[{index}]: '{shown}{ellipsis}' {reason}",
            field.as_str()
        ))
    })
}

/// Checks every URL of a list.
pub fn validate_urls(field: UrlField, urls: &[String]) -> Result<(), ValidationError> {
    urls.iter()
        .enumerate()
        .try_for_each(|(i, url)| validate_url(field, i, url))
}

/// Whether the browser may be sent to `raw`: it must pass the registration
/// rules. Applied again at redirect time (logout, `/authorize`) so that a
/// value stored before these rules, or written around the API, is never
/// followed.
pub fn is_safe_redirect(raw: &str) -> bool {
    parse_registered_url(raw).is_ok()
}

/// The Content-Security-Policy source expression that matches `raw`: its
/// origin for http(s) (`https://app.example:8443`), its scheme for a native
/// app's URL (`com.example.app:`); `None` when `raw` is not acceptable.
/// The result contains no whitespace, `;` or `,`, so it can be put in a
/// header as it is.
pub fn csp_source(raw: &str) -> Option<String> {
    let url = parse_registered_url(raw).ok()?;
    let source = if url.is_special() {
        url.origin().ascii_serialization()
    } else {
        format!("{}:", url.scheme())
    };
    let clean = source
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
    (clean && source != "null").then_some(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> bool {
        validate_url(UrlField::Callbacks, 0, url).is_ok()
    }

    #[test]
    fn accepts_web_and_native_urls() {
        for url in [
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost:3000/callback",
            "https://[::1]:8443/cb",
            "com.example.app:/callback",
            "com.example.app://callback",
            "myapp://cb",
            "https://*.example.com/cb",
            "https://bücher.example/cb",
        ] {
            assert!(ok(url), "{url} should be accepted");
        }
    }

    #[test]
    fn refuses_dangerous_schemes_in_any_case() {
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "javascript://example.com/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "blob:https://app.example/uuid",
            "about:blank",
            "filesystem:https://app.example/temporary/x",
            "view-source:https://app.example/",
        ] {
            let e = validate_url(UrlField::Callbacks, 2, url).unwrap_err();
            assert!(e.0.starts_with("callbacks[2]: "), "{e}");
            assert!(e.0.contains("not allowed"), "{url}: {e}");
        }
    }

    #[test]
    fn refuses_malformed_urls() {
        for url in [
            "",
            "not a url",
            "/relative/cb",
            "https:///nohost",
            "https:nohost/cb",
            "https:\\\\evil.example/cb",
            "https://app.example/cb#frag",
            "https://app.example/cb#",
            " https://app.example/cb",
            "https://app.example/c\tb",
            "java\nscript:alert(1)",
            "https://user:pw@app.example/cb",
            "localhost:3000/cb",
            "myapp:",
            "https://",
        ] {
            assert!(!ok(url), "{url:?} should be refused");
        }
        assert!(!ok(&format!("https://app.example/{}", "a".repeat(2100))));
    }

    #[test]
    fn long_values_are_echoed_shortened() {
        let long = format!("javascript:{}", "a".repeat(500));
        let e = validate_url(UrlField::AllowedLogoutUrls, 0, &long).unwrap_err();
        assert!(e.0.len() < 250, "{e}");
        assert!(e.0.starts_with("allowed_logout_urls[0]: 'javascript:aaa"));
    }

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://App.Example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("http://127.0.0.1:3000/cb").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            csp_source("https://bücher.example/cb").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        assert_eq!(
            csp_source("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("javascript:alert(1)"), None);
        assert!(is_safe_redirect("https://app.example/bye"));
        assert!(!is_safe_redirect("data:text/html,hi"));
    }
}
