//! Client grants: a client's authorisation to get machine tokens for an API.

use crate::{ClientId, ScopeSet, Timestamp};

#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: ClientId,
    pub audience: String,
    pub scope: ScopeSet,
    pub created_at: Timestamp,
}

impl ClientGrant {
    /// The scopes of a machine token (its `scope` claim) that this grant
    /// still holds: narrowing a client grant narrows the tokens already
    /// issued under it (CONTRACT §6.1). The Management API's bearer check and
    /// introspection both answer with this.
    pub fn held_scopes(&self, token_scope: &str) -> ScopeSet {
        ScopeSet::parse(token_scope).intersection(&self.scope)
    }
}
