//! Identifiers as types, so that a user id cannot be passed where a grant id
//! is expected. Each is a plain wrapper over the string the store keeps; the
//! wire format (and serde) stays in the HTTP layer, which converts at the
//! boundary.

/// Declares one identifier type over `String`.
macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        /// As the string itself, so that logs read as before.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

identifier!(
    /// An application's `client_id`.
    ClientId
);
identifier!(
    /// A user's `user_id` (`auth0|…`).
    UserId
);
identifier!(
    /// A user's consent for one client and one API.
    GrantId
);
identifier!(
    /// A browser session (the `sid` of tokens issued through it).
    SessionId
);
identifier!(
    /// A refresh-token family: one token and its rotations share it.
    FamilyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_convert_both_ways() {
        let id = UserId::from("auth0|1");
        assert_eq!(id.as_str(), "auth0|1");
        assert_eq!(id.to_string(), "auth0|1");
        assert!(id == *"auth0|1");
        assert_eq!(String::from(id), "auth0|1");
    }

    #[test]
    fn ids_compare_with_strings_and_debug_as_strings() {
        let id = FamilyId::from("f-1");
        assert_eq!(id, "f-1");
        assert_eq!(id, "f-1".to_owned());
        assert_eq!(format!("{id:?}"), format!("{:?}", "f-1"));
        assert_eq!(format!("{:?}", Some(&id)), r#"Some("f-1")"#);
    }
}
