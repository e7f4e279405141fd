//! Client grants: a client's authorisation to get machine tokens for an API.

use crate::{ScopeSet, Timestamp};

#[derive(Debug, Clone)]
pub struct ClientGrant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: ScopeSet,
    pub created_at: Timestamp,
}
