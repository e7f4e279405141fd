//! Multi-Resource Refresh Tokens: which APIs besides its own a refresh token
//! may be exchanged for, and with which scopes.
//!
//! The rules (Auth0 documents the feature as Early Access; where it is
//! silent, these are grantor's choices, listed in the README):
//! - A policy counts only for a first-party client, for an API that exists,
//!   is not the Management API, skips consent for first-party clients
//!   (Auth0's limits) and allows offline access (an API that refuses
//!   refresh tokens is not reached through one). Any other policy is
//!   ignored, as Auth0 ignores a policy naming an unknown API.
//! - The scopes allowed are the policy's that the API defines; a policy
//!   with none of them is ignored.
//! - A refresh token reaches the APIs whose policies held when it was issued
//!   (it is bound to the user's grant for each, see the store's
//!   `family_resources`), and only while each policy still holds and that
//!   grant is not revoked. A policy added later reaches refresh tokens
//!   issued after it: an issued token never gains reach.

use crate::{Client, ResourceServer, ScopeSet};

/// The scopes a refresh token of `client` may carry to `api` under the
/// client's current policies, or `None` when no policy lets it reach `api`.
/// `reserved` is the Management API's audience.
pub fn policy_scope(client: &Client, api: &ResourceServer, reserved: &str) -> Option<ScopeSet> {
    if !client.is_first_party
        || api.is_system
        || api.identifier == reserved
        || !api.skip_consent_for_verifiable_first_party_clients
        || !api.allow_offline_access
    {
        return None;
    }
    let policy = client.refresh_token.policy_for(&api.identifier)?;
    let defined = api.scope_set();
    let allowed: ScopeSet = policy
        .scope
        .iter()
        .filter(|s| defined.contains(s))
        .collect();
    // A policy none of whose scopes the API defines is ignored, not a
    // token for the API with no scope of its own.
    (!allowed.is_empty()).then_some(allowed)
}

/// The scope of an access token for a policy's API: what was asked (or, if
/// nothing was, everything allowed), narrowed to the policy's `allowed`
/// scopes and the OIDC scopes the refresh token itself holds (`oidc`), so an
/// ID token is issued as for any exchange. Scopes outside both are dropped,
/// not refused.
pub fn exchange_scope(asked: Option<&ScopeSet>, allowed: &ScopeSet, oidc: &ScopeSet) -> ScopeSet {
    let reachable = allowed.union(oidc);
    match asked.filter(|a| !a.is_empty()) {
        Some(asked) => asked.intersection(&reachable),
        None => reachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RefreshTokenPolicy;
    use crate::{ClientId, ScopeDefinition, Timestamp, TokenHash};

    fn api(identifier: &str, scopes: &[&str]) -> ResourceServer {
        let mut api =
            ResourceServer::new("rs1".into(), identifier.into(), Timestamp(0)).expect("api");
        api.scopes = scopes
            .iter()
            .map(|s| ScopeDefinition {
                value: (*s).into(),
                description: String::new(),
            })
            .collect();
        api.skip_consent_for_verifiable_first_party_clients = true;
        api.allow_offline_access = true;
        api
    }

    fn client(policies: &[(&str, &[&str])]) -> Client {
        let mut c = Client::new(ClientId::from("c1"), TokenHash::of("s"), Timestamp(0));
        c.refresh_token.policies = policies
            .iter()
            .map(|(a, s)| RefreshTokenPolicy {
                audience: (*a).into(),
                scope: s.iter().map(|x| (*x).to_owned()).collect(),
            })
            .collect();
        c
    }

    const RESERVED: &str = "https://t/api/v2/";

    #[test]
    fn a_policy_allows_only_scopes_the_api_defines() {
        let c = client(&[("https://billing", &["read:billing", "unknown"])]);
        let a = api("https://billing", &["read:billing", "write:billing"]);
        assert_eq!(
            policy_scope(&c, &a, RESERVED).map(|s| s.to_wire()),
            Some("read:billing".into())
        );
    }

    #[test]
    fn no_policy_third_party_consent_or_management_api_reach_nothing() {
        let a = api("https://billing", &["read:billing"]);
        assert!(policy_scope(&client(&[]), &a, RESERVED).is_none());
        let mut third = client(&[("https://billing", &["read:billing"])]);
        third.is_first_party = false;
        assert!(policy_scope(&third, &a, RESERVED).is_none());
        let mut consent = a.clone();
        consent.skip_consent_for_verifiable_first_party_clients = false;
        let c = client(&[("https://billing", &["read:billing"])]);
        assert!(policy_scope(&c, &consent, RESERVED).is_none());
        let mut offline = a.clone();
        offline.allow_offline_access = false;
        assert!(policy_scope(&c, &offline, RESERVED).is_none());
        let undefined = client(&[("https://billing", &["write:billing"])]);
        assert!(policy_scope(&undefined, &a, RESERVED).is_none());
        let management = api(RESERVED, &["read:users"]);
        let c = client(&[(RESERVED, &["read:users"])]);
        assert!(policy_scope(&c, &management, RESERVED).is_none());
    }

    #[test]
    fn exchange_scope_narrows_and_keeps_oidc() {
        let allowed = ScopeSet::parse("read:billing write:billing");
        let oidc = ScopeSet::parse("openid profile");
        let asked = ScopeSet::parse("openid read:billing delete:everything");
        assert_eq!(
            exchange_scope(Some(&asked), &allowed, &oidc).to_wire(),
            ScopeSet::parse("openid read:billing").to_wire()
        );
        assert_eq!(
            exchange_scope(None, &allowed, &oidc).to_wire(),
            allowed.union(&oidc).to_wire()
        );
    }
}
