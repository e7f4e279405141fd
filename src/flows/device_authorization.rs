//! The Device Authorization Grant (RFC 8628): the device's request for a
//! device code and user code (§3.1, §3.2), and the user's activation at
//! `/activate` (§3.3), which then runs through the same login and consent
//! steps as `/authorize`. Polling the token endpoint is `token/device_code.rs`.

use grantor_domain::{
    ClientId, GrantType, OAuthError, OAuthErrorKind, ScopeSet, Timestamp, TokenHash,
};
use grantor_store::{AttemptCounter, AttemptReservation, DeviceCodeRecord, StoreError};
use rand::Rng;

use super::authorize::{self, BrowserError, PendingRequest, Step, Target};
use super::login::ActiveSession;
use super::{audience, FlowError, RequestMeta};
use crate::secrets;
use crate::state::AppState;

/// Auth0's device code lifetime (reference §2.4): 15 minutes.
pub const DEVICE_CODE_LIFETIME_SECONDS: i64 = 900;
/// Minimum seconds between polls (RFC 8628 §3.2).
pub const POLL_INTERVAL_SECONDS: i64 = 5;
/// Auth0's `base20` user-code charset: consonants only, so codes spell no words.
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LENGTH: usize = 8;
/// Guessing protection (RFC 8628 §5.1): at most this many wrong user codes
/// per client IP within the window; later attempts are refused. Each entry
/// reserves its place before the code is looked up, so parallel guesses get
/// no more lookups than sequential ones.
pub const MAX_ACTIVATION_FAILURES: i64 = 10;
pub const ACTIVATION_WINDOW_SECONDS: i64 = 600;
/// `attempt_counters.kind` of user-code guesses.
pub const ACTIVATION_COUNTER: &str = "activation";

/// The counter of user-code guesses from one IP.
pub fn activation_counter(ip: &str) -> AttemptCounter {
    AttemptCounter {
        kind: ACTIVATION_COUNTER,
        identifier_hash: String::new(),
        ip: super::login::counter_network(ip),
        limit: MAX_ACTIVATION_FAILURES,
        window_seconds: ACTIVATION_WINDOW_SECONDS,
    }
}

/// The device authorization response (RFC 8628 §3.2).
pub struct DeviceAuthorization {
    pub device_code: String,
    /// As shown to the user: `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .finish_non_exhaustive()
    }
}

/// `POST /oauth/device/code`: the client must exist, be public
/// (`token_endpoint_auth_method: none`) and list the device-code grant type.
#[tracing::instrument(skip_all, fields(client_id = ?client_id))]
pub async fn request(
    state: &AppState,
    client_id: Option<&str>,
    scope: Option<&str>,
    audience: Option<&str>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<DeviceAuthorization, FlowError> {
    let client_id = client_id
        .map(ClientId::from)
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: client_id"))?;
    let client = state
        .store
        .client(&client_id)
        .await?
        .ok_or_else(|| OAuthError::new(OAuthErrorKind::InvalidClient, "Unknown client"))?;
    if !client.token_endpoint_auth_method.is_public() {
        return Err(OAuthError::new(
            OAuthErrorKind::UnauthorizedClient,
            "The device flow requires a public client (token_endpoint_auth_method: none).",
        )
        .into());
    }
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(GrantType::DEVICE_CODE_URN).into());
    }
    let audience = audience::resolve(state, audience).await?;
    let requested = scope.map(ScopeSet::parse).unwrap_or_default();
    let scope = audience.grantable(&requested);
    // A user code may collide with an earlier one (20^8 codes); draw again.
    for _ in 0..5 {
        let device_code = secrets::bearer_token();
        let user_code = new_user_code();
        let record = DeviceCodeRecord {
            device_code_hash: TokenHash::of(&device_code),
            user_code_hash: user_code_hash(&user_code),
            client_id: client.client_id.clone(),
            audience: audience.audience.clone(),
            scope: scope.to_wire(),
            created_at: now,
            expires_at: now.plus_seconds(DEVICE_CODE_LIFETIME_SECONDS),
            interval_seconds: POLL_INTERVAL_SECONDS,
            last_polled_at: None,
            status: "pending".to_owned(),
            user_id: None,
            session_id: None,
            grant_id: None,
            auth_time: None,
            device_ip: meta.ip.clone(),
            device_user_agent: meta.user_agent.clone(),
        };
        match state.store.insert_device_code(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        let shown = display_user_code(&user_code);
        let verification_uri = state.issuer.url("activate");
        let verification_uri_complete = format!("{verification_uri}?user_code={shown}");
        return Ok(DeviceAuthorization {
            device_code,
            user_code: shown,
            verification_uri,
            verification_uri_complete,
            expires_in: DEVICE_CODE_LIFETIME_SECONDS,
            interval: POLL_INTERVAL_SECONDS,
        });
    }
    Err(anyhow::anyhow!("could not draw an unused user code").into())
}

/// Eight random letters of [`USER_CODE_ALPHABET`], without separator.
fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LENGTH)
        .map(|_| USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a}-{b}")
}

/// What the user typed, without spaces and dashes, upper-cased.
pub fn normalize_user_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// The stored form of a (normalised) user code.
pub fn user_code_hash(normalized: &str) -> TokenHash {
    TokenHash::of(normalized)
}

/// What entering a user code led to.
#[derive(Debug)]
pub enum Activation {
    /// The code is pending: on to login and consent (or straight to the end).
    Proceed(Box<Step>),
    /// Unknown, expired or already used; counted against the IP.
    WrongCode,
    /// This IP has made too many wrong attempts; nothing was looked up.
    TooManyAttempts { retry_after_seconds: i64 },
}

/// `POST /activate`: looks the user code up, with guessing protection.
#[tracing::instrument(skip_all)]
pub async fn activate(
    state: &AppState,
    raw_user_code: &str,
    session: Option<ActiveSession>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Activation, BrowserError> {
    let counter = [activation_counter(&meta.ip)];
    if let AttemptReservation::Refused {
        retry_after_seconds,
        ..
    } = state.store.reserve_attempts(&counter, now).await?
    {
        tracing::warn!(ip = %meta.ip, "device activation refused: too many wrong codes");
        return Ok(Activation::TooManyAttempts {
            retry_after_seconds,
        });
    }
    let code = normalize_user_code(raw_user_code);
    let well_formed =
        code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    let record = if well_formed {
        state
            .store
            .pending_device_code(&user_code_hash(&code), now)
            .await?
    } else {
        None
    };
    let Some(record) = record else {
        // The reservation stays: it is the failure.
        return Ok(Activation::WrongCode);
    };
    // A right code gives its place back (it does not wipe earlier failures).
    state.store.release_attempts(&counter, &[]).await?;
    let client = state
        .store
        .client(&record.client_id)
        .await?
        .ok_or_else(|| BrowserError::invalid("The application no longer exists."))?;
    let audience = audience::resolve(state, Some(&record.audience))
        .await
        .map_err(|e| match e {
            FlowError::OAuth(e) => BrowserError::refused(e.description),
            FlowError::Internal(e) => BrowserError::Internal(e),
        })?;
    let pending = PendingRequest {
        client_id: record.client_id.to_string(),
        audience: record.audience.clone(),
        scope: record.scope.clone(),
        // Device approvals always ask (`consent::decide_consent`).
        force_consent: true,
        login_hint: None,
        authenticated_after: None,
        target: Target::Device {
            user_code_hash: record.user_code_hash.as_str().to_owned(),
            device_ip: record.device_ip.clone(),
            device_user_agent: record.device_user_agent.clone(),
            requested_at_ms: record.created_at.0,
        },
    };
    let request = authorize::Loaded::unsaved(pending, client, audience);
    let step = authorize::begin(state, request, session, false, meta, now).await?;
    Ok(Activation::Proceed(Box::new(step)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_base20_letters_shown_with_a_dash() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        let shown = display_user_code(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(&shown[4..5], "-");
        assert_eq!(normalize_user_code(&shown), code);
        assert_eq!(normalize_user_code(" bcdf - ghjk "), "BCDFGHJK");
    }
}
