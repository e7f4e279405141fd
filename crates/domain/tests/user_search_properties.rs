//! Property tests of the user search parser (`grantor_domain::user_search`):
//! no input panics, and accepted queries keep their promises (bounded size,
//! lower-cased e-mails and names). A fixed seed and no failure file, like
//! `properties.rs`.

use grantor_domain::user_search::{
    escape_like, prefix_upper_bound, Condition, TextMatch, UserSearch, UserSort, MAX_DEPTH,
    MAX_TERMS,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

mod support;

fn config() -> Config {
    support::config(1024)
}

/// Query-shaped input: fields, operators, quotes, brackets, wildcards and
/// hostile characters, glued in any order.
fn query_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("email:".to_owned()),
        Just("user_id:".to_owned()),
        Just("name:".to_owned()),
        Just("blocked:".to_owned()),
        Just("logins_count:".to_owned()),
        Just("nickname:".to_owned()),
        Just(" AND ".to_owned()),
        Just(" OR ".to_owned()),
        Just("NOT ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(" TO ".to_owned()),
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("~".to_owned()),
        Just("^".to_owned()),
        Just("%".to_owned()),
        Just("_".to_owned()),
        Just("'".to_owned()),
        Just("true".to_owned()),
        Just("12".to_owned()),
        Just(" ".to_owned()),
        "[a-zA-Z0-9@.|-]{0,6}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

fn depth(q: &UserSearch) -> usize {
    match q {
        UserSearch::And(items) | UserSearch::Or(items) => {
            1 + items.iter().map(depth).max().unwrap_or(0)
        }
        UserSearch::Not(inner) => 1 + depth(inner),
        UserSearch::Term(_) => 0,
    }
}

fn terms(q: &UserSearch) -> Vec<&Condition> {
    match q {
        UserSearch::And(items) | UserSearch::Or(items) => items.iter().flat_map(terms).collect(),
        UserSearch::Not(inner) => terms(inner),
        UserSearch::Term(c) => vec![c],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_query_parses_or_is_refused_without_panic(q in query_like()) {
        if let Ok(Some(parsed)) = UserSearch::parse(&q) {
            let found = terms(&parsed);
            prop_assert!(!found.is_empty() && found.len() <= MAX_TERMS);
            prop_assert!(depth(&parsed) <= 2 * MAX_DEPTH + 2);
            for condition in found {
                if let Condition::Email(m) | Condition::Name(m) = condition {
                    let (TextMatch::Exact(v) | TextMatch::Prefix(v)) = m;
                    prop_assert_eq!(v.to_lowercase(), v.clone());
                }
            }
        }
    }

    #[test]
    fn any_string_parses_or_is_refused_without_panic(q in any::<String>()) {
        let _ = UserSearch::parse(&q);
        let _ = UserSort::parse(&q);
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_strings_with_that_prefix(prefix in any::<String>(), rest in any::<String>(), other in any::<String>()) {
        let with = format!("{prefix}{rest}");
        match prefix_upper_bound(&prefix) {
            Some(upper) => {
                prop_assert!(with.as_str() >= prefix.as_str() && with < upper);
                let inside = other.as_str() >= prefix.as_str() && other < upper;
                prop_assert_eq!(inside, other.starts_with(&prefix));
            }
            None => prop_assert!(prefix.chars().all(|c| c == char::MAX)),
        }
    }

    #[test]
    fn like_escapes_leave_no_bare_wildcard(text in any::<String>()) {
        let escaped = escape_like(&text);
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let next = chars.next();
                prop_assert!(matches!(next, Some('%' | '_' | '\\')));
            } else {
                prop_assert!(c != '%' && c != '_');
            }
        }
    }
}
