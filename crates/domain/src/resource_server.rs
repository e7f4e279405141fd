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

    /// The longest `name`.
    pub const MAX_NAME_LENGTH: usize = 200;

    /// A new API for `identifier` (validated), named after it, with Auth0's
    /// defaults, before the create request's members are applied.
    pub fn new(id: String, identifier: String, now: Timestamp) -> Result<Self, ValidationError> {
        validate_identifier(&identifier)?;
        Ok(Self {
            id,
            name: identifier.clone(),
            identifier,
            scopes: vec![],
            signing_alg: SigningAlg::Rs256,
            allow_offline_access: false,
            skip_consent_for_verifiable_first_party_clients: false,
            token_lifetime: Self::DEFAULT_TOKEN_LIFETIME,
            token_lifetime_for_web: Self::DEFAULT_TOKEN_LIFETIME_FOR_WEB,
            is_system: false,
            created_at: now,
            updated_at: now,
        })
    }

    /// The API with every present member of `patch` applied, each validated;
    /// the first invalid member is the error and nothing is changed. The
    /// identifier cannot change (naming the current one is allowed).
    pub fn apply(&self, patch: &ResourceServerPatch) -> Result<Self, ValidationError> {
        if patch
            .identifier
            .as_ref()
            .is_some_and(|i| *i != self.identifier)
        {
            return Err(ValidationError::new("identifier cannot be changed"));
        }
        let mut rs = self.clone();
        if let Some(name) = &patch.name {
            if name.trim().is_empty() || name.len() > Self::MAX_NAME_LENGTH {
                return Err(ValidationError::new("name must be 1 to 200 characters"));
            }
            rs.name = name.clone();
        }
        if let Some(scopes) = &patch.scopes {
            validate_scope_definitions(scopes)?;
            rs.scopes = scopes.clone();
        }
        if let Some(alg) = &patch.signing_alg {
            rs.signing_alg = SigningAlg::parse(alg)?;
        }
        if let Some(v) = patch.allow_offline_access {
            rs.allow_offline_access = v;
        }
        if let Some(v) = patch.skip_consent_for_verifiable_first_party_clients {
            rs.skip_consent_for_verifiable_first_party_clients = v;
        }
        if let Some(v) = patch.token_lifetime {
            validate_token_lifetime("token_lifetime", v)?;
            rs.token_lifetime = v;
        }
        if let Some(v) = patch.token_lifetime_for_web {
            validate_token_lifetime("token_lifetime_for_web", v)?;
            rs.token_lifetime_for_web = v;
        }
        Ok(rs)
    }

    pub fn scope_set(&self) -> ScopeSet {
        self.scopes.iter().map(|s| s.value.as_str()).collect()
    }

    /// `scope` as a set, if every value is defined on this API (a client
    /// grant may hold only those).
    pub fn defined_scopes(&self, scope: Vec<String>) -> Result<ScopeSet, ValidationError> {
        let defined = self.scope_set();
        if let Some(unknown) = scope.iter().find(|s| !defined.contains(s)) {
            return Err(ValidationError::new(format!(
                "scope '{unknown}' is not defined on the API"
            )));
        }
        Ok(scope.into_iter().collect())
    }
}

/// The members a create or an update of an API sets (Auth0's `POST` and
/// `PATCH /resource-servers` bodies, as values); an absent member leaves the
/// API's value as it is. Checked by [`ResourceServer::apply`].
#[derive(Debug, Clone, Default)]
pub struct ResourceServerPatch {
    /// Only the current identifier is accepted on an update.
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub scopes: Option<Vec<ScopeDefinition>>,
    /// Parsed by [`ResourceServer::apply`].
    pub signing_alg: Option<String>,
    pub allow_offline_access: Option<bool>,
    pub skip_consent_for_verifiable_first_party_clients: Option<bool>,
    pub token_lifetime: Option<i64>,
    pub token_lifetime_for_web: Option<i64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keeps_the_identifier_and_checks_members() {
        let api =
            ResourceServer::new("id".to_owned(), "https://api".to_owned(), Timestamp(0)).unwrap();
        assert_eq!(api.name, "https://api");
        assert!(
            ResourceServer::new("id".to_owned(), "has space".to_owned(), Timestamp(0)).is_err()
        );
        let same = ResourceServerPatch {
            identifier: Some("https://api".to_owned()),
            ..ResourceServerPatch::default()
        };
        assert!(api.apply(&same).is_ok());
        for bad in [
            ResourceServerPatch {
                identifier: Some("https://other".to_owned()),
                ..ResourceServerPatch::default()
            },
            ResourceServerPatch {
                signing_alg: Some("HS256".to_owned()),
                ..ResourceServerPatch::default()
            },
            ResourceServerPatch {
                token_lifetime: Some(ResourceServer::MAX_TOKEN_LIFETIME + 1),
                ..ResourceServerPatch::default()
            },
            ResourceServerPatch {
                name: Some(String::new()),
                ..ResourceServerPatch::default()
            },
        ] {
            assert!(api.apply(&bad).is_err(), "{bad:?}");
        }
        let scoped = api
            .apply(&ResourceServerPatch {
                scopes: Some(vec![ScopeDefinition {
                    value: "read:x".to_owned(),
                    description: String::new(),
                }]),
                signing_alg: Some("EdDSA".to_owned()),
                ..ResourceServerPatch::default()
            })
            .unwrap();
        assert_eq!(scoped.signing_alg, SigningAlg::EdDsa);
        assert!(scoped.defined_scopes(vec!["read:x".to_owned()]).is_ok());
        assert!(scoped.defined_scopes(vec!["write:x".to_owned()]).is_err());
    }
}
