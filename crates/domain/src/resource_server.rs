//! APIs (resource servers): the audiences tokens are issued for.

use crate::{ScopeSet, Timestamp, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Ps256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [Self::Rs256, Self::Ps256, Self::Es256, Self::EdDsa];

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "RS256" => Ok(Self::Rs256),
            "PS256" => Ok(Self::Ps256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(ValidationError::new(format!(
                "signing_alg must be one of RS256, PS256, ES256, EdDSA (got '{other}')"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDefinition {
    pub value: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct ResourceServer {
    pub id: String,
    pub name: String,
    /// The audience; immutable once created.
    pub identifier: String,
    pub scopes: Vec<ScopeDefinition>,
    pub signing_alg: SigningAlg,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
    /// Access-token lifetime in seconds.
    pub token_lifetime: i64,
    pub token_lifetime_for_web: i64,
    /// The Management API; cannot be changed or deleted.
    pub is_system: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ResourceServer {
    pub const DEFAULT_TOKEN_LIFETIME: i64 = 86_400;
    pub const DEFAULT_TOKEN_LIFETIME_FOR_WEB: i64 = 7_200;
    /// Auth0's ceiling for access-token lifetimes: 30 days.
    pub const MAX_TOKEN_LIFETIME: i64 = 2_592_000;

    pub fn scope_set(&self) -> ScopeSet {
        self.scopes.iter().map(|s| s.value.as_str()).collect()
    }
}

pub fn validate_token_lifetime(field: &str, seconds: i64) -> Result<(), ValidationError> {
    if (1..=ResourceServer::MAX_TOKEN_LIFETIME).contains(&seconds) {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "{field} must be between 1 and {}",
            ResourceServer::MAX_TOKEN_LIFETIME
        )))
    }
}

/// A scope value: 1..=280 visible characters without spaces.
pub fn validate_scope_definitions(scopes: &[ScopeDefinition]) -> Result<(), ValidationError> {
    for s in scopes {
        if s.value.is_empty()
            || s.value.len() > 280
            || s.value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ValidationError::new(format!(
                "invalid scope value '{}'",
                s.value
            )));
        }
        if s.description.len() > 500 {
            return Err(ValidationError::new(
                "scope descriptions are limited to 500 characters",
            ));
        }
    }
    let mut values: Vec<&str> = scopes.iter().map(|s| s.value.as_str()).collect();
    values.sort_unstable();
    if values.windows(2).any(|w| w[0] == w[1]) {
        return Err(ValidationError::new("scope values must be unique"));
    }
    Ok(())
}

/// An API identifier: a non-empty string without whitespace, at most 600 characters.
pub fn validate_identifier(identifier: &str) -> Result<(), ValidationError> {
    if identifier.is_empty()
        || identifier.len() > 600
        || identifier.chars().any(char::is_whitespace)
    {
        Err(ValidationError::new(
            "identifier must be a non-empty string without spaces",
        ))
    } else {
        Ok(())
    }
}
