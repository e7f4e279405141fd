//! The one place that invalidates tokens. Every revoking path calls in here;
//! each revocation is a constant number of writes against durable state
//! (family, grant epoch, user epoch, session), checked on every use.

use grantor_domain::Timestamp;

use super::FlowError;
use crate::state::AppState;

/// Why a family was revoked; stored with it and (later) audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A rotated-out refresh token was presented again (CONTRACT §4 rule 6).
    ReuseDetected,
    /// An authorization code was presented twice (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The client switched off rotation; the rotating family is replaced.
    RotationDisabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReuseDetected => "reuse-detected",
            Self::CodeReplayed => "code-replayed",
            Self::RotationDisabled => "rotation-disabled",
        }
    }
}

/// Revokes one refresh-token family: every token of it stops working at once.
pub async fn revoke_family(state: &AppState, family_id: &str, reason: Reason, now: Timestamp) -> Result<bool, FlowError> {
    let revoked = state.store.revoke_family(family_id, reason.as_str(), now).await?;
    if revoked {
        tracing::info!(family_id, reason = reason.as_str(), "refresh-token family revoked");
    }
    Ok(revoked)
}

/// Revokes what the first redemption of a replayed code issued.
pub async fn revoke_code_issue(
    state: &AppState,
    family_id: Option<&str>,
    jti: Option<&str>,
    now: Timestamp,
) -> Result<(), FlowError> {
    if let Some(family_id) = family_id {
        revoke_family(state, family_id, Reason::CodeReplayed, now).await?;
    }
    if let Some(jti) = jti {
        state.store.revoke_access_token(jti, now).await?;
    }
    Ok(())
}
