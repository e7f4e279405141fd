//! Field-by-field comparisons. They destructure exhaustively, so a field
//! added to a domain type is a compile error here until the suite checks it.

use grantor_domain::{Client, ClientGrant, RefreshTokenSettings, ResourceServer, Timestamp, User};
use grantor_store::SigningKeyRecord;

#[track_caller]
pub fn assert_refresh_eq(actual: &RefreshTokenSettings, expected: &RefreshTokenSettings) {
    let RefreshTokenSettings {
        rotation_type,
        expiration_type,
        leeway,
        token_lifetime,
        infinite_token_lifetime,
        idle_token_lifetime,
        infinite_idle_token_lifetime,
        policies,
    } = expected;
    assert_eq!(&actual.policies, policies, "rt.policies");
    assert_eq!(&actual.rotation_type, rotation_type, "rt.rotation_type");
    assert_eq!(
        &actual.expiration_type, expiration_type,
        "rt.expiration_type"
    );
    assert_eq!(&actual.leeway, leeway, "rt.leeway");
    assert_eq!(&actual.token_lifetime, token_lifetime, "rt.token_lifetime");
    assert_eq!(
        &actual.infinite_token_lifetime, infinite_token_lifetime,
        "rt.infinite_token_lifetime"
    );
    assert_eq!(
        &actual.idle_token_lifetime, idle_token_lifetime,
        "rt.idle_token_lifetime"
    );
    assert_eq!(
        &actual.infinite_idle_token_lifetime, infinite_idle_token_lifetime,
        "rt.infinite_idle_token_lifetime"
    );
}

#[track_caller]
pub fn assert_client_eq(actual: &Client, expected: &Client) {
    let Client {
        client_id,
        name,
        description,
        app_type,
        is_first_party,
        oidc_conformant,
        callbacks,
        allowed_logout_urls,
        allowed_origins,
        web_origins,
        grant_types,
        token_endpoint_auth_method,
        secret_hash,
        id_token_lifetime,
        refresh_token,
        backchannel_logout_url,
        require_proof_of_possession,
        require_pushed_authorization_requests,
        is_system,
        created_at,
        updated_at,
    } = expected;
    assert_eq!(
        &actual.backchannel_logout_url, backchannel_logout_url,
        "backchannel_logout_url"
    );
    assert_eq!(&actual.client_id, client_id, "client_id");
    assert_eq!(&actual.name, name, "name");
    assert_eq!(&actual.description, description, "description");
    assert_eq!(&actual.app_type, app_type, "app_type");
    assert_eq!(&actual.is_first_party, is_first_party, "is_first_party");
    assert_eq!(&actual.oidc_conformant, oidc_conformant, "oidc_conformant");
    assert_eq!(&actual.callbacks, callbacks, "callbacks");
    assert_eq!(
        &actual.allowed_logout_urls, allowed_logout_urls,
        "allowed_logout_urls"
    );
    assert_eq!(&actual.allowed_origins, allowed_origins, "allowed_origins");
    assert_eq!(&actual.web_origins, web_origins, "web_origins");
    assert_eq!(&actual.grant_types, grant_types, "grant_types");
    assert_eq!(
        &actual.token_endpoint_auth_method, token_endpoint_auth_method,
        "token_endpoint_auth_method"
    );
    assert_eq!(
        actual.secret_hash.as_str(),
        secret_hash.as_str(),
        "secret_hash"
    );
    assert_eq!(
        &actual.id_token_lifetime, id_token_lifetime,
        "id_token_lifetime"
    );
    assert_refresh_eq(&actual.refresh_token, refresh_token);
    assert_eq!(&actual.is_system, is_system, "is_system");
    assert_eq!(
        &actual.require_proof_of_possession, require_proof_of_possession,
        "require_proof_of_possession"
    );
    assert_eq!(
        &actual.require_pushed_authorization_requests, require_pushed_authorization_requests,
        "require_pushed_authorization_requests"
    );
    assert_eq!(&actual.created_at, created_at, "created_at");
    assert_eq!(&actual.updated_at, updated_at, "updated_at");
}

#[track_caller]
pub fn assert_api_eq(actual: &ResourceServer, expected: &ResourceServer) {
    let ResourceServer {
        id,
        name,
        identifier,
        scopes,
        signing_alg,
        allow_offline_access,
        skip_consent_for_verifiable_first_party_clients,
        token_lifetime,
        token_lifetime_for_web,
        is_system,
        created_at,
        updated_at,
    } = expected;
    assert_eq!(&actual.id, id, "id");
    assert_eq!(&actual.name, name, "name");
    assert_eq!(&actual.identifier, identifier, "identifier");
    assert_eq!(&actual.scopes, scopes, "scopes");
    assert_eq!(&actual.signing_alg, signing_alg, "signing_alg");
    assert_eq!(
        &actual.allow_offline_access, allow_offline_access,
        "allow_offline_access"
    );
    assert_eq!(
        &actual.skip_consent_for_verifiable_first_party_clients,
        skip_consent_for_verifiable_first_party_clients,
        "skip_consent_for_verifiable_first_party_clients"
    );
    assert_eq!(&actual.token_lifetime, token_lifetime, "token_lifetime");
    assert_eq!(
        &actual.token_lifetime_for_web, token_lifetime_for_web,
        "token_lifetime_for_web"
    );
    assert_eq!(&actual.is_system, is_system, "is_system");
    assert_eq!(&actual.created_at, created_at, "created_at");
    assert_eq!(&actual.updated_at, updated_at, "updated_at");
}

#[track_caller]
pub fn assert_grant_eq(actual: &ClientGrant, expected: &ClientGrant) {
    let ClientGrant {
        id,
        client_id,
        audience,
        scope,
        created_at,
    } = expected;
    assert_eq!(&actual.id, id, "id");
    assert_eq!(&actual.client_id, client_id, "client_id");
    assert_eq!(&actual.audience, audience, "audience");
    assert_eq!(actual.scope.to_wire(), scope.to_wire(), "scope (in order)");
    assert_eq!(&actual.created_at, created_at, "created_at");
}

#[track_caller]
pub fn assert_user_eq(actual: &User, expected: &User) {
    let User {
        user_id,
        connection,
        email,
        email_verified,
        username,
        name,
        nickname,
        picture,
        given_name,
        family_name,
        phone_number,
        phone_verified,
        blocked,
        app_metadata,
        user_metadata,
        password_hash,
        created_at,
        updated_at,
        last_login,
        last_ip,
        logins_count,
    } = expected;
    assert_eq!(&actual.user_id, user_id, "user_id");
    assert_eq!(&actual.connection, connection, "connection");
    assert_eq!(&actual.email, email, "email");
    assert_eq!(&actual.email_verified, email_verified, "email_verified");
    assert_eq!(&actual.username, username, "username");
    assert_eq!(&actual.name, name, "name");
    assert_eq!(&actual.nickname, nickname, "nickname");
    assert_eq!(&actual.picture, picture, "picture");
    assert_eq!(&actual.given_name, given_name, "given_name");
    assert_eq!(&actual.family_name, family_name, "family_name");
    assert_eq!(&actual.phone_number, phone_number, "phone_number");
    assert_eq!(&actual.phone_verified, phone_verified, "phone_verified");
    assert_eq!(&actual.blocked, blocked, "blocked");
    assert_eq!(&actual.app_metadata, app_metadata, "app_metadata");
    assert_eq!(&actual.user_metadata, user_metadata, "user_metadata");
    assert_eq!(&actual.password_hash, password_hash, "password_hash");
    assert_eq!(&actual.created_at, created_at, "created_at");
    assert_eq!(&actual.updated_at, updated_at, "updated_at");
    assert_eq!(&actual.last_login, last_login, "last_login");
    assert_eq!(&actual.last_ip, last_ip, "last_ip");
    assert_eq!(&actual.logins_count, logins_count, "logins_count");
}

#[track_caller]
pub fn assert_keys_eq(actual: &[SigningKeyRecord], expected: &[SigningKeyRecord]) {
    let summary = |keys: &[SigningKeyRecord]| -> Vec<(String, String, Vec<u8>, Timestamp)> {
        keys.iter()
            .map(|k| {
                (
                    k.kid.clone(),
                    k.alg.clone(),
                    k.private_pkcs8.clone(),
                    k.created_at,
                )
            })
            .collect()
    };
    assert_eq!(summary(actual), summary(expected), "signing keys");
}
