//! Applications (OAuth clients) and their refresh-token settings.
//!
//! The validation of a client's members (`ClientPatch`, `Client::apply`) and
//! of its `refresh_token` settings lives here, so that the Management API and
//! the dashboard reject exactly the same values.

use crate::urls::{validate_urls, UrlField};
use crate::{Timestamp, ValidationError};

/// Grant types the token endpoint implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    DeviceCode,
    Password,
}

impl GrantType {
    pub const DEVICE_CODE_URN: &'static str = "urn:ietf:params:oauth:grant-type:device_code";

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "authorization_code" => Self::AuthorizationCode,
            "refresh_token" => Self::RefreshToken,
            "client_credentials" => Self::ClientCredentials,
            Self::DEVICE_CODE_URN => Self::DeviceCode,
            "password" => Self::Password,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => Self::DEVICE_CODE_URN,
            Self::Password => "password",
        }
    }
}

/// Every value Auth0 accepts in a client's `grant_types`; grantor stores any of
/// them but only issues tokens for the ones in [`GrantType`].
pub const KNOWN_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
    "urn:openid:params:grant-type:ciba",
    GrantType::DEVICE_CODE_URN,
];

/// Auth0's default `grant_types` for a client created through the Management API.
pub const DEFAULT_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpointAuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

impl TokenEndpointAuthMethod {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "none" => Ok(Self::None),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            other => Err(ValidationError::new(format!(
                "token_endpoint_auth_method must be one of none, client_secret_post, client_secret_basic (got '{other}')"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }

    /// Public clients authenticate with their `client_id` alone.
    pub fn is_public(self) -> bool {
        self == Self::None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationType {
    Rotating,
    NonRotating,
}

impl RotationType {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "rotating" => Ok(Self::Rotating),
            "non-rotating" => Ok(Self::NonRotating),
            _ => Err(ValidationError::new(
                "refresh_token.rotation_type must be 'rotating' or 'non-rotating'",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rotating => "rotating",
            Self::NonRotating => "non-rotating",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirationType {
    Expiring,
    NonExpiring,
}

impl ExpirationType {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "expiring" => Ok(Self::Expiring),
            "non-expiring" => Ok(Self::NonExpiring),
            _ => Err(ValidationError::new(
                "refresh_token.expiration_type must be 'expiring' or 'non-expiring'",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expiring => "expiring",
            Self::NonExpiring => "non-expiring",
        }
    }
}

/// A client's `refresh_token` object (Auth0 `ClientRefreshTokenConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenSettings {
    pub rotation_type: RotationType,
    pub expiration_type: ExpirationType,
    /// Seconds during which the immediately previous token may be exchanged again.
    pub leeway: i64,
    pub token_lifetime: i64,
    pub infinite_token_lifetime: bool,
    pub idle_token_lifetime: i64,
    pub infinite_idle_token_lifetime: bool,
    /// Multi-Resource Refresh Token policies (`refresh_token.policies`): the
    /// APIs besides its own that a refresh token of this client may be
    /// exchanged for, and the scopes allowed there. Empty: none (Auth0's
    /// `null`). See [`crate::multi_resource`].
    pub policies: Vec<RefreshTokenPolicy>,
}

/// One Multi-Resource Refresh Token policy: an API (`audience`, its
/// identifier) and the scopes a refresh exchange may ask for there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenPolicy {
    pub audience: String,
    pub scope: Vec<String>,
}

/// Partial `refresh_token` input; absent members take the current (or default) values.
#[derive(Debug, Clone, Default)]
pub struct RefreshTokenSettingsPatch {
    pub rotation_type: Option<RotationType>,
    pub expiration_type: Option<ExpirationType>,
    pub leeway: Option<i64>,
    pub token_lifetime: Option<i64>,
    pub infinite_token_lifetime: Option<bool>,
    pub idle_token_lifetime: Option<i64>,
    pub infinite_idle_token_lifetime: Option<bool>,
    /// Replaces the policies; an empty list removes them (Auth0's `null`).
    pub policies: Option<Vec<RefreshTokenPolicy>>,
}

impl RefreshTokenSettings {
    /// 30 days, Auth0's default absolute lifetime.
    pub const DEFAULT_TOKEN_LIFETIME: i64 = 2_592_000;
    /// 15 days, Auth0's default idle lifetime.
    pub const DEFAULT_IDLE_TOKEN_LIFETIME: i64 = 1_296_000;
    /// Auth0's OpenAPI maximum for `token_lifetime` (5 years).
    pub const MAX_LIFETIME: i64 = 157_788_000;
    /// Our ceiling for the rotation overlap period: one day. Auth0 documents none;
    /// a longer overlap would defeat reuse detection.
    pub const MAX_LEEWAY: i64 = 86_400;
    /// Our ceiling for `policies` (Auth0 documents none): each is one more
    /// API a stolen refresh token reaches, and one more grant per issue.
    pub const MAX_POLICIES: usize = 20;
    /// Our ceiling for the scopes of one policy.
    pub const MAX_POLICY_SCOPES: usize = 100;
    /// The longest policy audience (an API identifier) and scope value.
    pub const MAX_POLICY_TEXT: usize = 600;

    /// Applies `patch` to `self`, then validates the result.
    ///
    /// The `infinite_*` flags default to "true" for non-expiring and "false" for
    /// expiring tokens when the patch changes `expiration_type` without naming
    /// them, which is what Auth0 answers for a client created either way.
    pub fn apply(&self, patch: &RefreshTokenSettingsPatch) -> Result<Self, ValidationError> {
        let expiration_type = patch.expiration_type.unwrap_or(self.expiration_type);
        let expiration_changed = expiration_type != self.expiration_type;
        let infinite_default = |current: bool| {
            if expiration_changed {
                expiration_type == ExpirationType::NonExpiring
            } else {
                current
            }
        };
        let next = Self {
            rotation_type: patch.rotation_type.unwrap_or(self.rotation_type),
            expiration_type,
            leeway: patch.leeway.unwrap_or(self.leeway),
            token_lifetime: patch.token_lifetime.unwrap_or(self.token_lifetime),
            infinite_token_lifetime: patch
                .infinite_token_lifetime
                .unwrap_or_else(|| infinite_default(self.infinite_token_lifetime)),
            idle_token_lifetime: patch
                .idle_token_lifetime
                .unwrap_or(self.idle_token_lifetime),
            infinite_idle_token_lifetime: patch
                .infinite_idle_token_lifetime
                .unwrap_or_else(|| infinite_default(self.infinite_idle_token_lifetime)),
            policies: patch
                .policies
                .clone()
                .unwrap_or_else(|| self.policies.clone()),
        };
        next.validate()?;
        Ok(next)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(0..=Self::MAX_LEEWAY).contains(&self.leeway) {
            return Err(ValidationError::new(format!(
                "refresh_token.leeway must be between 0 and {}",
                Self::MAX_LEEWAY
            )));
        }
        if !(1..=Self::MAX_LIFETIME).contains(&self.token_lifetime) {
            return Err(ValidationError::new(format!(
                "refresh_token.token_lifetime must be between 1 and {}",
                Self::MAX_LIFETIME
            )));
        }
        if !(1..=Self::MAX_LIFETIME).contains(&self.idle_token_lifetime) {
            return Err(ValidationError::new(format!(
                "refresh_token.idle_token_lifetime must be between 1 and {}",
                Self::MAX_LIFETIME
            )));
        }
        let both_finite = self.expiration_type == ExpirationType::Expiring
            && !self.infinite_token_lifetime
            && !self.infinite_idle_token_lifetime;
        if both_finite && self.idle_token_lifetime > self.token_lifetime {
            return Err(ValidationError::new(
                "refresh_token.idle_token_lifetime must not exceed refresh_token.token_lifetime",
            ));
        }
        self.validate_policies()
    }

    fn validate_policies(&self) -> Result<(), ValidationError> {
        if self.policies.len() > Self::MAX_POLICIES {
            return Err(ValidationError::new(format!(
                "refresh_token.policies: at most {} policies",
                Self::MAX_POLICIES
            )));
        }
        let text_ok = |t: &str| {
            !t.is_empty()
                && t.len() <= Self::MAX_POLICY_TEXT
                && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        for (i, policy) in self.policies.iter().enumerate() {
            if !text_ok(&policy.audience) {
                return Err(ValidationError::new(format!(
                    "refresh_token.policies[{i}].audience must be an API identifier (1 to {} characters, no spaces)",
                    Self::MAX_POLICY_TEXT
                )));
            }
            if self.policies[..i]
                .iter()
                .any(|p| p.audience == policy.audience)
            {
                return Err(ValidationError::new(format!(
                    "refresh_token.policies[{i}].audience repeats an earlier policy's audience"
                )));
            }
            if policy.scope.is_empty() {
                return Err(ValidationError::new(format!(
                    "refresh_token.policies[{i}].scope must name at least one scope"
                )));
            }
            if policy.scope.len() > Self::MAX_POLICY_SCOPES {
                return Err(ValidationError::new(format!(
                    "refresh_token.policies[{i}].scope: at most {} scopes",
                    Self::MAX_POLICY_SCOPES
                )));
            }
            if let Some(bad) = policy.scope.iter().find(|s| !text_ok(s)) {
                return Err(ValidationError::new(format!(
                    "refresh_token.policies[{i}].scope: '{}' is not a scope value (1 to {} characters, no spaces)",
                    bad.chars().take(40).collect::<String>(),
                    Self::MAX_POLICY_TEXT
                )));
            }
        }
        Ok(())
    }

    /// The policy for `audience`, if there is one.
    pub fn policy_for(&self, audience: &str) -> Option<&RefreshTokenPolicy> {
        self.policies.iter().find(|p| p.audience == audience)
    }

    /// Refuses a policy for `reserved` (the Management API: no end user
    /// ever holds a token for it, CONTRACT §6.1).
    pub fn refuse_policy_audience(&self, reserved: &str) -> Result<(), ValidationError> {
        match self.policies.iter().position(|p| p.audience == reserved) {
            Some(i) => Err(ValidationError::new(format!(
                "refresh_token.policies[{i}].audience: the Management API cannot be reached with a refresh token"
            ))),
            None => Ok(()),
        }
    }

    /// Absolute lifetime in seconds, or `None` when tokens never expire by age.
    pub fn absolute_lifetime(&self) -> Option<i64> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_token_lifetime)
            .then_some(self.token_lifetime)
    }

    /// Inactivity lifetime in seconds, or `None` when tokens never expire by idleness.
    pub fn idle_lifetime(&self) -> Option<i64> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_idle_token_lifetime)
            .then_some(self.idle_token_lifetime)
    }
}

impl Default for RefreshTokenSettings {
    /// What Auth0 answers for a fresh client.
    fn default() -> Self {
        Self {
            rotation_type: RotationType::NonRotating,
            expiration_type: ExpirationType::NonExpiring,
            leeway: 0,
            token_lifetime: Self::DEFAULT_TOKEN_LIFETIME,
            infinite_token_lifetime: true,
            idle_token_lifetime: Self::DEFAULT_IDLE_TOKEN_LIFETIME,
            infinite_idle_token_lifetime: true,
            policies: vec![],
        }
    }
}

/// An application registered with the tenant.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: crate::ClientId,
    pub name: String,
    pub description: String,
    pub app_type: Option<String>,
    pub is_first_party: bool,
    pub oidc_conformant: bool,
    pub callbacks: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub web_origins: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// SHA-256 of the client secret; the secret itself is shown once.
    pub secret_hash: crate::TokenHash,
    /// ID token lifetime (`jwt_configuration.lifetime_in_seconds`).
    pub id_token_lifetime: i64,
    pub refresh_token: RefreshTokenSettings,
    /// Where OpenID Connect Back-Channel Logout tokens are POSTed when a
    /// session this client was issued tokens in ends
    /// (`oidc_logout.backchannel_logout_urls`, one URL as at Auth0).
    pub backchannel_logout_url: Option<String>,
    /// Auth0's `require_proof_of_possession`: every token request of this
    /// client must carry a DPoP proof (RFC 9449).
    pub require_proof_of_possession: bool,
    /// Auth0's `require_pushed_authorization_requests`: `/authorize` takes
    /// this client's requests only through a `request_uri` pushed to
    /// `/oauth/par` (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// The bootstrap Management client; cannot be deleted.
    pub is_system: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The members a create or an update of an application sets (Auth0's
/// `POST` and `PATCH /clients` bodies, as values); an absent member leaves
/// the client's value as it is. Checked by [`Client::apply`].
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub app_type: Option<String>,
    pub is_first_party: Option<bool>,
    pub oidc_conformant: Option<bool>,
    pub callbacks: Option<Vec<String>>,
    pub allowed_logout_urls: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    /// Parsed by [`Client::apply`].
    pub token_endpoint_auth_method: Option<String>,
    /// `jwt_configuration.lifetime_in_seconds`.
    pub id_token_lifetime: Option<i64>,
    /// `jwt_configuration.alg`: only RS256 is accepted.
    pub id_token_alg: Option<String>,
    /// `jwt_configuration.secret_encoded`: only `false` is accepted.
    pub id_token_secret_encoded: Option<bool>,
    pub refresh_token: Option<RefreshTokenSettingsPatch>,
    /// `oidc_logout.backchannel_logout_urls`: at most one http(s) URL; an
    /// empty list removes it.
    pub backchannel_logout_urls: Option<Vec<String>>,
    pub require_proof_of_possession: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
}

impl ClientPatch {
    /// The longest `name`.
    pub const MAX_NAME_LENGTH: usize = 256;
    /// The longest `description`.
    pub const MAX_DESCRIPTION_LENGTH: usize = 140;
    /// The longest ID-token lifetime, in seconds (30 days).
    pub const MAX_ID_TOKEN_LIFETIME: i64 = 2_592_000;
}

impl Client {
    /// A new application with Auth0's defaults (a confidential
    /// `client_secret_post` client with the default grant types), before the
    /// create request's members are applied.
    pub fn new(client_id: crate::ClientId, secret_hash: crate::TokenHash, now: Timestamp) -> Self {
        Self {
            client_id,
            name: String::new(),
            description: String::new(),
            app_type: None,
            is_first_party: true,
            oidc_conformant: false,
            callbacks: vec![],
            allowed_logout_urls: vec![],
            allowed_origins: vec![],
            web_origins: vec![],
            grant_types: DEFAULT_GRANT_TYPES
                .iter()
                .map(|g| (*g).to_owned())
                .collect(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            secret_hash,
            id_token_lifetime: 36_000,
            refresh_token: RefreshTokenSettings::default(),
            backchannel_logout_url: None,
            require_proof_of_possession: false,
            require_pushed_authorization_requests: false,
            is_system: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The client with every present member of `patch` applied, each
    /// validated; the first invalid member is the error and nothing is
    /// changed. A client that becomes public gets rotating refresh tokens
    /// unless the patch names `refresh_token.rotation_type`
    /// ([`Client::default_public_rotation`]).
    pub fn apply(&self, patch: &ClientPatch) -> Result<Self, ValidationError> {
        let mut client = self.clone();
        if let Some(name) = &patch.name {
            if name.trim().is_empty() || name.len() > ClientPatch::MAX_NAME_LENGTH {
                return Err(ValidationError::new("name must be 1 to 256 characters"));
            }
            client.name = name.clone();
        }
        if let Some(d) = &patch.description {
            if d.len() > ClientPatch::MAX_DESCRIPTION_LENGTH {
                return Err(ValidationError::new(
                    "description is limited to 140 characters",
                ));
            }
            client.description = d.clone();
        }
        if let Some(t) = &patch.app_type {
            validate_app_type(t)?;
            client.app_type = Some(t.clone());
        }
        if let Some(v) = patch.is_first_party {
            client.is_first_party = v;
        }
        if let Some(v) = patch.oidc_conformant {
            client.oidc_conformant = v;
        }
        if let Some(v) = patch.require_proof_of_possession {
            client.require_proof_of_possession = v;
        }
        if let Some(v) = patch.require_pushed_authorization_requests {
            client.require_pushed_authorization_requests = v;
        }
        for (field, value, target) in [
            (UrlField::Callbacks, &patch.callbacks, &mut client.callbacks),
            (
                UrlField::AllowedLogoutUrls,
                &patch.allowed_logout_urls,
                &mut client.allowed_logout_urls,
            ),
            (
                UrlField::AllowedOrigins,
                &patch.allowed_origins,
                &mut client.allowed_origins,
            ),
            (
                UrlField::WebOrigins,
                &patch.web_origins,
                &mut client.web_origins,
            ),
        ] {
            if let Some(urls) = value {
                validate_urls(field, urls)?;
                *target = urls.clone();
            }
        }
        if let Some(g) = &patch.grant_types {
            validate_grant_types(g)?;
            client.grant_types = g.clone();
        }
        if let Some(m) = &patch.token_endpoint_auth_method {
            client.token_endpoint_auth_method = TokenEndpointAuthMethod::parse(m)?;
        }
        if let Some(lifetime) = patch.id_token_lifetime {
            if !(1..=ClientPatch::MAX_ID_TOKEN_LIFETIME).contains(&lifetime) {
                return Err(ValidationError::new(
                    "jwt_configuration.lifetime_in_seconds must be between 1 and 2592000",
                ));
            }
            client.id_token_lifetime = lifetime;
        }
        if patch.id_token_alg.as_deref().is_some_and(|a| a != "RS256") {
            return Err(ValidationError::new(
                "jwt_configuration.alg: only RS256 is supported",
            ));
        }
        if patch.id_token_secret_encoded == Some(true) {
            return Err(ValidationError::new(
                "jwt_configuration.secret_encoded is not supported",
            ));
        }
        if let Some(rt) = &patch.refresh_token {
            client.refresh_token = client.refresh_token.apply(rt)?;
        }
        if let Some(urls) = &patch.backchannel_logout_urls {
            client.backchannel_logout_url = validate_backchannel_logout_urls(urls)?;
        }
        let rotation_type_named = patch
            .refresh_token
            .as_ref()
            .is_some_and(|rt| rt.rotation_type.is_some());
        client.default_public_rotation(
            self.token_endpoint_auth_method.is_public(),
            rotation_type_named,
        );
        Ok(client)
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.iter().any(|g| g == grant.as_str())
    }

    /// RFC 9700 §4.14.2: a public client's refresh tokens must rotate (or be
    /// sender-constrained, which grantor does not do). Called after a create
    /// or an update applied its members: a client that is public now and was
    /// not before (a new client was not) gets `rotating`, unless the same
    /// request named `refresh_token.rotation_type`, which is the explicit
    /// opt-in to `non-rotating`. Auth0 defaults every client to `non-rotating`.
    pub fn default_public_rotation(&mut self, was_public: bool, rotation_type_named: bool) {
        if self.token_endpoint_auth_method.is_public() && !was_public && !rotation_type_named {
            self.refresh_token.rotation_type = RotationType::Rotating;
        }
    }
}

/// `oidc_logout.backchannel_logout_urls`: empty, or one registered URL
/// (the URL rules of `urls`) with the http or https scheme, where the
/// logout token is POSTed. Auth0 allows one URL and requires https; grantor
/// accepts http too, for receivers on a private network or localhost.
pub fn validate_backchannel_logout_urls(
    urls: &[String],
) -> Result<Option<String>, ValidationError> {
    let field = UrlField::BackchannelLogoutUrls;
    match urls {
        [] => Ok(None),
        [url] => {
            validate_urls(field, urls)?;
            if url.contains('*') {
                return Err(ValidationError::new(format!(
                    "{}[0]: must not contain a wildcard",
                    field.as_str()
                )));
            }
            let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
            if scheme != "https" && scheme != "http" {
                return Err(ValidationError::new(format!(
                    "{}[0]: must be an http or https URL",
                    field.as_str()
                )));
            }
            Ok(Some(url.clone()))
        }
        _ => Err(ValidationError::new(format!(
            "{}: only one URL is allowed",
            field.as_str()
        ))),
    }
}

/// Known `app_type` values.
pub const APP_TYPES: &[&str] = &[
    "native",
    "spa",
    "regular_web",
    "non_interactive",
    "rms",
    "box",
    "cloudbees",
    "concur",
    "dropbox",
    "mscrm",
    "echosign",
    "egnyte",
    "newrelic",
    "office365",
    "salesforce",
    "sentry",
    "sharepoint",
    "slack",
    "springcm",
    "zendesk",
    "zoom",
    "sso_integration",
    "oag",
];

/// Checks a list of grant types against Auth0's known values.
pub fn validate_grant_types(grant_types: &[String]) -> Result<(), ValidationError> {
    for g in grant_types {
        if !KNOWN_GRANT_TYPES.contains(&g.as_str()) {
            return Err(ValidationError::new(format!("unknown grant type '{g}'")));
        }
    }
    Ok(())
}

/// Checks an `app_type` value.
pub fn validate_app_type(app_type: &str) -> Result<(), ValidationError> {
    if APP_TYPES.contains(&app_type) {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "unknown app_type '{app_type}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(method: TokenEndpointAuthMethod) -> Client {
        Client {
            name: "c".to_owned(),
            grant_types: vec![],
            token_endpoint_auth_method: method,
            ..Client::new(
                crate::ClientId::from("c"),
                crate::TokenHash::of("s"),
                Timestamp(0),
            )
        }
    }

    #[test]
    fn apply_validates_every_member_and_changes_nothing_on_error() {
        let c = client(TokenEndpointAuthMethod::ClientSecretPost);
        let bad = ClientPatch {
            name: Some("renamed".to_owned()),
            callbacks: Some(vec!["javascript:alert(1)".to_owned()]),
            ..ClientPatch::default()
        };
        assert!(c.apply(&bad).is_err());
        for bad in [
            ClientPatch {
                name: Some(" ".to_owned()),
                ..ClientPatch::default()
            },
            ClientPatch {
                description: Some("d".repeat(141)),
                ..ClientPatch::default()
            },
            ClientPatch {
                id_token_lifetime: Some(0),
                ..ClientPatch::default()
            },
            ClientPatch {
                id_token_alg: Some("HS256".to_owned()),
                ..ClientPatch::default()
            },
            ClientPatch {
                token_endpoint_auth_method: Some("private_key_jwt_maybe".to_owned()),
                ..ClientPatch::default()
            },
            ClientPatch {
                grant_types: Some(vec!["magic".to_owned()]),
                ..ClientPatch::default()
            },
        ] {
            assert!(c.apply(&bad).is_err(), "{bad:?}");
        }
        let renamed = c
            .apply(&ClientPatch {
                name: Some("renamed".to_owned()),
                ..ClientPatch::default()
            })
            .unwrap();
        assert_eq!(renamed.name, "renamed");
        assert_eq!(c.name, "c");
    }

    #[test]
    fn a_client_made_public_by_apply_rotates_unless_the_patch_names_rotation() {
        let confidential = client(TokenEndpointAuthMethod::ClientSecretPost);
        let to_public = ClientPatch {
            token_endpoint_auth_method: Some("none".to_owned()),
            ..ClientPatch::default()
        };
        let public = confidential.apply(&to_public).unwrap();
        assert_eq!(public.refresh_token.rotation_type, RotationType::Rotating);
        let opted_out = confidential
            .apply(&ClientPatch {
                refresh_token: Some(RefreshTokenSettingsPatch {
                    rotation_type: Some(RotationType::NonRotating),
                    ..RefreshTokenSettingsPatch::default()
                }),
                ..to_public
            })
            .unwrap();
        assert_eq!(
            opted_out.refresh_token.rotation_type,
            RotationType::NonRotating
        );
        // Already public: a later update does not turn rotation back on.
        let mut non_rotating = public.clone();
        non_rotating.refresh_token.rotation_type = RotationType::NonRotating;
        let renamed = non_rotating
            .apply(&ClientPatch {
                name: Some("n".to_owned()),
                ..ClientPatch::default()
            })
            .unwrap();
        assert_eq!(
            renamed.refresh_token.rotation_type,
            RotationType::NonRotating
        );
    }

    #[test]
    fn public_clients_rotate_unless_rotation_was_named() {
        let mut c = client(TokenEndpointAuthMethod::None);
        c.default_public_rotation(false, false);
        assert_eq!(c.refresh_token.rotation_type, RotationType::Rotating);
        // Named in the same request: the explicit choice stands.
        let mut c = client(TokenEndpointAuthMethod::None);
        c.default_public_rotation(false, true);
        assert_eq!(c.refresh_token.rotation_type, RotationType::NonRotating);
        // Already public (an opt-in made earlier): unchanged.
        let mut c = client(TokenEndpointAuthMethod::None);
        c.default_public_rotation(true, false);
        assert_eq!(c.refresh_token.rotation_type, RotationType::NonRotating);
        // Confidential clients keep Auth0's default.
        let mut c = client(TokenEndpointAuthMethod::ClientSecretPost);
        c.default_public_rotation(false, false);
        assert_eq!(c.refresh_token.rotation_type, RotationType::NonRotating);
    }

    #[test]
    fn defaults_match_auth0() {
        let d = RefreshTokenSettings::default();
        assert_eq!(d.rotation_type, RotationType::NonRotating);
        assert_eq!(d.token_lifetime, 2_592_000);
        assert_eq!(d.idle_token_lifetime, 1_296_000);
        assert!(d.infinite_token_lifetime && d.infinite_idle_token_lifetime);
        assert_eq!(d.absolute_lifetime(), None);
        assert_eq!(d.idle_lifetime(), None);
    }

    #[test]
    fn switching_to_expiring_turns_infinite_flags_off() {
        let patch = RefreshTokenSettingsPatch {
            rotation_type: Some(RotationType::Rotating),
            expiration_type: Some(ExpirationType::Expiring),
            ..Default::default()
        };
        let s = RefreshTokenSettings::default().apply(&patch).unwrap();
        assert!(!s.infinite_token_lifetime && !s.infinite_idle_token_lifetime);
        assert_eq!(s.absolute_lifetime(), Some(2_592_000));
        assert_eq!(s.idle_lifetime(), Some(1_296_000));
    }

    #[test]
    fn rejects_out_of_range_values() {
        let base = RefreshTokenSettings::default();
        for patch in [
            RefreshTokenSettingsPatch {
                leeway: Some(-1),
                ..Default::default()
            },
            RefreshTokenSettingsPatch {
                token_lifetime: Some(0),
                ..Default::default()
            },
            RefreshTokenSettingsPatch {
                idle_token_lifetime: Some(157_788_001),
                ..Default::default()
            },
            RefreshTokenSettingsPatch {
                expiration_type: Some(ExpirationType::Expiring),
                token_lifetime: Some(60),
                idle_token_lifetime: Some(120),
                ..Default::default()
            },
        ] {
            assert!(base.apply(&patch).is_err(), "{patch:?} should be refused");
        }
    }

    #[test]
    fn grant_type_round_trip() {
        for g in [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
            GrantType::Password,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::parse("implicit"), None);
    }
}
