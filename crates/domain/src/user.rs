//! Users of the database connection `Username-Password-Authentication`.

use crate::{Timestamp, ValidationError};

pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

#[derive(Debug, Clone)]
pub struct User {
    /// `auth0|<24 hex>`, or `auth0|<id>` for an id given at creation
    /// (see [`database_user_id`]).
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
    /// E.164 (see [`normalize_phone_number`]); an attribute, not unique.
    pub phone_number: Option<String>,
    pub phone_verified: bool,
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

/// The most characters of an id given at creation (the part after `auth0|`).
pub const MAX_USER_ID_LENGTH: usize = 128;

/// The `user_id` of a database user created with an id of its own: Auth0
/// takes the id without the provider prefix and stores `auth0|<id>`. The id
/// is 1 to [`MAX_USER_ID_LENGTH`] ASCII letters, digits, `.`, `_`, `-` or `@`,
/// so it needs no quoting in a path, a query or a log search, and holds no
/// `|` (a given `auth0|…` would otherwise become `auth0|auth0|…`).
pub fn database_user_id(id: &str) -> Result<String, ValidationError> {
    if id.is_empty() || id.len() > MAX_USER_ID_LENGTH {
        return Err(ValidationError::new(format!(
            "user_id must be 1 to {MAX_USER_ID_LENGTH} characters (without the auth0| prefix)"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if !id.chars().all(allowed) {
        return Err(ValidationError::new(
            "user_id may hold only letters, digits, '.', '_', '-' and '@' (give it without the auth0| prefix)",
        ));
    }
    Ok(format!("auth0|{id}"))
}

/// An E.164 phone number (`+` and 2 to 15 digits, the first not 0), as Auth0
/// requires for `phone_number`; spaces, dashes, dots and parentheses that
/// people type between digits are dropped.
pub fn normalize_phone_number(raw: &str) -> Result<String, ValidationError> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let valid = compact.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if valid {
        Ok(compact)
    } else {
        Err(ValidationError::new(format!(
            "Object didn't pass validation for format phone-number (E.164, e.g. +14155550123): {raw}"
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
    fn given_user_ids_get_the_prefix_and_are_checked() {
        assert_eq!(database_user_id("abc-123").unwrap(), "auth0|abc-123");
        assert_eq!(
            database_user_id("ann.example@corp_1").unwrap(),
            "auth0|ann.example@corp_1"
        );
        let longest = "a".repeat(MAX_USER_ID_LENGTH);
        assert_eq!(
            database_user_id(&longest).unwrap(),
            format!("auth0|{longest}")
        );
        for bad in [
            String::new(),
            "a".repeat(MAX_USER_ID_LENGTH + 1),
            "auth0|abc".to_owned(),
            "a b".to_owned(),
            "a/b".to_owned(),
            "a\"b".to_owned(),
            "é".to_owned(),
            "a\n".to_owned(),
        ] {
            assert!(database_user_id(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            normalize_phone_number("+14155550123").unwrap(),
            "+14155550123"
        );
        assert_eq!(
            normalize_phone_number(" +1 (415) 555-0123 ").unwrap(),
            "+14155550123"
        );
        for bad in [
            "",
            "+",
            "14155550123",
            "+0123456",
            "+1",
            "+1234567890123456",
            "+1415555012a",
            "++14155550123",
        ] {
            assert!(normalize_phone_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
