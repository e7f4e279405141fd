//! Multi-Resource Refresh Tokens (`refresh_token.policies`): binding a new
//! refresh token to its client's policy APIs, exchanging it for one of them,
//! and whether an access token issued that way is still live.
//!
//! The decisions are the domain's (`grantor_domain::multi_resource`); here
//! they meet the store. A new family is bound, in its issuing transaction,
//! to the user's grant for each policy API (created if missing), so the
//! user's grants list every API the refresh token reaches and revoking one
//! of them stops that API for every token bound to it. An exchange that
//! names another API is answered for it only while the client's policy
//! still names it and the bound grant is unrevoked; otherwise the audience
//! is ignored and the token's own API answered, as Auth0 does.

use std::collections::HashMap;

use grantor_domain::multi_resource::policy_scope;
use grantor_domain::{Client, ClientId, FamilyId, GrantId, ScopeSet};
use grantor_store::{FamilyRecord, ResourceBinding, UserGrant};

use super::audience::{self, UserAudience, OIDC_SCOPES};
use super::FlowError;
use crate::secrets;
use crate::state::AppState;

/// The policy APIs a new refresh token of `client` for `own_audience` is
/// bound to: every policy that holds now (one query, none without policies).
pub async fn bindings_at_issue(
    state: &AppState,
    client: &Client,
    own_audience: &str,
) -> Result<Vec<ResourceBinding>, FlowError> {
    if client.refresh_token.policies.is_empty() || !client.is_first_party {
        return Ok(vec![]);
    }
    let identifiers: Vec<String> = client
        .refresh_token
        .policies
        .iter()
        .map(|p| p.audience.clone())
        .filter(|a| a != own_audience)
        .collect();
    let reserved = state.issuer.management_audience();
    Ok(state
        .store
        .resource_servers_by_identifiers(&identifiers)
        .await?
        .into_iter()
        .filter(|api| policy_scope(client, api, &reserved).is_some())
        .map(|api| ResourceBinding {
            audience: api.identifier,
            grant_id: GrantId::new(secrets::hex_id(12)),
        })
        .collect())
}

/// Where an exchange of a `family` token that names another API goes.
#[derive(Debug)]
pub struct PolicyReach {
    pub audience: UserAudience,
    /// The user's grant for that API, as bound; the access token is issued
    /// under it (and the write refused if it was revoked meanwhile).
    pub grant: UserGrant,
    /// The scopes the policy allows there.
    pub allowed: ScopeSet,
}

/// The policy API `asked` for, if the refresh token reaches it now; `None`
/// when it does not (the caller then answers for the token's own API).
pub async fn reach(
    state: &AppState,
    client: &Client,
    family: &FamilyRecord,
    asked: &str,
) -> Result<Option<PolicyReach>, FlowError> {
    if asked == family.audience || client.refresh_token.policy_for(asked).is_none() {
        return Ok(None);
    }
    let reserved = state.issuer.management_audience();
    let Some(api) = state.store.resource_server_by_identifier(asked).await? else {
        return Ok(None);
    };
    let Some(allowed) = policy_scope(client, &api, &reserved) else {
        return Ok(None);
    };
    let Some(bound) = state.store.family_resource(&family.id, asked).await? else {
        return Ok(None);
    };
    if !bound.is_current() {
        return Ok(None);
    }
    let Ok(audience) = audience::resolve_loaded(state, asked, Some(api)) else {
        return Ok(None);
    };
    let when = bound.created_at.unwrap_or(family.created_at);
    Ok(Some(PolicyReach {
        audience,
        grant: UserGrant {
            id: bound.grant_id,
            user_id: family.user_id.clone(),
            client_id: family.client_id.clone(),
            audience: asked.to_owned(),
            scope: ScopeSet::parse(bound.grant_scope.as_deref().unwrap_or_default()),
            token_epoch: bound.grant_epoch,
            created_at: when,
            updated_at: when,
        },
        allowed,
    }))
}

/// The OIDC scopes among `scope`: what an access token for a policy API
/// keeps of its refresh token's scope (so the exchange still returns an ID
/// token), and what introspection keeps of such a token's scope besides
/// what the policy allows.
pub fn oidc_scopes(scope: &ScopeSet) -> ScopeSet {
    scope.iter().filter(|s| OIDC_SCOPES.contains(s)).collect()
}

/// Whether an access token for `audience`, issued to `client_id` from a
/// refresh token for another API, may still be honoured: the scopes the
/// client's policy still allows there, or `None` when it no longer reaches
/// that API. (Its grant, family, user and session are checked with the
/// token's record.)
pub async fn policy_still_holds(
    state: &AppState,
    client_id: &ClientId,
    audience: &str,
) -> Result<Option<ScopeSet>, FlowError> {
    let Some(client) = state.store.client(client_id).await? else {
        return Ok(None);
    };
    let Some(api) = state.store.resource_server_by_identifier(audience).await? else {
        return Ok(None);
    };
    Ok(policy_scope(
        &client,
        &api,
        &state.issuer.management_audience(),
    ))
}

/// Every API each family reaches now besides its own, with the scopes its
/// policy allows there: the Management API's `resource_servers`. One query
/// for the bindings, one for the APIs, one per distinct client.
pub async fn reach_of(
    state: &AppState,
    families: &[FamilyRecord],
) -> Result<HashMap<FamilyId, Vec<(String, ScopeSet)>>, FlowError> {
    let ids: Vec<FamilyId> = families.iter().map(|f| f.id.clone()).collect();
    let bound = state.store.family_resources(&ids).await?;
    if bound.is_empty() {
        return Ok(HashMap::new());
    }
    let mut identifiers: Vec<String> = bound.iter().map(|(_, a)| a.clone()).collect();
    identifiers.sort();
    identifiers.dedup();
    let apis: HashMap<String, _> = state
        .store
        .resource_servers_by_identifiers(&identifiers)
        .await?
        .into_iter()
        .map(|api| (api.identifier.clone(), api))
        .collect();
    let client_of: HashMap<&FamilyId, &ClientId> =
        families.iter().map(|f| (&f.id, &f.client_id)).collect();
    let mut clients: HashMap<ClientId, Option<Client>> = HashMap::new();
    let reserved = state.issuer.management_audience();
    let mut out: HashMap<FamilyId, Vec<(String, ScopeSet)>> = HashMap::new();
    for (family_id, audience) in bound {
        let (Some(client_id), Some(api)) = (client_of.get(&family_id), apis.get(&audience)) else {
            continue;
        };
        if !clients.contains_key(*client_id) {
            let client = state.store.client(client_id).await?;
            clients.insert((*client_id).clone(), client);
        }
        let Some(Some(client)) = clients.get(*client_id) else {
            continue;
        };
        if let Some(scope) = policy_scope(client, api, &reserved) {
            out.entry(family_id).or_default().push((audience, scope));
        }
    }
    Ok(out)
}
