//! The OIDC standard claims (OIDC Core §5.1) a user's profile releases, by
//! scope. One definition for both places they appear: the ID token, which
//! `flows::issue` signs, and the `/userinfo` response, which
//! `http::auth_api::userinfo` renders.

use grantor_domain::{ScopeSet, User};
use serde_json::{json, Value};

/// Adds the claims `profile` and `email` release to `claims`, a JSON object.
pub fn add_profile_claims(claims: &mut Value, user: &User, scope: &ScopeSet) {
    if scope.contains("profile") {
        claims["name"] = json!(user.name);
        claims["nickname"] = json!(user.nickname);
        if let Some(p) = &user.picture {
            claims["picture"] = json!(p);
        }
        if let Some(g) = &user.given_name {
            claims["given_name"] = json!(g);
        }
        if let Some(f) = &user.family_name {
            claims["family_name"] = json!(f);
        }
        // Auth0 writes `updated_at` as an ISO 8601 string (OIDC has a number).
        claims["updated_at"] = json!(user.updated_at.to_iso8601());
    }
    if scope.contains("email") {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
}
