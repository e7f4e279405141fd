//! Pushed Authorization Requests (RFC 9126): `POST /oauth/par` checks an
//! authorization request as `/authorize` would, for the authenticated
//! client, and stores its parameters under a one-time `request_uri`;
//! `/authorize` takes them back once ([`take`]) and goes on as usual.
//!
//! Only the SHA-256 of the `request_uri`'s random part is stored. Request
//! objects (`request`, JAR) are not supported. A `dpop_jkt`, or the key of a
//! DPoP proof sent with the push (checked in [`push`]), binds the code
//! (RFC 9449 §10).

use grantor_domain::{Client, Timestamp, TokenHash};

use super::authorize::params::{
    client_id_of, redirect_uri_of, validate_for, Refusal, MAX_PARAMETER_LENGTH,
};
use super::authorize::{AuthorizeParams, BrowserError};
use crate::secrets;
use crate::state::AppState;

/// RFC 9126 §2.2: the URN prefix of every `request_uri` issued here.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The largest pushed request stored, as JSON (a usual one is well under
/// 2 KiB).
pub const MAX_STORED_BYTES: usize = 16 * 1024;

/// The default of `--par-lifetime-seconds` (Auth0: 30).
pub const DEFAULT_LIFETIME_SECONDS: i64 = 30;

/// A stored pushed request, as the client is told of it (RFC 9126 §2.2).
#[derive(Debug)]
pub struct PushedRequest {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Why a push was refused: an OAuth error (answered 400, RFC 9126 §2.3 with
/// RFC 6749 §5.2's codes), a refused DPoP proof (with its own status), or
/// something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{error}: {description}")]
    Invalid {
        error: &'static str,
        description: String,
    },
    #[error(transparent)]
    OAuth(grantor_domain::OAuthError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PushError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::Invalid {
            error: "invalid_request",
            description: description.into(),
        }
    }
}

impl From<BrowserError> for PushError {
    fn from(e: BrowserError) -> Self {
        match e {
            BrowserError::Page { message, .. } => Self::invalid_request(message),
            BrowserError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<super::FlowError> for PushError {
    fn from(e: super::FlowError) -> Self {
        match e {
            super::FlowError::OAuth(e) => Self::OAuth(e),
            super::FlowError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<grantor_store::StoreError> for PushError {
    fn from(e: grantor_store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

/// `POST /oauth/par` for an authenticated `client`: the request is checked
/// exactly as `/authorize` checks it (PKCE for public clients included),
/// then stored for `--par-lifetime-seconds`. `dpop_proofs` are the request's
/// `DPoP` headers.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn push(
    state: &AppState,
    client: Client,
    mut params: AuthorizeParams,
    dpop_proofs: &[&str],
    now: Timestamp,
) -> Result<PushedRequest, PushError> {
    // RFC 9449 §10.1: a DPoP proof sent with the push binds the code to its
    // key, as `dpop_jkt` would (and must name the same key when both come).
    let par_url = state.issuer.url("oauth/par");
    if let Some(key) = super::dpop::check(state, dpop_proofs, "POST", &par_url, None, now).await? {
        match &params.dpop_jkt {
            Some(jkt) if *jkt != key.jkt => {
                return Err(PushError::invalid_request(
                    "dpop_jkt does not name the key of the DPoP proof",
                ))
            }
            _ => params.dpop_jkt = Some(key.jkt),
        }
    }
    // RFC 9126 §2.1: a pushed request cannot itself point at another.
    if params.request_uri.is_some() {
        return Err(PushError::invalid_request(
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    if let Some(name) = params.duplicates.first() {
        return Err(PushError::invalid_request(format!(
            "Parameter repeated: {name}"
        )));
    }
    // The body's client_id, when given, was checked against the credentials.
    params.client_id = Some(client.client_id.to_string());
    params.pushed = true;
    // Everything stored is bounded, not only what `/authorize` keeps.
    let pairs = params.to_pairs();
    if let Some((name, _)) = pairs
        .iter()
        .find(|(_, value)| value.len() > MAX_PARAMETER_LENGTH)
    {
        return Err(PushError::invalid_request(format!(
            "The {name} parameter is longer than {MAX_PARAMETER_LENGTH} characters."
        )));
    }
    let redirect_uri = redirect_uri_of(&client, &params)?;
    let client_id = client.client_id.clone();
    let stored = serde_json::to_string(&pairs).map_err(anyhow::Error::new)?;
    // Escaping can make the stored JSON several times the raw values (a
    // control character takes six bytes): bound the row itself.
    if stored.len() > MAX_STORED_BYTES {
        return Err(PushError::invalid_request(format!(
            "The pushed request is larger than {MAX_STORED_BYTES} bytes once stored."
        )));
    }
    validate_for(state, client, redirect_uri, params)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Page(e) => PushError::from(e),
            Refusal::Client { error, .. } => PushError::Invalid {
                error: error.error,
                description: error.description,
            },
        })?;
    let secret = secrets::bearer_token();
    let lifetime = state.par_lifetime_seconds;
    state
        .store
        .save_pushed_request(
            &TokenHash::of(&secret),
            &client_id,
            &stored,
            now,
            now.plus_seconds(lifetime),
        )
        .await?;
    Ok(PushedRequest {
        request_uri: format!("{REQUEST_URI_PREFIX}{secret}"),
        expires_in: lifetime,
    })
}

/// `/authorize?client_id=…&request_uri=…`: takes the pushed request out of
/// the store (one use) and returns its parameters; every other query
/// parameter is ignored (RFC 9126 §4). Its client must be the `client_id`
/// of the query. Nothing proves a redirect target here, so every refusal
/// is a page.
pub(crate) async fn take(
    state: &AppState,
    query: &AuthorizeParams,
    request_uri: &str,
    now: Timestamp,
) -> Result<AuthorizeParams, BrowserError> {
    if query
        .duplicates
        .iter()
        .any(|d| d == "request_uri" || d == "client_id")
    {
        return Err(BrowserError::invalid(
            "The request repeats client_id or request_uri.",
        ));
    }
    let client_id = client_id_of(query)?;
    let secret = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|s| !s.is_empty() && s.len() <= MAX_PARAMETER_LENGTH)
        .ok_or_else(unknown_request_uri)?;
    let stored = state
        .store
        .consume_pushed_request(&TokenHash::of(secret), &client_id, now)
        .await?
        .ok_or_else(unknown_request_uri)?;
    let pairs: Vec<(String, String)> = serde_json::from_str(&stored).map_err(|e| {
        BrowserError::Internal(anyhow::Error::new(e).context("reading a pushed request"))
    })?;
    let mut params = AuthorizeParams::from_pairs(pairs);
    params.pushed = true;
    Ok(params)
}

/// RFC 9126 §4 names this `invalid_request_uri`; the page says so.
fn unknown_request_uri() -> BrowserError {
    BrowserError::invalid(
        "invalid_request_uri: this request_uri is unknown, expired, already used or issued to \
         another application. Return to the application and start again.",
    )
}
