//! Space-separated OAuth scope lists (RFC 6749 §3.3) as an ordered set.

use std::collections::BTreeSet;

/// A set of scope tokens. Order on the wire follows insertion order of the
/// first occurrence, so `scope` strings round-trip the way clients sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    items: Vec<String>,
}

impl ScopeSet {
    /// Parses a space-delimited scope string; repeated tokens are kept once.
    pub fn parse(raw: &str) -> Self {
        Self::from_iter(raw.split(' ').filter(|s| !s.is_empty()))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.items.iter().any(|s| s == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(String::as_str)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.items.clone()
    }

    /// Every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.items.iter().all(|s| other.contains(s))
    }

    /// The scopes of `self` that `other` also has, in `self`'s order.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self::from_iter(self.iter().filter(|s| other.contains(s)))
    }

    /// `self` plus the scopes of `other` it lacks.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self::from_iter(self.iter().chain(other.iter()))
    }

    /// The space-separated wire form.
    pub fn to_wire(&self) -> String {
        self.items.join(" ")
    }
}

impl<S: AsRef<str>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        for s in iter {
            let s = s.as_ref();
            if !s.is_empty() && seen.insert(s.to_owned()) {
                items.push(s.to_owned());
            }
        }
        Self { items }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_drops_duplicates_and_empty_tokens() {
        let s = ScopeSet::parse("  read:a read:b  read:a ");
        assert_eq!(s.to_wire(), "read:a read:b");
    }

    #[test]
    fn intersection_keeps_requested_order() {
        let asked = ScopeSet::parse("c a x");
        let granted = ScopeSet::parse("a b c");
        assert_eq!(asked.intersection(&granted).to_wire(), "c a");
        assert!(!asked.is_subset_of(&granted));
        assert!(ScopeSet::parse("a c").is_subset_of(&granted));
    }

    #[test]
    fn union_appends_new_scopes() {
        let s = ScopeSet::parse("a b").union(&ScopeSet::parse("b c"));
        assert_eq!(s.to_wire(), "a b c");
    }
}
