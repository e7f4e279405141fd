//! Why access ends: the reasons a revocation records. The text of each is
//! what the store writes as a family's `revoked_reason` and what the audit
//! event carries, so it must not change.

use crate::user::UserPatch;
use crate::User;

/// Why tokens were revoked; stored with revoked families and in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A rotated-out refresh token was presented again (CONTRACT §4 rule 6).
    ReuseDetected,
    /// An authorization code was presented twice (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The client switched off rotation; the rotating family is replaced.
    RotationDisabled,
    /// A client called `/oauth/revoke` (CONTRACT §4 rule 3).
    RevokeEndpoint,
    /// A Management API call (CONTRACT §4 rule 5).
    ManagementApi,
    /// A dashboard administrator's action (CONTRACT §5).
    Dashboard,
    /// The user was blocked (CONTRACT §6.3).
    UserBlocked,
    /// The user's password was changed (CONTRACT §6.3).
    PasswordChanged,
    /// The user was deleted (CONTRACT §6.3).
    UserDeleted,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReuseDetected => "reuse-detected",
            Self::CodeReplayed => "code-replayed",
            Self::RotationDisabled => "rotation-disabled",
            Self::RevokeEndpoint => "revoke-endpoint",
            Self::ManagementApi => "management-api",
            Self::Dashboard => "dashboard",
            Self::UserBlocked => "user-blocked",
            Self::PasswordChanged => "password-changed",
            Self::UserDeleted => "user-deleted",
        }
    }

    /// Why updating `current` by `patch` ends the user's access, if it does
    /// (CONTRACT §6.3): blocking (even a user read as blocked already: the
    /// read may be stale, someone may have unblocked them since, and ending
    /// access that is already ended costs nothing), or setting a password.
    pub fn for_user_update(_current: &User, patch: &UserPatch) -> Option<Self> {
        if patch.blocked == Some(true) {
            Some(Self::UserBlocked)
        } else if patch.password.is_some() {
            Some(Self::PasswordChanged)
        } else {
            None
        }
    }
}
