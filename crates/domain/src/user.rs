//! Users of the database connection `Username-Password-Authentication`.

use crate::{Timestamp, UserId, ValidationError};

pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

#[derive(Debug, Clone)]
pub struct User {
    /// `auth0|<24 hex>`, or `auth0|<id>` for an id given at creation
    /// (see [`database_user_id`]).
    pub user_id: UserId,
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

/// The members a create or an update sets (Auth0's `PATCH /users/{id}`
/// body, as values); an absent member leaves the user's value as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// Normalised by [`User::apply`].
    pub email: Option<String>,
    /// Checked against the policy by [`User::apply`]; hashing it, which the
    /// domain cannot do, is the caller's.
    pub password: Option<String>,
    pub email_verified: Option<bool>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Normalised to E.164 by [`User::apply`].
    pub phone_number: Option<String>,
    pub phone_verified: Option<bool>,
    pub blocked: Option<bool>,
    /// JSON object text replacing the current metadata (merging the members
    /// of a JSON patch is the caller's).
    pub app_metadata: Option<String>,
    pub user_metadata: Option<String>,
}

impl UserPatch {
    /// The profile members this patch sets (for an audit event's
    /// `details.changed`); the password is never named with its value, and
    /// is left out, as it is audited on its own (a revocation).
    pub fn changed_members(&self) -> Vec<&'static str> {
        [
            ("email", self.email.is_some()),
            ("email_verified", self.email_verified.is_some()),
            ("username", self.username.is_some()),
            ("name", self.name.is_some()),
            ("nickname", self.nickname.is_some()),
            ("picture", self.picture.is_some()),
            ("given_name", self.given_name.is_some()),
            ("family_name", self.family_name.is_some()),
            ("phone_number", self.phone_number.is_some()),
            ("phone_verified", self.phone_verified.is_some()),
            ("blocked", self.blocked.is_some()),
            ("app_metadata", self.app_metadata.is_some()),
            ("user_metadata", self.user_metadata.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// The most characters of a name, nickname, given or family name, or username.
pub const MAX_NAME_LENGTH: usize = 300;
/// The most characters of a picture URL.
pub const MAX_PICTURE_LENGTH: usize = 2048;

impl UserPatch {
    fn check_lengths(&self) -> Result<(), ValidationError> {
        let limits = [
            ("username", &self.username, MAX_NAME_LENGTH),
            ("name", &self.name, MAX_NAME_LENGTH),
            ("nickname", &self.nickname, MAX_NAME_LENGTH),
            ("given_name", &self.given_name, MAX_NAME_LENGTH),
            ("family_name", &self.family_name, MAX_NAME_LENGTH),
            ("picture", &self.picture, MAX_PICTURE_LENGTH),
        ];
        for (field, value, max) in limits {
            if value.as_ref().is_some_and(|v| v.len() > max) {
                return Err(ValidationError::new(format!(
                    "{field} is limited to {max} characters"
                )));
            }
        }
        Ok(())
    }
}

impl User {
    /// The part of `user_id` after the provider prefix.
    pub fn identity_id(&self) -> &str {
        let user_id = self.user_id.as_str();
        user_id.split_once('|').map_or(user_id, |(_, id)| id)
    }

    /// A new user of the database connection: `email` and `patch` applied to
    /// a blank user whose `name` is the e-mail address and `nickname` its
    /// local part unless the patch names them, as Auth0 does. The password
    /// hash is left empty for the caller to set.
    pub fn create(
        user_id: UserId,
        email: &str,
        patch: &UserPatch,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let email = normalize_email(email)?;
        let local_part = email.split('@').next().unwrap_or_default().to_owned();
        let blank = Self {
            user_id,
            connection: DATABASE_CONNECTION.to_owned(),
            name: email.clone(),
            nickname: local_part,
            email,
            email_verified: false,
            username: None,
            picture: None,
            given_name: None,
            family_name: None,
            phone_number: None,
            phone_verified: false,
            blocked: false,
            app_metadata: "{}".to_owned(),
            user_metadata: "{}".to_owned(),
            password_hash: String::new(),
            created_at: now,
            updated_at: now,
            last_login: None,
            last_ip: None,
            logins_count: 0,
        };
        blank.apply(patch, now)
    }

    /// `self` with `patch` applied at `now`, or the first member (in body
    /// order) that breaks a rule. A verified phone needs a phone number,
    /// whether either comes from the patch or was there before.
    pub fn apply(&self, patch: &UserPatch, now: Timestamp) -> Result<Self, ValidationError> {
        let mut next = self.clone();
        if let Some(email) = &patch.email {
            next.email = normalize_email(email)?;
        }
        if let Some(password) = &patch.password {
            validate_password(password)?;
        }
        patch.check_lengths()?;
        let replace = |value: &Option<String>, current: &mut Option<String>| {
            if let Some(v) = value {
                *current = Some(v.clone());
            }
        };
        if let Some(v) = patch.email_verified {
            next.email_verified = v;
        }
        if let Some(v) = patch.blocked {
            next.blocked = v;
        }
        replace(&patch.username, &mut next.username);
        if let Some(v) = &patch.name {
            next.name = v.clone();
        }
        if let Some(v) = &patch.nickname {
            next.nickname = v.clone();
        }
        replace(&patch.picture, &mut next.picture);
        replace(&patch.given_name, &mut next.given_name);
        replace(&patch.family_name, &mut next.family_name);
        if let Some(v) = &patch.phone_number {
            next.phone_number = Some(normalize_phone_number(v)?);
        }
        if let Some(v) = patch.phone_verified {
            next.phone_verified = v;
        }
        if next.phone_verified && next.phone_number.is_none() {
            return Err(ValidationError::new("phone_verified needs a phone_number"));
        }
        if let Some(v) = &patch.app_metadata {
            next.app_metadata = v.clone();
        }
        if let Some(v) = &patch.user_metadata {
            next.user_metadata = v.clone();
        }
        next.updated_at = now;
        Ok(next)
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

    fn ann() -> User {
        User::create(
            UserId::from("auth0|ann"),
            " Ann@Example.com",
            &UserPatch {
                password: Some("long enough".to_owned()),
                ..Default::default()
            },
            Timestamp(1),
        )
        .unwrap()
    }

    #[test]
    fn a_new_user_is_named_after_the_email_address() {
        let user = ann();
        assert_eq!(user.email, "ann@example.com");
        assert_eq!(user.name, "ann@example.com");
        assert_eq!(user.nickname, "ann");
        assert_eq!(
            (user.app_metadata.as_str(), user.user_metadata.as_str()),
            ("{}", "{}")
        );
        assert_eq!(
            (user.created_at, user.updated_at),
            (Timestamp(1), Timestamp(1))
        );
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let user = ann();
        let patch = UserPatch {
            nickname: Some("annie".to_owned()),
            phone_number: Some("+1 415 555 0123".to_owned()),
            ..Default::default()
        };
        let next = user.apply(&patch, Timestamp(2)).unwrap();
        assert_eq!(next.nickname, "annie");
        assert_eq!(next.phone_number.as_deref(), Some("+14155550123"));
        assert_eq!((next.name, next.email), (user.name, user.email));
        assert_eq!(next.updated_at, Timestamp(2));
    }

    #[test]
    fn a_verified_phone_needs_a_phone_number() {
        let verified = UserPatch {
            phone_verified: Some(true),
            ..Default::default()
        };
        assert!(ann().apply(&verified, Timestamp(2)).is_err());
        let with_phone = ann()
            .apply(
                &UserPatch {
                    phone_number: Some("+14155550123".to_owned()),
                    ..Default::default()
                },
                Timestamp(2),
            )
            .unwrap();
        assert!(
            with_phone
                .apply(&verified, Timestamp(3))
                .unwrap()
                .phone_verified
        );
    }

    #[test]
    fn patch_members_are_checked_in_body_order() {
        let patch = UserPatch {
            email: Some("not an address".to_owned()),
            password: Some("short".to_owned()),
            name: Some("n".repeat(MAX_NAME_LENGTH + 1)),
            ..Default::default()
        };
        let e = ann().apply(&patch, Timestamp(2)).unwrap_err();
        assert!(e.0.contains("format email"), "{e}");
        let patch = UserPatch {
            email: None,
            ..patch
        };
        let e = ann().apply(&patch, Timestamp(2)).unwrap_err();
        assert!(e.0.contains("Password"), "{e}");
        let patch = UserPatch {
            password: None,
            ..patch
        };
        let e = ann().apply(&patch, Timestamp(2)).unwrap_err();
        assert_eq!(
            e.0,
            format!("name is limited to {MAX_NAME_LENGTH} characters")
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
    }
}
