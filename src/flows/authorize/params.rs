//! Parsing and validating the `/authorize` parameters (RFC 6749 §4.1.1,
//! OIDC Core §3.1.2.1): which errors become pages and which go back to the
//! client, PKCE, `prompt`, and the audience and scopes of the request.

use grantor_domain::{pkce, GrantType, OAuthErrorKind, ScopeSet};

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
    /// Known parameters that appeared more than once (RFC 6749 §3.1 forbids it).
    pub duplicates: Vec<String>,
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
}

/// The `prompt` values acted on (OIDC Core §3.1.2.1); others are ignored.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Checks the `/authorize` parameters in the order RFC 6749 §4.1.2.1 implies:
/// client and redirect URI first (errors become pages), then the rest
/// (errors go back to the client).
/// The longest value `/authorize` accepts for any parameter it stores.
pub const MAX_PARAMETER_LENGTH: usize = 2048;

pub(super) async fn validate(
    state: &AppState,
    params: AuthorizeParams,
) -> Result<(Loaded, Prompt), Rejected> {
    let duplicated = |name: &str| params.duplicates.iter().any(|d| d == name);
    if duplicated("client_id") || duplicated("redirect_uri") {
        return Err(
            BrowserError::bad_request("The request repeats client_id or redirect_uri.").into(),
        );
    }
    let client_id = params
        .client_id
        .as_deref()
        .ok_or_else(|| BrowserError::bad_request("The request has no client_id."))?;
    let client = state.store.client(client_id).await?.ok_or_else(|| {
        BrowserError::bad_request(
            "Unknown client: the application that sent you here is not registered.",
        )
    })?;
    // Exact string match with a registered callback (RFC 6749 §3.1.2.3; OAuth 2.1).
    let redirect_uri = match (&params.redirect_uri, client.callbacks.as_slice()) {
        (Some(uri), callbacks) if callbacks.iter().any(|c| c == uri) => uri.clone(),
        (None, [only]) => only.clone(),
        (Some(_), _) => {
            return Err(BrowserError::bad_request(
                "The redirect_uri is not one of the application's allowed callback URLs.",
            )
            .into())
        }
        (None, _) => {
            return Err(BrowserError::bad_request("The request has no redirect_uri.").into())
        }
    };
    // Defence in depth: a registered value that today's rules refuse (stored
    // before them, or written around the API) is never redirected to.
    if !grantor_domain::urls::is_safe_redirect(&redirect_uri) {
        tracing::warn!("authorize: a registered callback fails the URL rules");
        return Err(BrowserError::bad_request(
            "The redirect_uri is not a URL the browser can be sent to.",
        )
        .into());
    }
    // A pending request is stored before sign-in, by anyone: its size is
    // bounded here (CONTRACT §6.4), before anything is written.
    let too_long = [
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("scope", &params.scope),
        ("audience", &params.audience),
        ("code_challenge", &params.code_challenge),
        ("device", &params.device),
        ("prompt", &params.prompt),
    ]
    .into_iter()
    .find(|(_, value)| {
        value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_PARAMETER_LENGTH)
    });
    if let Some((name, _)) = too_long {
        return Err(BrowserError::bad_request(format!(
            "The {name} parameter is longer than {MAX_PARAMETER_LENGTH} characters."
        ))
        .into());
    }
    let state_param = params.state.as_deref();
    let (response_mode, mode_error) = match params.response_mode.as_deref() {
        None | Some("query") => (ResponseMode::Query, None),
        Some("form_post") => (ResponseMode::FormPost, None),
        Some(other) => (
            ResponseMode::Query,
            Some(format!("Unsupported response_mode: {other}")),
        ),
    };
    let reject = |error: &'static str, description: String| {
        Rejected::Client(ClientRedirect::error(
            state.issuer.as_str(),
            &redirect_uri,
            response_mode,
            state_param,
            error,
            description,
        ))
    };
    if let Some(description) = mode_error {
        return Err(reject("invalid_request", description));
    }
    if let Some(name) = params.duplicates.first() {
        return Err(reject(
            "invalid_request",
            format!("Parameter repeated: {name}"),
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(reject(
                "invalid_request",
                "Missing required parameter: response_type".to_owned(),
            ))
        }
        Some(other) => {
            return Err(reject(
                "unsupported_response_type",
                format!("Unsupported response type: {other}"),
            ))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(reject(
            OAuthErrorKind::UnauthorizedClient.code(),
            "Grant type 'authorization_code' not allowed for the client.".to_owned(),
        ));
    }
    // PKCE (RFC 7636 §4.4.1): S256 only, and required for public clients.
    match (&params.code_challenge, &params.code_challenge_method) {
        (Some(challenge), method) => {
            if let Err(e) = pkce::validate_challenge(challenge, method.as_deref()) {
                return Err(reject("invalid_request", e.0));
            }
        }
        (None, Some(_)) => {
            return Err(reject(
                "invalid_request",
                "code_challenge_method given without code_challenge".to_owned(),
            ))
        }
        (None, None) if client.token_endpoint_auth_method.is_public() => {
            return Err(reject(
                "invalid_request",
                "Public clients must use PKCE: code_challenge and code_challenge_method=S256 are required".to_owned(),
            ))
        }
        (None, None) => {}
    }
    let mut prompt = Prompt::default();
    for value in params.prompt.as_deref().unwrap_or("").split(' ') {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // `select_account` and unknown values change nothing here.
            _ => {}
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        // OIDC Core §3.1.2.1: `none` with any other value is an error.
        return Err(reject(
            "invalid_request",
            "prompt=none cannot be combined with other values".to_owned(),
        ));
    }
    let audience = match audience::resolve(state, params.audience.as_deref()).await {
        Ok(audience) => audience,
        Err(FlowError::OAuth(e)) => return Err(reject(e.kind.code(), e.description.into_owned())),
        Err(e) => return Err(e.into()),
    };
    let requested = params
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .unwrap_or_default();
    let scope = audience.grantable(&requested);
    let pending = PendingRequest {
        client_id: client.client_id.clone(),
        audience: audience.audience.clone(),
        scope: scope.to_wire(),
        force_consent: prompt.consent,
        target: Target::Code {
            redirect_uri_sent: params.redirect_uri.is_some(),
            redirect_uri,
            response_mode,
            state: params.state.clone(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone(),
            device_name: params.device.clone(),
        },
    };
    let loaded = Loaded {
        request_id: None,
        pending,
        client,
        audience,
    };
    Ok((loaded, prompt))
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
}
