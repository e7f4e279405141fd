//! Parsing and validating the `/authorize` parameters (RFC 6749 §4.1.1,
//! OIDC Core §3.1.2.1): which errors become pages and which go back to the
//! client, PKCE, `prompt`, and the audience and scopes of the request.

use grantor_domain::{pkce, Client, ClientId, GrantType, OAuthErrorKind, ScopeSet};

use super::{BrowserError, ClientRedirect, Loaded, PendingRequest, Rejected, ResponseMode, Target};
use crate::flows::audience;
use crate::flows::FlowError;
use crate::state::AppState;

/// The raw `/authorize` parameters; empty values count as absent.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub response_mode: Option<String>,
    pub device: Option<String>,
    /// OIDC Core §3.1.2.1: pre-fills the login page's e-mail field, nothing else.
    pub login_hint: Option<String>,
    /// OIDC Core §3.1.2.1: the longest time, in seconds, since the user last
    /// signed in that this request accepts.
    pub max_age: Option<String>,
    /// RFC 9126 §4: a pushed request to take the parameters from.
    pub request_uri: Option<String>,
    /// RFC 9449 §10: the JWK thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
    /// Known parameters that appeared more than once (RFC 6749 §3.1 forbids it).
    pub duplicates: Vec<String>,
    /// The parameters came from a pushed request (`/oauth/par`), never from
    /// the query: a client with `require_pushed_authorization_requests`
    /// accepts only these.
    pub pushed: bool,
}

impl AuthorizeParams {
    /// Collects the parameters this endpoint reads from decoded query pairs;
    /// others are ignored (RFC 6749 §3.1).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut params = Self::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "response_type" => &mut params.response_type,
                "client_id" => &mut params.client_id,
                "redirect_uri" => &mut params.redirect_uri,
                "scope" => &mut params.scope,
                "audience" => &mut params.audience,
                "state" => &mut params.state,
                "nonce" => &mut params.nonce,
                "code_challenge" => &mut params.code_challenge,
                "code_challenge_method" => &mut params.code_challenge_method,
                "prompt" => &mut params.prompt,
                "response_mode" => &mut params.response_mode,
                "device" => &mut params.device,
                "login_hint" => &mut params.login_hint,
                "max_age" => &mut params.max_age,
                "request_uri" => &mut params.request_uri,
                "dpop_jkt" => &mut params.dpop_jkt,
                // `ui_locales` (and `claims`, `display`, …) are accepted and
                // ignored: the pages are English only (`lang="en"`), and
                // `auth_time` is in every ID token anyway.
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            if slot.is_some() {
                params.duplicates.push(name);
            } else {
                *slot = Some(value);
            }
        }
        params
    }

    /// The parameters as name and value pairs, as [`from_pairs`] reads them
    /// (what a pushed request stores). `request_uri` is not among them.
    ///
    /// [`from_pairs`]: AuthorizeParams::from_pairs
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("audience", &self.audience),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("response_mode", &self.response_mode),
            ("device", &self.device),
            ("login_hint", &self.login_hint),
            ("max_age", &self.max_age),
            ("dpop_jkt", &self.dpop_jkt),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

/// The `prompt` values acted on (OIDC Core §3.1.2.1); others are ignored.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    /// `max_age`, in seconds (a value past `u64` counts as `u64::MAX`).
    pub max_age: Option<u64>,
}

impl Prompt {
    /// Whether `session` must sign in again for this request: `prompt=login`,
    /// `max_age=0`, or an authentication older than `max_age` seconds.
    pub fn needs_sign_in(
        &self,
        authenticated_at: grantor_domain::Timestamp,
        now: grantor_domain::Timestamp,
    ) -> bool {
        if self.login {
            return true;
        }
        match self.max_age {
            None => false,
            Some(0) => true,
            Some(max_age) => {
                let max_ms = i64::try_from(max_age)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1000);
                now.0.saturating_sub(authenticated_at.0) > max_ms
            }
        }
    }

    /// The earliest authentication time (ms) that may finish a request made
    /// at `now`, whatever session the browser has when it starts: `now` for
    /// `prompt=login` or `max_age=0`, `now − max_age` for a positive
    /// `max_age`, none otherwise. Stored with the pending request, so that
    /// no later form (consent, a cookie added after the start) can finish
    /// it with an older sign-in.
    pub fn sign_in_after(&self, now: grantor_domain::Timestamp) -> Option<i64> {
        if self.login {
            return Some(now.0);
        }
        self.max_age.map(|max_age| {
            let max_ms = i64::try_from(max_age)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            now.0.saturating_sub(max_ms)
        })
    }
}

/// The longest `login_hint` shown (RFC 5321's longest e-mail address); a
/// longer hint is ignored, not an error: it is only a convenience.
pub const MAX_LOGIN_HINT_CHARS: usize = 254;

/// The longest value `/authorize` accepts for any parameter it stores.
pub const MAX_PARAMETER_LENGTH: usize = 2048;

/// An error `/authorize` sends back to the client's redirect URI (and
/// `/oauth/par` answers as JSON).
pub(crate) struct ClientError {
    pub error: &'static str,
    pub description: String,
}

impl ClientError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_request",
            description: description.into(),
        }
    }
}

/// Why [`validate_for`] refused a request once its client and redirect URI
/// were known: a page, or an error the client may be told.
pub(crate) enum Refusal {
    Page(BrowserError),
    Client {
        error: ClientError,
        response_mode: ResponseMode,
    },
}

impl From<BrowserError> for Refusal {
    fn from(e: BrowserError) -> Self {
        Self::Page(e)
    }
}

/// Checks the `/authorize` parameters in the order RFC 6749 §4.1.2.1 implies:
/// client and redirect URI first (errors become pages), then the rest
/// (errors go back to the client).
pub(super) async fn validate(
    state: &AppState,
    params: AuthorizeParams,
) -> Result<(Loaded, Prompt), Rejected> {
    let client = client_of(state, &params).await?;
    let redirect_uri = redirect_uri_of(&client, &params)?;
    let client_state = params.state.clone();
    validate_for(state, client, redirect_uri.clone(), params)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Page(e) => Rejected::Page(e),
            Refusal::Client {
                error,
                response_mode,
            } => Rejected::Client(ClientRedirect::error(
                state.issuer.as_str(),
                &redirect_uri,
                response_mode,
                client_state.as_deref(),
                error.error,
                error.description,
            )),
        })
}

/// The checks after the client and the redirect URI: lengths (a page),
/// then `response_mode`, the request itself and its audience (errors for
/// the client). `/oauth/par` runs them on the authenticated client.
pub(crate) async fn validate_for(
    state: &AppState,
    client: Client,
    redirect_uri: String,
    params: AuthorizeParams,
) -> Result<(Loaded, Prompt), Refusal> {
    check_lengths(&params)?;
    let (response_mode, mode_error) = match params.response_mode.as_deref() {
        None | Some("query") => (ResponseMode::Query, None),
        Some("form_post") => (ResponseMode::FormPost, None),
        Some(other) => (
            ResponseMode::Query,
            Some(ClientError::invalid_request(format!(
                "Unsupported response_mode: {other}"
            ))),
        ),
    };
    let reject = |error: ClientError| Refusal::Client {
        error,
        response_mode,
    };
    if let Some(e) = mode_error {
        return Err(reject(e));
    }
    // RFC 9126 §6: the client accepts only pushed requests. Its redirect URI
    // is registered, so the client is told (as for any other refusal).
    if client.require_pushed_authorization_requests && !params.pushed {
        return Err(reject(ClientError::invalid_request(
            "This application requires pushed authorization requests (request_uri from /oauth/par)",
        )));
    }
    let prompt = check_request(&params, &client).map_err(reject)?;
    let audience = match audience::resolve(state, params.audience.as_deref()).await {
        Ok(audience) => audience,
        Err(FlowError::OAuth(e)) => {
            return Err(reject(ClientError {
                error: e.kind.code(),
                description: e.description.into_owned(),
            }))
        }
        Err(FlowError::Internal(e)) => return Err(Refusal::Page(BrowserError::Internal(e))),
    };
    let requested = params
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .unwrap_or_default();
    let login_hint = params
        .login_hint
        .map(|hint| hint.trim().to_owned())
        .filter(|hint| !hint.is_empty() && hint.chars().count() <= MAX_LOGIN_HINT_CHARS);
    let pending = PendingRequest {
        login_hint,
        authenticated_after: None,
        client_id: client.client_id.to_string(),
        audience: audience.audience.clone(),
        scope: audience.grantable(&requested).to_wire(),
        force_consent: prompt.consent,
        target: Target::Code {
            redirect_uri_sent: params.redirect_uri.is_some(),
            redirect_uri,
            response_mode,
            state: params.state,
            nonce: params.nonce,
            code_challenge: params.code_challenge,
            device_name: params.device,
            dpop_jkt: params.dpop_jkt,
        },
    };
    Ok((Loaded::unsaved(pending, client, audience), prompt))
}

/// The client the request names. Until it and the redirect URI are known
/// nothing can go back to the client, so every error here is a page.
async fn client_of(state: &AppState, params: &AuthorizeParams) -> Result<Client, BrowserError> {
    let duplicated = |name: &str| params.duplicates.iter().any(|d| d == name);
    if duplicated("client_id") || duplicated("redirect_uri") {
        return Err(BrowserError::invalid(
            "The request repeats client_id or redirect_uri.",
        ));
    }
    state
        .store
        .client(&client_id_of(params)?)
        .await?
        .ok_or_else(|| {
            BrowserError::invalid(
                "Unknown client: the application that sent you here is not registered.",
            )
        })
}

/// The request's `client_id` (a page when there is none).
pub(crate) fn client_id_of(params: &AuthorizeParams) -> Result<ClientId, BrowserError> {
    params
        .client_id
        .as_deref()
        .map(ClientId::from)
        .ok_or_else(|| BrowserError::invalid("The request has no client_id."))
}

/// The redirect URI to answer `client` on (a page when there is none).
pub(crate) fn redirect_uri_of(
    client: &Client,
    params: &AuthorizeParams,
) -> Result<String, BrowserError> {
    if params.duplicates.iter().any(|d| d == "redirect_uri") {
        return Err(BrowserError::invalid("The request repeats redirect_uri."));
    }
    // Exact string match with a registered callback (RFC 6749 §3.1.2.3; OAuth 2.1).
    let redirect_uri = match (&params.redirect_uri, client.callbacks.as_slice()) {
        (Some(uri), callbacks) if callbacks.iter().any(|c| c == uri) => uri.clone(),
        (None, [only]) => only.clone(),
        (Some(_), _) => {
            return Err(BrowserError::invalid(
                "The redirect_uri is not one of the application's allowed callback URLs.",
            ))
        }
        (None, _) => return Err(BrowserError::invalid("The request has no redirect_uri.")),
    };
    // Defence in depth: a registered value that today's rules refuse (stored
    // before them, or written around the API) is never redirected to.
    if !grantor_domain::urls::is_safe_redirect(&redirect_uri) {
        tracing::warn!("authorize: a registered callback fails the URL rules");
        return Err(BrowserError::invalid(
            "The redirect_uri is not a URL the browser can be sent to.",
        ));
    }
    Ok(redirect_uri)
}

/// A pending request is stored before sign-in, by anyone: its size is
/// bounded here (CONTRACT §6.4), before anything is written.
fn check_lengths(params: &AuthorizeParams) -> Result<(), BrowserError> {
    let too_long = [
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("scope", &params.scope),
        ("audience", &params.audience),
        ("code_challenge", &params.code_challenge),
        ("device", &params.device),
        ("prompt", &params.prompt),
        ("max_age", &params.max_age),
    ]
    .into_iter()
    .find(|(_, value)| {
        value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_PARAMETER_LENGTH)
    });
    match too_long {
        Some((name, _)) => Err(BrowserError::invalid(format!(
            "The {name} parameter is longer than {MAX_PARAMETER_LENGTH} characters."
        ))),
        None => Ok(()),
    }
}

/// The checks whose errors go back to the client: repeated parameters,
/// `response_type`, the client's grant types, PKCE and `prompt`.
fn check_request(params: &AuthorizeParams, client: &Client) -> Result<Prompt, ClientError> {
    if let Some(name) = params.duplicates.first() {
        return Err(ClientError::invalid_request(format!(
            "Parameter repeated: {name}"
        )));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(ClientError::invalid_request(
                "Missing required parameter: response_type",
            ))
        }
        Some(other) => {
            return Err(ClientError {
                error: "unsupported_response_type",
                description: format!("Unsupported response type: {other}"),
            })
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(ClientError {
            error: OAuthErrorKind::UnauthorizedClient.code(),
            description: "Grant type 'authorization_code' not allowed for the client.".to_owned(),
        });
    }
    check_pkce(params, client)?;
    // A SHA-256 JWK thumbprint (RFC 7638), base64url.
    if let Some(jkt) = &params.dpop_jkt {
        if !grantor_domain::secret::is_base64url_32_bytes(jkt) {
            return Err(ClientError::invalid_request(
                "Invalid dpop_jkt: it must be a base64url SHA-256 JWK thumbprint",
            ));
        }
    }
    let mut prompt = parse_prompt(params.prompt.as_deref())?;
    prompt.max_age = params.max_age.as_deref().map(parse_max_age).transpose()?;
    Ok(prompt)
}

/// `max_age`: a non-negative decimal integer of seconds (OIDC Core
/// §3.1.2.1); anything else (a sign, a fraction, an exponent, spaces) is
/// `invalid_request`. A number too large for `u64` means "no limit" in
/// practice and is kept as `u64::MAX`.
fn parse_max_age(raw: &str) -> Result<u64, ClientError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClientError::invalid_request(
            "Invalid max_age: it must be a non-negative integer (seconds)",
        ));
    }
    Ok(raw.parse::<u64>().unwrap_or(u64::MAX))
}

/// PKCE (RFC 7636 §4.4.1): S256 only, and required for public clients.
fn check_pkce(params: &AuthorizeParams, client: &Client) -> Result<(), ClientError> {
    match (&params.code_challenge, &params.code_challenge_method) {
        (Some(challenge), method) => pkce::validate_challenge(challenge, method.as_deref())
            .map_err(|e| ClientError::invalid_request(e.0)),
        (None, Some(_)) => Err(ClientError::invalid_request(
            "code_challenge_method given without code_challenge",
        )),
        (None, None) if client.token_endpoint_auth_method.is_public() => {
            Err(ClientError::invalid_request(
                "Public clients must use PKCE: code_challenge and code_challenge_method=S256 are required",
            ))
        }
        (None, None) => Ok(()),
    }
}

/// `prompt`, a space-separated list; `none` stands alone (OIDC Core §3.1.2.1).
fn parse_prompt(raw: Option<&str>) -> Result<Prompt, ClientError> {
    let mut prompt = Prompt::default();
    for value in raw.unwrap_or("").split(' ') {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // `select_account` and unknown values change nothing here.
            _ => {}
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(ClientError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_noted_and_empty_ones_dropped() {
        let p = AuthorizeParams::from_pairs([
            ("scope".to_owned(), "a".to_owned()),
            ("scope".to_owned(), "b".to_owned()),
            ("state".to_owned(), String::new()),
            ("other".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(p.scope.as_deref(), Some("a"));
        assert_eq!(p.duplicates, vec!["scope".to_owned()]);
        assert!(p.state.is_none());
    }

    #[test]
    fn max_age_is_digits_only() {
        assert_eq!(parse_max_age("0").ok(), Some(0));
        assert_eq!(parse_max_age("3600").ok(), Some(3600));
        assert_eq!(
            parse_max_age("99999999999999999999999").ok(),
            Some(u64::MAX)
        );
        for bad in ["", "-1", "+1", "1.5", "1e3", " 1", "abc", "0x10", "１"] {
            assert!(parse_max_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_age_decides_on_the_authentication_time() {
        use grantor_domain::Timestamp;
        let now = Timestamp(1_000_000_000);
        let prompt = |max_age| Prompt {
            max_age,
            ..Prompt::default()
        };
        assert!(!prompt(None).needs_sign_in(Timestamp(0), now));
        assert!(prompt(Some(0)).needs_sign_in(now, now));
        assert!(!prompt(Some(60)).needs_sign_in(Timestamp(now.0 - 60_000), now));
        assert!(prompt(Some(60)).needs_sign_in(Timestamp(now.0 - 60_001), now));
        assert!(!prompt(Some(u64::MAX)).needs_sign_in(Timestamp(i64::MIN), now));
        let login = Prompt {
            login: true,
            ..Prompt::default()
        };
        assert!(login.needs_sign_in(now, now));
    }
}
