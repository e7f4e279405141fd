//! Refresh-token decisions: lifetimes at issue and on exchange, and what an
//! exchange of a presented token means (CONTRACT §4 rules 6 and 7, reference §3).
//!
//! A *family* is one logical refresh token (what the Management API lists);
//! each rotation adds a *secret* with the next generation. The store reads the
//! family together with the state it depends on (grant, user, session) and asks
//! [`decide_exchange`] what to do; the store then applies the answer with a
//! compare-and-set on `current_generation`.

use crate::{RefreshTokenSettings, RotationType, Timestamp};

/// Everything the validity of a presented secret depends on, read in one query.
#[derive(Debug, Clone)]
pub struct FamilySnapshot {
    pub revoked: bool,
    /// The grant exists and its token epoch equals the family's.
    pub grant_current: bool,
    /// The user exists and their refresh-token epoch equals the family's.
    pub user_current: bool,
    /// No session, or a session that was not revoked.
    pub session_current: bool,
    pub rotating: bool,
    pub expires_at: Option<Timestamp>,
    pub idle_expires_at: Option<Timestamp>,
    pub current_generation: i64,
    pub last_rotated_at: Option<Timestamp>,
}

/// Why a presented refresh token cannot be used (all answered `invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeDecision {
    /// Non-rotating family: the same secret stays valid.
    Reuse,
    /// The newest secret: issue generation `current + 1`.
    Rotate,
    /// The immediately previous secret inside the leeway: issue another
    /// secret of the current generation (a sibling of the newest).
    RotateWithinLeeway,
    /// A rotated-out secret outside the leeway: revoke the family.
    ReuseDetected,
    Reject(Rejection),
}

/// Decides what presenting the secret of `generation` means at `now`.
pub fn decide_exchange(
    family: &FamilySnapshot,
    generation: i64,
    leeway_seconds: i64,
    now: Timestamp,
) -> ExchangeDecision {
    if family.revoked || !family.grant_current || !family.user_current || !family.session_current {
        return ExchangeDecision::Reject(Rejection::Revoked);
    }
    let expired = |at: Option<Timestamp>| at.is_some_and(|t| now >= t);
    if expired(family.expires_at) || expired(family.idle_expires_at) {
        return ExchangeDecision::Reject(Rejection::Expired);
    }
    if !family.rotating {
        // A family that stopped rotating keeps only its newest secret.
        return if generation == family.current_generation {
            ExchangeDecision::Reuse
        } else {
            ExchangeDecision::ReuseDetected
        };
    }
    if generation == family.current_generation {
        return ExchangeDecision::Rotate;
    }
    let within_leeway = family
        .last_rotated_at
        .is_some_and(|rotated| leeway_seconds > 0 && now < rotated.plus_seconds(leeway_seconds));
    if generation == family.current_generation - 1 && within_leeway {
        ExchangeDecision::RotateWithinLeeway
    } else {
        ExchangeDecision::ReuseDetected
    }
}

/// What an honoured exchange does to its family, given the client's rotation
/// setting now (reference §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangePlan {
    /// The family goes on under the same id.
    Continue(FamilyStep),
    /// The client switched rotation off: the rotating family is revoked and
    /// the response carries the first token of a new non-rotating family.
    ReplaceWithNonRotating,
}

/// How one exchange moves a family that goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyStep {
    /// The family's `current_generation` after the exchange.
    pub new_generation: i64,
    /// Whether the generation moved on (`last_rotated_at` is set, and the
    /// secrets older than the previous generation can go).
    pub rotated: bool,
    /// Whether the response carries a new secret, of `secret_generation`;
    /// otherwise the presented one stays valid (non-rotating).
    pub issue_secret: bool,
    pub secret_generation: i64,
    /// Whether the family rotates after the exchange.
    pub rotating: bool,
}

impl FamilyStep {
    /// A family that did not rotate and now does: the user's other
    /// non-rotating tokens for the same client and API are revoked with it
    /// (reference §3.2).
    pub fn starts_rotating(&self, family: &FamilySnapshot) -> bool {
        !family.rotating && self.rotating
    }
}

/// The plan for an honoured `decision` (`Reuse`, `Rotate` or
/// `RotateWithinLeeway`); `None` for the others, which issue nothing.
pub fn plan_exchange(
    decision: ExchangeDecision,
    family: &FamilySnapshot,
    settings: &RefreshTokenSettings,
) -> Option<ExchangePlan> {
    let switch = rotation_switch(family.rotating, settings);
    let current = family.current_generation;
    let rotate = FamilyStep {
        new_generation: current + 1,
        rotated: true,
        issue_secret: true,
        secret_generation: current + 1,
        rotating: true,
    };
    let step = match decision {
        ExchangeDecision::Reject(_) | ExchangeDecision::ReuseDetected => return None,
        // A sibling of the newest secret; the family stays where it is. Inside
        // the leeway the switch waits for the next exchange of the newest one.
        ExchangeDecision::RotateWithinLeeway => FamilyStep {
            new_generation: current,
            rotated: false,
            issue_secret: true,
            secret_generation: current,
            rotating: true,
        },
        _ if switch == Some(RotationType::NonRotating) => {
            return Some(ExchangePlan::ReplaceWithNonRotating)
        }
        ExchangeDecision::Rotate => rotate,
        // A non-rotating family whose client now rotates becomes rotating.
        ExchangeDecision::Reuse if switch == Some(RotationType::Rotating) => rotate,
        ExchangeDecision::Reuse => FamilyStep {
            new_generation: current,
            rotated: false,
            issue_secret: false,
            secret_generation: current,
            rotating: false,
        },
    };
    Some(ExchangePlan::Continue(step))
}

/// `(expires_at, idle_expires_at)` for a token issued now.
pub fn lifetimes_at_issue(
    settings: &RefreshTokenSettings,
    now: Timestamp,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let expires_at = settings.absolute_lifetime().map(|s| now.plus_seconds(s));
    (expires_at, idle_expiry(settings, expires_at, now))
}

/// `(expires_at, idle_expires_at)` after an exchange at `now`: the absolute
/// expiry is kept (a non-expiring token becomes expiring, irreversibly, once the
/// client has a maximum lifetime); the idle expiry follows the client's current
/// settings and never passes the absolute one.
pub fn lifetimes_on_exchange(
    settings: &RefreshTokenSettings,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let expires_at =
        expires_at.or_else(|| settings.absolute_lifetime().map(|s| now.plus_seconds(s)));
    (expires_at, idle_expiry(settings, expires_at, now))
}

fn idle_expiry(
    settings: &RefreshTokenSettings,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    let idle = settings.idle_lifetime().map(|s| now.plus_seconds(s));
    match (idle, expires_at) {
        (Some(idle), Some(abs)) => Some(idle.min(abs)),
        (idle, _) => idle,
    }
}

/// Whether an exchange should move the family to the other rotation mode
/// (reference §3.2, "Migration").
pub fn rotation_switch(
    family_rotating: bool,
    settings: &RefreshTokenSettings,
) -> Option<RotationType> {
    let wants = settings.rotation_type;
    match (family_rotating, wants) {
        (false, RotationType::Rotating) => Some(RotationType::Rotating),
        (true, RotationType::NonRotating) => Some(RotationType::NonRotating),
        _ => None,
    }
}

/// Auth0 keeps at most this many active refresh tokens per user and client.
pub const MAX_ACTIVE_PER_USER_AND_CLIENT: i64 = 200;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExpirationType;

    fn family() -> FamilySnapshot {
        FamilySnapshot {
            revoked: false,
            grant_current: true,
            user_current: true,
            session_current: true,
            rotating: true,
            expires_at: None,
            idle_expires_at: None,
            current_generation: 3,
            last_rotated_at: Some(Timestamp(100_000)),
        }
    }

    #[test]
    fn rotation_and_leeway_table() {
        let f = family();
        let at = |s: i64| Timestamp(100_000 + s * 1000);
        assert_eq!(decide_exchange(&f, 3, 0, at(1)), ExchangeDecision::Rotate);
        assert_eq!(
            decide_exchange(&f, 2, 0, at(0)),
            ExchangeDecision::ReuseDetected,
            "leeway 0: no second use"
        );
        assert_eq!(
            decide_exchange(&f, 2, 10, at(9)),
            ExchangeDecision::RotateWithinLeeway
        );
        assert_eq!(
            decide_exchange(&f, 2, 10, at(10)),
            ExchangeDecision::ReuseDetected,
            "leeway is exclusive"
        );
        assert_eq!(
            decide_exchange(&f, 1, 10, at(1)),
            ExchangeDecision::ReuseDetected,
            "only the previous one"
        );
    }

    #[test]
    fn revoked_state_wins_over_everything() {
        for mutate in [
            (|f: &mut FamilySnapshot| f.revoked = true) as fn(&mut FamilySnapshot),
            |f| f.grant_current = false,
            |f| f.user_current = false,
            |f| f.session_current = false,
        ] {
            let mut f = family();
            mutate(&mut f);
            assert_eq!(
                decide_exchange(&f, 3, 0, Timestamp(0)),
                ExchangeDecision::Reject(Rejection::Revoked)
            );
        }
    }

    #[test]
    fn expiry_is_checked_at_the_instant() {
        let mut f = family();
        f.expires_at = Some(Timestamp(200_000));
        assert_eq!(
            decide_exchange(&f, 3, 0, Timestamp(199_999)),
            ExchangeDecision::Rotate
        );
        assert_eq!(
            decide_exchange(&f, 3, 0, Timestamp(200_000)),
            ExchangeDecision::Reject(Rejection::Expired)
        );
        let mut f = family();
        f.idle_expires_at = Some(Timestamp(150_000));
        assert_eq!(
            decide_exchange(&f, 3, 0, Timestamp(150_001)),
            ExchangeDecision::Reject(Rejection::Expired)
        );
    }

    #[test]
    fn non_rotating_keeps_one_secret() {
        let mut f = family();
        f.rotating = false;
        assert_eq!(
            decide_exchange(&f, 3, 0, Timestamp(0)),
            ExchangeDecision::Reuse
        );
        assert_eq!(
            decide_exchange(&f, 2, 60, Timestamp(0)),
            ExchangeDecision::ReuseDetected
        );
    }

    #[test]
    fn an_honoured_exchange_plans_the_family_step() {
        let rotating = RefreshTokenSettings {
            rotation_type: RotationType::Rotating,
            ..Default::default()
        };
        let non_rotating = RefreshTokenSettings::default();
        let f = family();
        let step = |decision, family: &FamilySnapshot, settings| match plan_exchange(
            decision, family, settings,
        ) {
            Some(ExchangePlan::Continue(step)) => step,
            other => panic!("{other:?}"),
        };
        let rotated = step(ExchangeDecision::Rotate, &f, &rotating);
        assert_eq!((rotated.new_generation, rotated.secret_generation), (4, 4));
        assert!(rotated.rotated && rotated.issue_secret && !rotated.starts_rotating(&f));
        let sibling = step(ExchangeDecision::RotateWithinLeeway, &f, &rotating);
        assert_eq!((sibling.new_generation, sibling.secret_generation), (3, 3));
        assert!(!sibling.rotated && sibling.issue_secret && sibling.rotating);
        // Switching rotation off replaces the family, except inside the leeway.
        assert_eq!(
            plan_exchange(ExchangeDecision::Rotate, &f, &non_rotating),
            Some(ExchangePlan::ReplaceWithNonRotating)
        );
        assert!(step(ExchangeDecision::RotateWithinLeeway, &f, &non_rotating).rotating);
        let mut fixed = family();
        fixed.rotating = false;
        let kept = step(ExchangeDecision::Reuse, &fixed, &non_rotating);
        assert!(!kept.rotated && !kept.issue_secret && !kept.rotating);
        assert_eq!(kept.new_generation, 3);
        // A non-rotating family whose client now rotates starts rotating.
        let started = step(ExchangeDecision::Reuse, &fixed, &rotating);
        assert!(started.rotated && started.issue_secret && started.starts_rotating(&fixed));
        for refused in [
            ExchangeDecision::ReuseDetected,
            ExchangeDecision::Reject(Rejection::Revoked),
        ] {
            assert_eq!(plan_exchange(refused, &f, &rotating), None);
        }
    }

    #[test]
    fn lifetimes() {
        let mut s = RefreshTokenSettings {
            expiration_type: ExpirationType::Expiring,
            ..Default::default()
        };
        s.infinite_token_lifetime = false;
        s.infinite_idle_token_lifetime = false;
        s.token_lifetime = 1000;
        s.idle_token_lifetime = 100;
        let (abs, idle) = lifetimes_at_issue(&s, Timestamp(0));
        assert_eq!(abs, Some(Timestamp(1_000_000)));
        assert_eq!(idle, Some(Timestamp(100_000)));
        // The absolute expiry is never extended; idle is capped by it.
        let (abs2, idle2) = lifetimes_on_exchange(&s, abs, Timestamp(950_000));
        assert_eq!(abs2, abs);
        assert_eq!(idle2, Some(Timestamp(1_000_000)));
        // Non-expiring defaults: nothing expires.
        assert_eq!(
            lifetimes_at_issue(&RefreshTokenSettings::default(), Timestamp(0)),
            (None, None)
        );
        // A non-expiring token becomes expiring once the client has a maximum lifetime.
        let (abs3, _) = lifetimes_on_exchange(&s, None, Timestamp(5_000));
        assert_eq!(abs3, Some(Timestamp(1_005_000)));
    }
}
