//! Shared Signals Framework 1.0 streams (`ops/ssf.rs`): what a receiver
//! registered, and what a poll (RFC 8936) returns.

use grantor_domain::Timestamp;

use crate::OutboxMessage;

/// RFC 8935 push delivery (`delivery.method`).
pub const SSF_PUSH_METHOD: &str = "urn:ietf:rfc:8935";
/// RFC 8936 poll delivery (`delivery.method`).
pub const SSF_POLL_METHOD: &str = "urn:ietf:rfc:8936";

/// CAEP 1.0 session revoked: one per ended session.
pub const CAEP_SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// RISC 1.0 tokens revoked: one per revocation that covers refresh tokens
/// or grants.
pub const OAUTH_TOKENS_REVOKED: &str =
    "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
/// SSF 1.0 verification (§8.1.4): sent on request, whatever was requested.
pub const SSF_VERIFICATION: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// The event types grantor transmits (`events_supported`), verification aside.
pub const SSF_EVENTS_SUPPORTED: [&str; 2] = [CAEP_SESSION_REVOKED, OAUTH_TOKENS_REVOKED];

/// A stream's status (SSF 1.0 §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsfStatus {
    /// Events are transmitted.
    Enabled,
    /// Events are held and transmitted once the stream is enabled again.
    Paused,
    /// Events are dropped.
    Disabled,
}

impl SsfStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SsfStatus::Enabled => "enabled",
            SsfStatus::Paused => "paused",
            SsfStatus::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "enabled" => Some(SsfStatus::Enabled),
            "paused" => Some(SsfStatus::Paused),
            "disabled" => Some(SsfStatus::Disabled),
            _ => None,
        }
    }
}

/// One SSF stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfStream {
    pub id: String,
    /// The Management API client that created it: its only reader and
    /// writer, and the `aud` of its events.
    pub client_id: String,
    /// `SSF_PUSH_METHOD` or `SSF_POLL_METHOD`.
    pub delivery_method: String,
    /// Where pushes go (push only).
    pub endpoint_url: Option<String>,
    /// Sent as `Authorization` with each push; never rendered.
    pub authorization_header: Option<String>,
    pub events_requested: Vec<String>,
    /// `events_requested` ∩ `SSF_EVENTS_SUPPORTED`.
    pub events_delivered: Vec<String>,
    pub description: Option<String>,
    /// `ALL` (every user unless removed) or `NONE` (only users added).
    pub default_subjects: String,
    pub status: SsfStatus,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SsfStream {
    pub fn is_poll(&self) -> bool {
        self.delivery_method == SSF_POLL_METHOD
    }
}

/// Whether a subject is in a stream beyond its `default_subjects`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsfSubjectMode {
    Added,
    Removed,
}

impl SsfSubjectMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SsfSubjectMode::Added => "added",
            SsfSubjectMode::Removed => "removed",
        }
    }
}

/// One RFC 8936 poll: what the receiver acknowledges or reports, and how
/// many events it takes.
#[derive(Debug, Clone, Default)]
pub struct SsfPoll {
    pub ack: Vec<String>,
    /// `(jti, error text)` for each event the receiver could not process.
    pub errors: Vec<(String, String)>,
    pub max_events: i64,
}

/// What a poll returns: the stream's undelivered events, oldest first.
#[derive(Debug, Clone, Default)]
pub struct SsfPollResult {
    pub messages: Vec<OutboxMessage>,
    pub more_available: bool,
}
