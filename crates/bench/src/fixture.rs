//! The fixture: what a seeder (ours for grantor, `benches/load/peer/server.mjs`
//! for node-oidc-provider) hands the load generator. The same workloads then
//! run against either server; only paths, credentials and extra form fields
//! differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    /// Which server, with its version or database (for the report).
    pub target: String,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub paths: Paths,
    /// By signing algorithm (`RS256`, `EdDSA`).
    pub client_credentials: BTreeMap<String, ClientCall>,
    /// By signing algorithm; each workload's `tokens` are the chains, one
    /// per connection (each response's refresh token is presented next).
    pub refresh: BTreeMap<String, RefreshChains>,
    pub revoke: RevokeSet,
    pub authorization_code: CodeFlow,
    /// Only grantor has a bulk revocation to measure.
    #[serde(default)]
    pub bulk_revoke: Option<BulkRevoke>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paths {
    pub token: String,
    pub revoke: String,
    pub authorize: String,
}

/// Extra form fields, in order.
pub type Params = Vec<(String, String)>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientCall {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub params: Params,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshChains {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub params: Params,
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeSet {
    pub client_id: String,
    pub client_secret: String,
    /// Each revoked once.
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeFlow {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub authorize_params: Params,
    #[serde(default)]
    pub token_params: Params,
    /// A `Cookie` header value that already holds a signed-in session, or
    /// `None` when the first round signs in through the server's redirects.
    #[serde(default)]
    pub cookie: Option<String>,
}

/// Users each holding many refresh tokens, for timing
/// `DELETE /api/v2/users/{id}/refresh-tokens` one call at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkRevoke {
    /// A Management API bearer token with `delete:refresh_tokens`.
    pub management_token: String,
    /// `(user_id, tokens held)`, each revoked once.
    pub users: Vec<(String, u64)>,
}

impl Fixture {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string(self)?)?;
        Ok(())
    }
}
