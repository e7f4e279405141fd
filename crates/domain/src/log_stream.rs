//! Auth0 log streams of type `http` (`/api/v2/log-streams`): where audit
//! events are POSTed in batches, which categories of events, and whether the
//! stream runs. The Management API's bodies become a [`LogStreamPatch`];
//! [`LogStream::create`] and [`LogStream::apply`] check every member.

use crate::{Timestamp, ValidationError};

/// `active` (events are staged and sent), `paused` (set by an update:
/// nothing is staged or sent for it) or `suspended` (set by grantor after
/// delivery kept failing; an update back to `active` resumes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStreamStatus {
    Active,
    Paused,
    Suspended,
}

impl LogStreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// `httpContentFormat`: how a batch's events are laid out in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentFormat {
    /// One JSON array of the events.
    JsonArray,
    /// One event per line.
    JsonLines,
    /// One event per request, as a JSON object (batches of one).
    JsonObject,
}

impl ContentFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonArray => "JSONARRAY",
            Self::JsonLines => "JSONLINES",
            Self::JsonObject => "JSONOBJECT",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "JSONARRAY" => Some(Self::JsonArray),
            "JSONLINES" => Some(Self::JsonLines),
            "JSONOBJECT" => Some(Self::JsonObject),
            _ => None,
        }
    }
}

/// Auth0's log stream filter categories (`filters[].name`, `type: category`).
pub const CATEGORIES: &[&str] = &[
    "auth.ancillary.fail",
    "auth.ancillary.success",
    "auth.login.fail",
    "auth.login.notification",
    "auth.login.success",
    "auth.logout.fail",
    "auth.logout.success",
    "auth.signup.fail",
    "auth.signup.success",
    "auth.silent_auth.fail",
    "auth.silent_auth.success",
    "auth.token_exchange.fail",
    "auth.token_exchange.success",
    "management.fail",
    "management.success",
    "system.notification",
    "user.fail",
    "user.notification",
    "user.success",
    "other",
];

/// One `httpCustomHeaders` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHeader {
    pub header: String,
    pub value: String,
}

/// How a stream's deliveries have gone lately (grantor's own; shown on the
/// dashboard, not in Auth0's stream object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStreamHealth {
    /// Failed batch attempts since the last delivered one.
    pub consecutive_failures: i64,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A log stream of type `http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub id: String,
    pub name: String,
    pub status: LogStreamStatus,
    /// `sink.httpEndpoint`: an https URL (http is accepted too, see
    /// [`check_endpoint`]).
    pub endpoint: String,
    /// `sink.httpContentType`, sent as the request's `Content-Type`.
    pub content_type: String,
    pub content_format: ContentFormat,
    /// `sink.httpAuthorization`, sent as the `Authorization` header; a
    /// secret, never rendered.
    pub authorization: Option<String>,
    pub custom_headers: Vec<CustomHeader>,
    /// Category names; empty means every event.
    pub filters: Vec<String>,
    pub health: LogStreamHealth,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The members of a create or update body (Auth0's `POST` and `PATCH
/// /log-streams`), as values; absent members leave the stream as it is.
#[derive(Debug, Clone, Default)]
pub struct LogStreamPatch {
    pub name: Option<String>,
    pub status: Option<String>,
    pub endpoint: Option<String>,
    pub content_type: Option<String>,
    pub content_format: Option<String>,
    /// `Some("")` removes it.
    pub authorization: Option<String>,
    pub custom_headers: Option<Vec<CustomHeader>>,
    /// `(type, name)` pairs.
    pub filters: Option<Vec<(String, String)>>,
}

impl LogStreamPatch {
    pub const MAX_NAME_LENGTH: usize = 128;
    pub const MAX_URL_LENGTH: usize = 2048;
    pub const MAX_HEADERS: usize = 20;
    pub const MAX_HEADER_VALUE_LENGTH: usize = 4096;
}

/// Headers a stream may not set: grantor sets them itself, or they would
/// change how the request is framed.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "te",
    "upgrade",
    "expect",
    "keep-alive",
    "proxy-authorization",
    "trailer",
];

/// `httpEndpoint` must be an absolute https URL with a host and without
/// credentials or a fragment. Plain http is accepted as well (for receivers
/// on a private network and for tests); production streams should use https.
pub fn check_endpoint(raw: &str) -> Result<(), ValidationError> {
    let bad = |why: &str| {
        Err(ValidationError::new(format!(
            "sink.httpEndpoint must be an https URL ({why})"
        )))
    };
    if raw.is_empty() || raw.len() > LogStreamPatch::MAX_URL_LENGTH {
        return bad("empty or too long");
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    let Ok(url) = url::Url::parse(raw) else {
        return bad("not an absolute URL");
    };
    if !matches!(url.scheme(), "https" | "http") {
        return bad("wrong scheme");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("it contains credentials");
    }
    if url.fragment().is_some() {
        return bad("it has a fragment");
    }
    Ok(())
}

fn check_header(h: &CustomHeader) -> Result<(), ValidationError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if h.header.is_empty() || h.header.len() > 256 || !h.header.chars().all(token) {
        return Err(ValidationError::new(
            "sink.httpCustomHeaders: header must be an HTTP header name",
        ));
    }
    if RESERVED_HEADERS.contains(&h.header.to_ascii_lowercase().as_str()) {
        return Err(ValidationError::new(format!(
            "sink.httpCustomHeaders: the header {} cannot be set",
            h.header
        )));
    }
    check_header_value(&h.value, "sink.httpCustomHeaders: value")
}

fn check_header_value(value: &str, what: &str) -> Result<(), ValidationError> {
    if value.len() > LogStreamPatch::MAX_HEADER_VALUE_LENGTH
        || value.chars().any(|c| c.is_control() || !c.is_ascii())
    {
        return Err(ValidationError::new(format!(
            "{what} must be printable ASCII of at most {} characters",
            LogStreamPatch::MAX_HEADER_VALUE_LENGTH
        )));
    }
    Ok(())
}

impl LogStream {
    /// A new active stream from a create body: `name`, `sink.httpEndpoint`,
    /// `sink.httpContentFormat` and `sink.httpContentType` are required.
    pub fn create(
        id: String,
        patch: &LogStreamPatch,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let missing =
            |what: &str| ValidationError::new(format!("Missing required property: {what}"));
        if patch.name.is_none() {
            return Err(missing("name"));
        }
        if patch.endpoint.is_none() {
            return Err(missing("sink.httpEndpoint"));
        }
        if patch.content_format.is_none() {
            return Err(missing("sink.httpContentFormat"));
        }
        if patch.content_type.is_none() {
            return Err(missing("sink.httpContentType"));
        }
        let blank = Self {
            id,
            name: String::new(),
            status: LogStreamStatus::Active,
            endpoint: String::new(),
            content_type: String::new(),
            content_format: ContentFormat::JsonArray,
            authorization: None,
            custom_headers: vec![],
            filters: vec![],
            health: LogStreamHealth::default(),
            created_at: now,
            updated_at: now,
        };
        blank.apply(patch, now)
    }

    /// The stream with every present member of `patch` applied, each
    /// checked; the first invalid member is the error. `status` may be set
    /// to `active` or `paused`; `suspended` is grantor's to set. Going back to
    /// `active` clears the failure count.
    pub fn apply(&self, patch: &LogStreamPatch, now: Timestamp) -> Result<Self, ValidationError> {
        let mut s = self.clone();
        if let Some(name) = &patch.name {
            if name.trim().is_empty() || name.chars().count() > LogStreamPatch::MAX_NAME_LENGTH {
                return Err(ValidationError::new("name must be 1 to 128 characters"));
            }
            s.name = name.clone();
        }
        if let Some(status) = &patch.status {
            s.status = match LogStreamStatus::parse(status) {
                Some(LogStreamStatus::Suspended) | None => {
                    return Err(ValidationError::new("status must be active or paused"))
                }
                Some(status) => status,
            };
            if s.status == LogStreamStatus::Active && self.status != LogStreamStatus::Active {
                s.health = LogStreamHealth::default();
            }
        }
        if let Some(endpoint) = &patch.endpoint {
            check_endpoint(endpoint)?;
            s.endpoint = endpoint.clone();
        }
        if let Some(ct) = &patch.content_type {
            if ct.is_empty() {
                return Err(ValidationError::new(
                    "sink.httpContentType must not be empty",
                ));
            }
            check_header_value(ct, "sink.httpContentType")?;
            s.content_type = ct.clone();
        }
        if let Some(format) = &patch.content_format {
            s.content_format = ContentFormat::parse(format).ok_or_else(|| {
                ValidationError::new(
                    "sink.httpContentFormat must be JSONARRAY, JSONLINES or JSONOBJECT",
                )
            })?;
        }
        if let Some(auth) = &patch.authorization {
            check_header_value(auth, "sink.httpAuthorization")?;
            s.authorization = Some(auth.clone()).filter(|a| !a.is_empty());
        }
        if let Some(headers) = &patch.custom_headers {
            if headers.len() > LogStreamPatch::MAX_HEADERS {
                return Err(ValidationError::new(
                    "sink.httpCustomHeaders holds at most 20 headers",
                ));
            }
            headers.iter().try_for_each(check_header)?;
            s.custom_headers = headers.clone();
        }
        if let Some(filters) = &patch.filters {
            let mut names = Vec::with_capacity(filters.len());
            for (kind, name) in filters {
                if kind != "category" {
                    return Err(ValidationError::new("filters[].type must be category"));
                }
                if !CATEGORIES.contains(&name.as_str()) {
                    return Err(ValidationError::new(format!(
                        "filters[].name: unknown category {name}"
                    )));
                }
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            s.filters = names;
        }
        s.updated_at = now;
        Ok(s)
    }

    /// Whether an event of `category` goes to this stream.
    pub fn wants(&self, category: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| f == category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> LogStreamPatch {
        LogStreamPatch {
            name: Some("s".into()),
            endpoint: Some("https://logs.example.com/in".into()),
            content_type: Some("application/json".into()),
            content_format: Some("JSONARRAY".into()),
            ..LogStreamPatch::default()
        }
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        for ok in ["https://a.example/x", "http://127.0.0.1:9/"] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ftp://a.example/",
            "javascript:alert(1)",
            "https://user:pw@a.example/",
            "https://a.example/#x",
            "/relative",
            "https://a.example/ x",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_requires_the_sink_and_checks_filters_and_headers() {
        let now = Timestamp(1);
        let s = LogStream::create("id".into(), &body(), now).unwrap();
        assert_eq!(s.status, LogStreamStatus::Active);
        assert!(s.wants("anything"));
        let mut p = body();
        p.endpoint = None;
        assert!(LogStream::create("id".into(), &p, now).is_err());
        let mut p = body();
        p.filters = Some(vec![("category".into(), "nope".into())]);
        assert!(LogStream::create("id".into(), &p, now).is_err());
        let mut p = body();
        p.custom_headers = Some(vec![CustomHeader {
            header: "Host".into(),
            value: "x".into(),
        }]);
        assert!(LogStream::create("id".into(), &p, now).is_err());
        let mut p = body();
        p.status = Some("suspended".into());
        assert!(LogStream::create("id".into(), &p, now).is_err());
    }
}
