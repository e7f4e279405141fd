//! Tenant-wide settings.

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

impl TenantSettings {
    pub fn default_audience(&self) -> Option<&str> {
        (!self.default_audience.is_empty()).then_some(self.default_audience.as_str())
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
