//! Users of the database connection `Username-Password-Authentication`.

use crate::{Timestamp, ValidationError};

pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

#[derive(Debug, Clone)]
pub struct User {
    /// `auth0|<24 hex>`.
    pub user_id: String,
    pub connection: String,
    /// Stored lower-cased, as Auth0 does.
    pub email: String,
    pub email_verified: bool,
    pub username: Option<String>,
    pub name: String,
    pub nickname: String,
    pub picture: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub blocked: bool,
    /// JSON object text, validated at the boundary.
    pub app_metadata: String,
    /// JSON object text, validated at the boundary.
    pub user_metadata: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_login: Option<Timestamp>,
    pub last_ip: Option<String>,
    pub logins_count: i64,
}

impl User {
    /// The part of `user_id` after the provider prefix.
    pub fn identity_id(&self) -> &str {
        self.user_id
            .split_once('|')
            .map_or(self.user_id.as_str(), |(_, id)| id)
    }
}

/// A plausible e-mail address: one `@`, something on each side, a dot in the domain.
pub fn normalize_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && email.len() <= 254
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(ValidationError::new(format!(
            "Object didn't pass validation for format email: {raw}"
        )))
    }
}

/// Auth0's default database password policy ("fair"): at least 8 characters.
pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    if password.chars().count() < 8 {
        Err(ValidationError::new(
            "PasswordStrengthError: Password is too weak",
        ))
    } else if password.len() > 1024 {
        Err(ValidationError::new("Password is too long"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
