//! Property tests of the domain's parsers and validators: inputs nobody wrote
//! by hand never panic, and what is accepted has the shape the rest of the
//! server relies on.
//!
//! The runs are a replay, not a search: a fixed seed (`GRANTOR_FUZZ_SEED`,
//! default below) and no failure file. `GRANTOR_FUZZ_CASES=5000` runs deeper.

use grantor_domain::client::{validate_app_type, validate_grant_types, RefreshTokenSettingsPatch};
use grantor_domain::resource_server::{
    validate_identifier, validate_scope_definitions, validate_token_lifetime,
};
use grantor_domain::urls::{validate_url, UrlField};
use grantor_domain::user::{
    database_user_id, normalize_email, normalize_phone_number, validate_password,
};
use grantor_domain::{
    pkce, ExpirationType, GrantType, RefreshTokenSettings, RotationType, ScopeDefinition, ScopeSet,
    SigningAlg, Timestamp, TokenEndpointAuthMethod,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

mod support;

fn config() -> Config {
    support::config(512)
}

/// Strings mixing the characters parsers care about with any Unicode at all
/// (NUL and other controls included).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ a-z:._@+()|#/-]{0,40}",
        any::<String>(),
        "\\PC{0,20}",
        "[\\x00-\\x1f ]{0,8}",
        (0usize..5_000).prop_map(|n| "a b".repeat(n)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scope_sets_hold_unique_nonempty_tokens_and_round_trip(raw in text()) {
        let set = ScopeSet::parse(&raw);
        let tokens: Vec<&str> = set.iter().collect();
        for (i, t) in tokens.iter().enumerate() {
            prop_assert!(!t.is_empty() && !t.contains(' '));
            prop_assert!(!tokens[..i].contains(t), "{t} twice");
        }
        for t in raw.split(' ').filter(|t| !t.is_empty()) {
            prop_assert!(set.contains(t));
        }
        prop_assert_eq!(ScopeSet::parse(&set.to_wire()), set.clone());
        prop_assert_eq!(set.is_empty(), tokens.is_empty());
    }

    #[test]
    fn scope_set_algebra(a in text(), b in text()) {
        let (a, b) = (ScopeSet::parse(&a), ScopeSet::parse(&b));
        let both = a.intersection(&b);
        prop_assert!(both.is_subset_of(&a) && both.is_subset_of(&b));
        let either = a.union(&b);
        prop_assert!(a.is_subset_of(&either) && b.is_subset_of(&either));
        prop_assert_eq!(a.is_subset_of(&b), both == a);
    }

    #[test]
    fn enumerations_accept_exactly_their_wire_names(raw in text()) {
        if let Some(g) = GrantType::parse(&raw) {
            prop_assert_eq!(g.as_str(), raw.as_str());
        }
        if let Ok(alg) = SigningAlg::parse(&raw) {
            prop_assert_eq!(alg.as_str(), raw.as_str());
        }
        if let Ok(m) = TokenEndpointAuthMethod::parse(&raw) {
            prop_assert_eq!(m.as_str(), raw.as_str());
        }
        if let Ok(r) = RotationType::parse(&raw) {
            prop_assert_eq!(r.as_str(), raw.as_str());
        }
        if let Ok(e) = ExpirationType::parse(&raw) {
            prop_assert_eq!(e.as_str(), raw.as_str());
        }
        let _ = validate_app_type(&raw);
        let _ = validate_grant_types(std::slice::from_ref(&raw));
    }

    #[test]
    fn pkce_accepts_only_43_base64url_characters(challenge in prop_oneof![text(), "[A-Za-z0-9_-]{43}"], method in proptest::option::of(text()), verifier in prop_oneof![text(), "[A-Za-z0-9._~-]{43,128}"]) {
        if pkce::validate_challenge(&challenge, method.as_deref()).is_ok() {
            prop_assert_eq!(challenge.len(), 43);
            prop_assert_eq!(method.as_deref(), Some("S256"));
        }
        // A random verifier never matches a random challenge, and never panics.
        let _ = pkce::verify_s256(&verifier, &challenge);
        if pkce::verify_s256(&verifier, &challenge) {
            prop_assert!(pkce::valid_verifier(&verifier));
        }
    }

    #[test]
    fn user_fields_normalise_idempotently(raw in prop_oneof![text(), "[a-zA-Z0-9. ]{1,20}@[a-z.]{1,20}", "[+]?[0-9 ().-]{0,20}"]) {
        if let Ok(email) = normalize_email(&raw) {
            prop_assert!(email.len() <= 254);
            prop_assert_eq!(normalize_email(&email), Ok(email.clone()));
        }
        if let Ok(phone) = normalize_phone_number(&raw) {
            prop_assert!(phone.starts_with('+'));
            prop_assert_eq!(normalize_phone_number(&phone), Ok(phone.clone()));
        }
        if let Ok(id) = database_user_id(&raw) {
            prop_assert_eq!(id.matches('|').count(), 1);
            prop_assert!(id.starts_with("auth0|"));
        }
        let _ = validate_password(&raw);
    }

    #[test]
    fn urls_and_identifiers_accepted_have_no_whitespace(raw in prop_oneof![text(), "(https?|[a-z.]{1,10})://\\PC{0,30}"]) {
        if validate_url(UrlField::Callbacks, 0, &raw).is_ok() {
            prop_assert!(!raw.contains('#') && !raw.chars().any(char::is_whitespace));
        }
        if validate_identifier(&raw).is_ok() {
            prop_assert!(!raw.is_empty() && !raw.chars().any(char::is_whitespace));
        }
        let definitions = vec![ScopeDefinition { value: raw.clone(), description: raw.clone() }];
        if validate_scope_definitions(&definitions).is_ok() {
            prop_assert!(!raw.is_empty() && !raw.contains(' '));
        }
    }

    #[test]
    fn refresh_token_settings_accepted_are_valid(
        rotation in proptest::option::of(prop_oneof![Just(RotationType::Rotating), Just(RotationType::NonRotating)]),
        expiration in proptest::option::of(prop_oneof![Just(ExpirationType::Expiring), Just(ExpirationType::NonExpiring)]),
        numbers in proptest::array::uniform3(proptest::option::of(prop_oneof![any::<i64>(), -10i64..200_000_000])),
        flags in proptest::array::uniform2(proptest::option::of(any::<bool>())),
        seconds in any::<i64>(),
        at in any::<i64>(),
    ) {
        let patch = RefreshTokenSettingsPatch {
            rotation_type: rotation,
            expiration_type: expiration,
            leeway: numbers[0],
            token_lifetime: numbers[1],
            infinite_token_lifetime: flags[0],
            idle_token_lifetime: numbers[2],
            infinite_idle_token_lifetime: flags[1],
            policies: None,
        };
        if let Ok(next) = RefreshTokenSettings::default().apply(&patch) {
            prop_assert!(next.validate().is_ok());
            prop_assert!(next.token_lifetime <= RefreshTokenSettings::MAX_LIFETIME);
        }
        if validate_token_lifetime("token_lifetime", seconds).is_ok() {
            prop_assert!(seconds > 0);
        }
        // Instants never overflow, whatever lifetime is added.
        let _ = Timestamp(at).plus_seconds(seconds);
        let _ = Timestamp(at).unix_seconds();
    }
}
