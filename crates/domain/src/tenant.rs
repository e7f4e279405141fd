//! Tenant-wide settings.

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub friendly_name: String,
    /// "Refresh Token Revocation Deletes Grant": `/oauth/revoke` also deletes the grant.
    pub revoke_refresh_token_grant: bool,
    /// Audience used when a token request names none; empty means unset.
    pub default_audience: String,
    /// Browser session absolute lifetime, hours.
    pub session_lifetime: i64,
    /// Browser session inactivity lifetime, hours.
    pub idle_session_lifetime: i64,
}

/// The members an update of the settings sets (Auth0's
/// `PATCH /tenants/settings` body, as values); an absent member leaves the
/// setting as it is. Checked by [`TenantSettings::apply`].
#[derive(Debug, Clone, Default)]
pub struct TenantSettingsPatch {
    pub friendly_name: Option<String>,
    /// `flags.revoke_refresh_token_grant`.
    pub revoke_refresh_token_grant: Option<bool>,
    /// An API identifier, or empty to unset it.
    pub default_audience: Option<String>,
    pub session_lifetime: Option<i64>,
    pub idle_session_lifetime: Option<i64>,
}

impl TenantSettings {
    /// The longest `friendly_name`.
    pub const MAX_FRIENDLY_NAME_LENGTH: usize = 255;
    /// The longest session lifetime, in hours (a year).
    pub const MAX_SESSION_LIFETIME_HOURS: i64 = 8760;

    pub fn default_audience(&self) -> Option<&str> {
        (!self.default_audience.is_empty()).then_some(self.default_audience.as_str())
    }

    /// The settings with every present member of `patch` applied, each
    /// validated; the first invalid member is the error. A non-empty
    /// `default_audience` must name an existing API: the caller looks it up
    /// and passes whether it exists as `audience_exists`.
    pub fn apply(
        &self,
        patch: &TenantSettingsPatch,
        audience_exists: bool,
    ) -> Result<Self, ValidationError> {
        let mut settings = self.clone();
        if let Some(name) = &patch.friendly_name {
            if name.len() > Self::MAX_FRIENDLY_NAME_LENGTH {
                return Err(ValidationError::new(
                    "friendly_name is limited to 255 characters",
                ));
            }
            settings.friendly_name = name.clone();
        }
        if let Some(v) = patch.revoke_refresh_token_grant {
            settings.revoke_refresh_token_grant = v;
        }
        if let Some(audience) = &patch.default_audience {
            if !audience.is_empty() && !audience_exists {
                return Err(ValidationError::new(
                    "default_audience must be the identifier of an existing API",
                ));
            }
            settings.default_audience = audience.clone();
        }
        for (field, value, target) in [
            (
                "session_lifetime",
                patch.session_lifetime,
                &mut settings.session_lifetime,
            ),
            (
                "idle_session_lifetime",
                patch.idle_session_lifetime,
                &mut settings.idle_session_lifetime,
            ),
        ] {
            if let Some(hours) = value {
                if !(1..=Self::MAX_SESSION_LIFETIME_HOURS).contains(&hours) {
                    return Err(ValidationError::new(format!(
                        "{field} must be between 1 and 8760 hours"
                    )));
                }
                *target = hours;
            }
        }
        Ok(settings)
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            friendly_name: "grantor".to_owned(),
            revoke_refresh_token_grant: false,
            default_audience: String::new(),
            session_lifetime: 168,
            idle_session_lifetime: 72,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_checks_lengths_lifetimes_and_the_default_audience() {
        let settings = TenantSettings::default();
        let audience = TenantSettingsPatch {
            default_audience: Some("https://api".to_owned()),
            ..TenantSettingsPatch::default()
        };
        assert!(settings.apply(&audience, false).is_err());
        assert_eq!(
            settings.apply(&audience, true).unwrap().default_audience(),
            Some("https://api")
        );
        let unset = TenantSettingsPatch {
            default_audience: Some(String::new()),
            ..TenantSettingsPatch::default()
        };
        assert_eq!(
            settings.apply(&unset, false).unwrap().default_audience(),
            None
        );
        for bad in [
            TenantSettingsPatch {
                friendly_name: Some("n".repeat(256)),
                ..TenantSettingsPatch::default()
            },
            TenantSettingsPatch {
                session_lifetime: Some(0),
                ..TenantSettingsPatch::default()
            },
            TenantSettingsPatch {
                idle_session_lifetime: Some(8761),
                ..TenantSettingsPatch::default()
            },
        ] {
            assert!(settings.apply(&bad, true).is_err(), "{bad:?}");
        }
    }
}
