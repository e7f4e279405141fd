//! Builders and fixtures more than one area uses: rows with every field set,
//! the first-start plan, token families with their access tokens, events and
//! revocation targets, and a few reads (`client_ids`, `grant_ids`, `live`).
//! A helper that one area alone uses stays in that area's file.

use grantor_domain::user::DATABASE_CONNECTION;
use grantor_domain::{
    Client, ClientGrant, ExpirationType, RefreshTokenSettings, ResourceServer, RotationType,
    ScopeDefinition, ScopeSet, SigningAlg, TenantSettings, Timestamp, TokenEndpointAuthMethod,
    TokenHash, User,
};
use grantor_store::{
    BootstrapPlan, ClientGrantFilter, PageRequest, SigningKeyRecord, SigningKeyState, Store,
};

const T0: i64 = 1_700_000_000_000;

pub fn ts(offset_ms: i64) -> Timestamp {
    Timestamp(T0 + offset_ms)
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub fn all() -> PageRequest {
    PageRequest {
        offset: 0,
        limit: 100,
    }
}

pub fn page(offset: i64, limit: i64) -> PageRequest {
    PageRequest { offset, limit }
}

/// A client with every field set to a non-default value, so that a column
/// that is dropped or swapped on the way to the database shows up.
pub fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        name: format!("App {id}"),
        description: format!("Description of {id}, with \"quotes\" and ünïcödé"),
        app_type: Some("regular_web".to_owned()),
        is_first_party: true,
        oidc_conformant: false,
        callbacks: strings(&[
            "https://app.example.com/callback?x=\"1\"&y=2",
            "com.example.app://callback",
        ]),
        allowed_logout_urls: strings(&["https://app.example.com/bye"]),
        allowed_origins: strings(&["https://origin.example.com", "https://o2.example.com"]),
        web_origins: strings(&[
            "https://web.example.com",
            "https://w2.example.com",
            "https://w3.example.com",
        ]),
        grant_types: strings(&["authorization_code", "refresh_token", "client_credentials"]),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        secret_hash: TokenHash::of("secret"),
        id_token_lifetime: 36_000,
        refresh_token: RefreshTokenSettings {
            policies: vec![],
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway: 7,
            token_lifetime: 31_557_600,
            infinite_token_lifetime: false,
            idle_token_lifetime: 2_592_000,
            infinite_idle_token_lifetime: true,
        },
        backchannel_logout_url: Some("https://rp.example/backchannel".to_owned()),
        require_proof_of_possession: false,
        require_pushed_authorization_requests: false,
        is_system: false,
        created_at: ts(0),
        updated_at: ts(1),
    }
}

/// A client whose every field differs from [`client`]'s: the other enum
/// variants, the other booleans, empty lists and an absent `app_type`.
pub fn other_client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        name: format!("Other {id}"),
        description: String::new(),
        app_type: None,
        is_first_party: false,
        oidc_conformant: true,
        callbacks: Vec::new(),
        allowed_logout_urls: Vec::new(),
        allowed_origins: Vec::new(),
        web_origins: Vec::new(),
        grant_types: strings(&["urn:ietf:params:oauth:grant-type:device_code"]),
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        secret_hash: TokenHash::of("another secret"),
        id_token_lifetime: 600,
        refresh_token: RefreshTokenSettings {
            policies: vec![grantor_domain::client::RefreshTokenPolicy {
                audience: "https://billing.example.com".into(),
                scope: strings(&["read:billing", "write:billing"]),
            }],
            rotation_type: RotationType::NonRotating,
            expiration_type: ExpirationType::NonExpiring,
            leeway: 0,
            token_lifetime: 86_400,
            infinite_token_lifetime: true,
            idle_token_lifetime: 3_600,
            infinite_idle_token_lifetime: false,
        },
        backchannel_logout_url: None,
        require_proof_of_possession: true,
        require_pushed_authorization_requests: true,
        is_system: false,
        created_at: ts(10),
        updated_at: ts(20),
    }
}

pub fn api(id: &str, identifier: &str) -> ResourceServer {
    ResourceServer {
        id: id.to_owned(),
        name: format!("API {id}"),
        identifier: identifier.to_owned(),
        scopes: vec![
            ScopeDefinition {
                value: "read:things".to_owned(),
                description: "Read \"things\" — all of them".to_owned(),
            },
            ScopeDefinition {
                value: "write:things".to_owned(),
                description: String::new(),
            },
        ],
        signing_alg: SigningAlg::Ps256,
        allow_offline_access: true,
        skip_consent_for_verifiable_first_party_clients: false,
        token_lifetime: 43_200,
        token_lifetime_for_web: 3_600,
        is_system: false,
        created_at: ts(0),
        updated_at: ts(2),
    }
}

pub fn grant(id: &str, client_id: &str, audience: &str) -> ClientGrant {
    ClientGrant {
        id: id.to_owned(),
        client_id: client_id.into(),
        audience: audience.to_owned(),
        scope: ScopeSet::parse("write:things read:things"),
        created_at: ts(5),
    }
}

pub fn user(id: &str, email: &str) -> User {
    User {
        user_id: format!("auth0|{id}").into(),
        connection: DATABASE_CONNECTION.to_owned(),
        email: email.to_owned(),
        email_verified: true,
        username: Some(format!("user_{id}")),
        name: format!("Name {id}"),
        nickname: format!("nick{id}"),
        picture: Some("https://cdn.example.com/p.png".to_owned()),
        given_name: Some("Ann".to_owned()),
        family_name: Some("Example".to_owned()),
        phone_number: Some("+14155550123".to_owned()),
        phone_verified: true,
        blocked: false,
        app_metadata: r#"{"plan":"gold"}"#.to_owned(),
        user_metadata: r#"{"theme":"dark"}"#.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: ts(0),
        updated_at: ts(1),
        last_login: Some(ts(500)),
        last_ip: Some("203.0.113.7".to_owned()),
        logins_count: 3,
    }
}

pub const MGMT_CLIENT: &str = "mgmt-client";
pub const MGMT_API: &str = "mgmt-api";
pub const MGMT_GRANT: &str = "cgr_mgmt";
pub const MGMT_AUDIENCE: &str = "https://old.example.com/api/v2/";
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// A first-start plan. Plans with different tags use the same ids and admin
/// e-mail but different secrets, names and keys, so that a second bootstrap
/// that wrote anything would be visible.
pub fn plan(tag: &str) -> BootstrapPlan {
    let mut management_api = api(MGMT_API, MGMT_AUDIENCE);
    management_api.name = format!("Management API {tag}");
    management_api.is_system = true;
    let mut management_client = client(MGMT_CLIENT);
    management_client.name = format!("Management client {tag}");
    management_client.secret_hash = TokenHash::of(&format!("secret-{tag}"));
    management_client.is_system = true;
    let mut management_grant = grant(MGMT_GRANT, MGMT_CLIENT, MGMT_AUDIENCE);
    management_grant.scope = ScopeSet::parse(&format!("read:clients create:clients {tag}:x"));
    BootstrapPlan {
        tenant: TenantSettings {
            friendly_name: format!("tenant {tag}"),
            revoke_refresh_token_grant: tag.len() % 2 == 0,
            default_audience: format!("https://{tag}.example.com"),
            session_lifetime: 100 + tag.len() as i64,
            idle_session_lifetime: 10 + tag.len() as i64,
        },
        management_api,
        management_client,
        management_grant,
        admin_email: ADMIN_EMAIL.to_owned(),
        admin_password_hash: format!("$argon2id$admin-{tag}"),
        signing_keys: vec![
            SigningKeyRecord::new(
                format!("{tag}-key-1"),
                "RS256".to_owned(),
                format!("pkcs8 bytes of {tag} 1\0\u{ff}").into_bytes(),
                SigningKeyState::Current,
                ts(0),
            ),
            SigningKeyRecord::new(
                format!("{tag}-key-2"),
                "ES256".to_owned(),
                vec![0, 1, 2, 254, 255, tag.len() as u8],
                SigningKeyState::Current,
                ts(1),
            ),
        ],
        now: ts(0),
    }
}

pub async fn client_ids(store: &Store, request: PageRequest) -> (Vec<String>, i64) {
    let page = store.list_clients(request).await.unwrap();
    (
        page.items
            .into_iter()
            .map(|c| c.client_id.into_string())
            .collect(),
        page.total,
    )
}

pub async fn grant_ids(
    store: &Store,
    filter: &ClientGrantFilter,
    request: PageRequest,
) -> (Vec<String>, i64) {
    let page = store.list_client_grants(filter, request).await.unwrap();
    (page.items.into_iter().map(|g| g.id).collect(), page.total)
}

pub fn owned(ids: &[&str]) -> Vec<String> {
    strings(ids)
}

pub fn new_family(
    id: &str,
    user_id: &str,
    client_id: &str,
    grant_id: impl AsRef<str>,
    created_ms: i64,
) -> grantor_store::NewFamily {
    grantor_store::NewFamily {
        dpop_jkt: None,
        id: id.into(),
        user_id: user_id.into(),
        client_id: client_id.into(),
        grant_id: grant_id.as_ref().into(),
        grant_epoch: 0,
        session_id: None,
        audience: "https://api.example.com/".to_owned(),
        scope: "offline_access".to_owned(),
        rotating: true,
        device_name: None,
        ip: "127.0.0.1".to_owned(),
        user_agent: "test".to_owned(),
        auth_time: ts(created_ms),
        created_at: ts(created_ms),
        expires_at: None,
        idle_expires_at: None,
        secret_hash: TokenHash::from_stored(format!("hash-{id}")),
    }
}

pub fn access_record(
    jti: &str,
    user_id: impl AsRef<str>,
    client_id: impl AsRef<str>,
    grant_id: impl AsRef<str>,
    family: Option<&str>,
) -> grantor_store::AccessTokenRecord {
    grantor_store::AccessTokenRecord {
        jti: jti.to_owned(),
        client_id: client_id.as_ref().into(),
        user_id: user_id.as_ref().into(),
        grant_id: grant_id.as_ref().into(),
        grant_epoch: 0,
        user_epoch: None,
        family_id: family.map(Into::into),
        session_id: None,
        expires_at: ts(10_000_000),
    }
}

/// A user `auth0|<name>` and their `offline_access` grant for client-a on
/// `https://api.example.com/` (grant id `g-<name>`).
pub async fn user_with_grant(store: &Store, name: &str) -> grantor_store::UserGrant {
    store
        .insert_user(&user(name, &format!("{name}@example.com")))
        .await
        .unwrap();
    store
        .upsert_grant(
            &format!("g-{name}").into(),
            &format!("auth0|{name}").into(),
            &"client-a".into(),
            "https://api.example.com/",
            &ScopeSet::parse("offline_access"),
            ts(0),
        )
        .await
        .unwrap()
}

/// A refresh exchange of client-a's family `family_id` from generation
/// `expected`: a rotation (`expected + 1`) or, not `rotated`, a sibling of
/// `expected` (the leeway), with its secret, access-token record and event.
#[allow(clippy::too_many_arguments)]
pub fn exchange_write(
    family_id: &str,
    user_id: &str,
    grant_id: impl AsRef<str>,
    expected: i64,
    rotated: bool,
    hash: &str,
    jti: &str,
    at: i64,
) -> grantor_store::ExchangeWrite {
    let generation = if rotated { expected + 1 } else { expected };
    grantor_store::ExchangeWrite {
        resource_guard: None,
        family_id: family_id.into(),
        expected_generation: expected,
        new_generation: generation,
        rotated,
        rotating: true,
        new_secret_hash: Some(TokenHash::from_stored(hash.to_owned())),
        secret_generation: generation,
        expires_at: None,
        idle_expires_at: None,
        ip: "127.0.0.2".to_owned(),
        user_agent: "ua".to_owned(),
        now: ts(at),
        access_token: access_record(jti, user_id, "client-a", grant_id, Some(family_id)),
        revoke_other_non_rotating: false,
        event: log_event(&format!("x-{jti}"), "sertft", at),
    }
}

/// An audit event with a fixed id, for operations that take one.
pub fn log_event(id: &str, type_code: &str, at: i64) -> grantor_store::LogEvent {
    grantor_store::LogEvent {
        log_id: format!("{at:020}{id}"),
        date: ts(at),
        type_code: type_code.to_owned(),
        description: "test".to_owned(),
        client_id: None,
        client_name: None,
        user_id: None,
        user_name: None,
        ip: None,
        user_agent: None,
        details: serde_json::json!({}),
    }
}

pub fn grant_target(
    grant_id: impl AsRef<str>,
    delete_grant: bool,
) -> grantor_store::RevocationTarget {
    grantor_store::RevocationTarget::Grant {
        grant_id: grant_id.as_ref().into(),
        delete_grant: if delete_grant {
            grantor_store::DeleteGrant::Yes
        } else {
            grantor_store::DeleteGrant::No
        },
    }
}

pub fn session_record(id: &str, user_id: &str, created_ms: i64) -> grantor_store::SessionRecord {
    grantor_store::SessionRecord {
        id: id.into(),
        user_id: user_id.into(),
        cookie_hash: TokenHash::from_stored(format!("cookie-{id}")),
        created_at: ts(created_ms),
        updated_at: ts(created_ms),
        authenticated_at: ts(created_ms),
        last_interacted_at: ts(created_ms),
        idle_expires_at: ts(1_000_000),
        expires_at: ts(2_000_000),
        initial_ip: "192.0.2.1".to_owned(),
        initial_user_agent: "agent/1".to_owned(),
        last_ip: "192.0.2.2".to_owned(),
        last_user_agent: "agent/2".to_owned(),
        ended_at: None,
        revoked_at: None,
    }
}

pub async fn issue_family(store: &Store, family: grantor_store::NewFamily) {
    let jti = format!("j-{}", family.id);
    let batch = grantor_store::IssueBatch {
        resources: vec![],
        resources_of: None,
        access_token: access_record(
            &jti,
            &family.user_id,
            &family.client_id,
            &family.grant_id,
            Some(family.id.as_str()),
        ),
        family: Some(family),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(0)).await.unwrap();
}

pub fn family_target(id: &str) -> grantor_store::RevocationTarget {
    grantor_store::RevocationTarget::Family {
        family_id: id.into(),
    }
}

pub async fn live(store: &Store, family: &str) -> bool {
    let t = store
        .load_refresh_token(&TokenHash::from_stored(format!("hash-{family}")))
        .await
        .unwrap()
        .expect("the secret is still stored");
    let s = t.snapshot;
    !s.revoked && s.grant_current && s.user_current && s.session_current
}
