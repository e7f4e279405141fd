//! Error messages of the Management API that Auth0 defines, each written once
//! (reference §1.3 and the resource sections). Auth0 words the same fact
//! differently per endpoint ("The user does not exist." at `/users/{id}`,
//! "User not found" under it), so each constant names where Auth0 sends it;
//! an endpoint the reference says nothing about sends the message it always
//! has, which is one of these where the wording is the same.

/// 401 without a bearer token (§1.3).
pub const MISSING_AUTHENTICATION: &str = "Missing authentication";
/// 401 for a bearer token that is not accepted (§1.3).
pub const INVALID_TOKEN: &str = "Invalid token";

/// 403 `insufficient_scope` (§1.3).
pub fn insufficient_scope(any_of: &[&str]) -> String {
    format!("Insufficient scope, expected any of: {}", any_of.join(","))
}

/// 404 `inexistent_user` at `/users/{id}` (§1.3, §6.7); also `/user-blocks/{id}`.
pub const USER_DOES_NOT_EXIST: &str = "The user does not exist.";
/// 404 at `/users/{id}/refresh-tokens`, `/users/{id}/sessions` and
/// `GET /refresh-tokens?user_id=` (§6.2, §6.3); also `/users/{id}/revoke-access`.
pub const USER_NOT_FOUND: &str = "User not found";
/// 409 `auth0_idp_error` at `POST /users` (§6.7).
pub const USER_ALREADY_EXISTS: &str = "The user already exists.";

/// 404 at `/clients/{id}` (§6.6).
pub const CLIENT_NOT_FOUND: &str = "Client not found.";
/// 404 at `GET /refresh-tokens?client_id=` (§6.2).
pub const CLIENT_DOES_NOT_EXIST: &str = "The client does not exist.";
/// 404 at `/resource-servers/{id}` (§6.8).
pub const RESOURCE_SERVER_NOT_FOUND: &str = "Resource server not found.";

/// `POST /client-grants` (§6.5): without the final period.
pub mod client_grants {
    /// 404 for a client that does not exist.
    pub const CLIENT_NOT_FOUND: &str = "Client not found";
    /// 404 for an audience no API has.
    pub const RESOURCE_SERVER_NOT_FOUND: &str = "Resource server not found";
}
/// 404 `inexistent_client_grant` at `/client-grants/{id}` (§1.3, §6.5); also
/// `/grants/{id}`.
pub const GRANT_DOES_NOT_EXIST: &str = "The grant does not exist.";

/// 404 at `/refresh-tokens/{id}` (§1.3).
pub const REFRESH_TOKEN_DOES_NOT_EXIST: &str = "The refresh token does not exist.";
/// 400 at `GET /refresh-tokens` without `user_id` (§6.2); also `DELETE /grants`.
pub const MISSING_USER_ID: &str = "Missing required 'user_id' parameter.";

/// `POST /refresh-tokens/revoke` (§6.2): 400 `invalid_body`, with a period.
pub mod revoke_refresh_tokens {
    pub const INVALID_COMBINATION: &str = "Invalid combination of parameters.";
    pub const USER_NOT_FOUND: &str = "User not found.";
    pub const CLIENT_NOT_FOUND: &str = "Client not found.";
    pub const RESOURCE_SERVER_NOT_FOUND: &str = "Resource server not found.";
}

/// 404 at `/sessions/{id}` (§6.3).
pub const SESSION_DOES_NOT_EXIST: &str = "The session does not exist.";
