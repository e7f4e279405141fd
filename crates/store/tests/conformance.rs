//! Storage conformance suite: every test is written once against `&Store` and
//! instantiated per backend by `conformance_tests!`.
//!
//! * `sqlite::*` always runs, on a fresh database file in a temporary directory
//!   (not `sqlite::memory:`: the pool holds several connections).
//! * `postgres::*` runs when `GRANTOR_TEST_POSTGRES_URL` is set; each test gets
//!   a fresh schema, dropped when the test ends (also when it fails).
//!
//! `migration_files_match` checks that both engines ship the same migrations.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use grantor_domain::user::DATABASE_CONNECTION;
use grantor_domain::{
    Client, ClientGrant, ExpirationType, RefreshTokenSettings, ResourceServer, RotationType,
    ScopeDefinition, ScopeSet, SigningAlg, TenantSettings, Timestamp, TokenEndpointAuthMethod,
    TokenHash, User,
};
use grantor_store::{
    BootstrapPlan, ClientGrantFilter, PageRequest, SigningKeyRecord, Store, StoreError, UserFilter,
};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

const POSTGRES_URL_VAR: &str = "GRANTOR_TEST_POSTGRES_URL";

/// Asserts that a store call failed with the given `StoreError` pattern.
macro_rules! assert_store_err {
    ($result:expr, $pat:pat $(,)?) => {
        match $result {
            Err($pat) => {}
            Err(other) => panic!("expected {}, got {other:?}", stringify!($pat)),
            Ok(_) => panic!("expected {}, got Ok", stringify!($pat)),
        }
    };
}

/// Instantiates each named `async fn(&Store)` once per backend.
macro_rules! conformance_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    db.run(|store| async move { super::$name(&store).await }).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else {
                        return;
                    };
                    db.run(|store| async move { super::$name(&store).await }).await;
                }
            )+
        }
    };
}

/// A store on a database that exists for one test only.
struct TestDb {
    store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The directory holding the SQLite file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin: sqlx::PgPool,
        schema: String,
    },
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        assert_eq!(store.backend_name(), "sqlite");
        TestDb {
            store,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    async fn postgres() -> Option<Self> {
        let base = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                println!("PostgreSQL skipped: {POSTGRES_URL_VAR} is not set");
                return None;
            }
        };
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&base)
            .await
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_URL_VAR}: {e}"));
        let schema = unique_schema_name();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = match Store::connect(&url).await {
            Ok(store) => store,
            Err(e) => {
                drop_schema(&admin, &schema).await;
                panic!("connecting the store to schema {schema}: {e}");
            }
        };
        assert_eq!(store.backend_name(), "postgres");
        Some(TestDb {
            store,
            cleanup: Cleanup::Postgres { admin, schema },
        })
    }

    /// Runs the test body on its own task so that a failing assertion still
    /// lets the database be cleaned up; the failure is re-raised afterwards.
    async fn run<F, Fut>(self, body: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(body(self.store.clone())).await;
        self.store.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => drop(dir),
            Cleanup::Postgres { admin, schema } => {
                drop_schema(&admin, &schema).await;
                admin.close().await;
            }
        }
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    }
}

fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "t_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

async fn drop_schema(admin: &sqlx::PgPool, schema: &str) {
    if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(admin)
        .await
    {
        eprintln!("warning: could not drop test schema {schema}: {e}");
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const T0: i64 = 1_700_000_000_000;

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp(T0 + offset_ms)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn all() -> PageRequest {
    PageRequest {
        offset: 0,
        limit: 100,
    }
}

fn page(offset: i64, limit: i64) -> PageRequest {
    PageRequest { offset, limit }
}

/// A client with every field set to a non-default value, so that a column
/// that is dropped or swapped on the way to the database shows up.
fn client(id: &str) -> Client {
    Client {
        client_id: id.to_owned(),
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
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway: 7,
            token_lifetime: 31_557_600,
            infinite_token_lifetime: false,
            idle_token_lifetime: 2_592_000,
            infinite_idle_token_lifetime: true,
        },
        is_system: false,
        created_at: ts(0),
        updated_at: ts(1),
    }
}

/// A client whose every field differs from [`client`]'s: the other enum
/// variants, the other booleans, empty lists and an absent `app_type`.
fn other_client(id: &str) -> Client {
    Client {
        client_id: id.to_owned(),
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
            rotation_type: RotationType::NonRotating,
            expiration_type: ExpirationType::NonExpiring,
            leeway: 0,
            token_lifetime: 86_400,
            infinite_token_lifetime: true,
            idle_token_lifetime: 3_600,
            infinite_idle_token_lifetime: false,
        },
        is_system: false,
        created_at: ts(10),
        updated_at: ts(20),
    }
}

fn api(id: &str, identifier: &str) -> ResourceServer {
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

fn grant(id: &str, client_id: &str, audience: &str) -> ClientGrant {
    ClientGrant {
        id: id.to_owned(),
        client_id: client_id.to_owned(),
        audience: audience.to_owned(),
        scope: ScopeSet::parse("write:things read:things"),
        created_at: ts(5),
    }
}

fn user(id: &str, email: &str) -> User {
    User {
        user_id: format!("auth0|{id}"),
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

const MGMT_CLIENT: &str = "mgmt-client";
const MGMT_API: &str = "mgmt-api";
const MGMT_GRANT: &str = "cgr_mgmt";
const MGMT_AUDIENCE: &str = "https://old.example.com/api/v2/";
const ADMIN_EMAIL: &str = "admin@example.com";

/// A first-start plan. Plans with different tags use the same ids and admin
/// e-mail but different secrets, names and keys, so that a second bootstrap
/// that wrote anything would be visible.
fn plan(tag: &str) -> BootstrapPlan {
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
            SigningKeyRecord {
                kid: format!("{tag}-key-1"),
                alg: "RS256".to_owned(),
                private_pkcs8: format!("pkcs8 bytes of {tag} 1\0\u{ff}").into_bytes(),
                created_at: ts(0),
            },
            SigningKeyRecord {
                kid: format!("{tag}-key-2"),
                alg: "ES256".to_owned(),
                private_pkcs8: vec![0, 1, 2, 254, 255, tag.len() as u8],
                created_at: ts(1),
            },
        ],
        now: ts(0),
    }
}

// ---------------------------------------------------------------------------
// Field-by-field comparisons (exhaustive destructuring: a new field is a
// compile error here until the suite checks it)
// ---------------------------------------------------------------------------

#[track_caller]
fn assert_refresh_eq(actual: &RefreshTokenSettings, expected: &RefreshTokenSettings) {
    let RefreshTokenSettings {
        rotation_type,
        expiration_type,
        leeway,
        token_lifetime,
        infinite_token_lifetime,
        idle_token_lifetime,
        infinite_idle_token_lifetime,
    } = expected;
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
fn assert_client_eq(actual: &Client, expected: &Client) {
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
        is_system,
        created_at,
        updated_at,
    } = expected;
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
    assert_eq!(&actual.created_at, created_at, "created_at");
    assert_eq!(&actual.updated_at, updated_at, "updated_at");
}

#[track_caller]
fn assert_api_eq(actual: &ResourceServer, expected: &ResourceServer) {
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
fn assert_grant_eq(actual: &ClientGrant, expected: &ClientGrant) {
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
fn assert_user_eq(actual: &User, expected: &User) {
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
fn assert_keys_eq(actual: &[SigningKeyRecord], expected: &[SigningKeyRecord]) {
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

async fn client_ids(store: &Store, request: PageRequest) -> (Vec<String>, i64) {
    let page = store.list_clients(request).await.unwrap();
    (
        page.items.into_iter().map(|c| c.client_id).collect(),
        page.total,
    )
}

async fn grant_ids(
    store: &Store,
    filter: &ClientGrantFilter,
    request: PageRequest,
) -> (Vec<String>, i64) {
    let page = store.list_client_grants(filter, request).await.unwrap();
    (page.items.into_iter().map(|g| g.id).collect(), page.total)
}

async fn user_ids(store: &Store, filter: &UserFilter, request: PageRequest) -> (Vec<String>, i64) {
    let page = store.list_users(filter, request).await.unwrap();
    (
        page.items.into_iter().map(|u| u.user_id).collect(),
        page.total,
    )
}

fn owned(ids: &[&str]) -> Vec<String> {
    strings(ids)
}

/// Inserts clients c1, c2 and APIs one, two (identifiers `https://one…`, `https://two…`).
async fn seed_clients_and_apis(store: &Store) {
    store.insert_client(&client("c1")).await.unwrap();
    store.insert_client(&other_client("c2")).await.unwrap();
    store
        .insert_resource_server(&api("api1", "https://one.example.com"))
        .await
        .unwrap();
    store
        .insert_resource_server(&api("api2", "https://two.example.com"))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------

conformance_tests! {
    bootstrap_runs_once,
    concurrent_bootstraps_have_one_winner,
    tenant_settings_round_trip,
    client_round_trip,
    update_missing_client_is_not_found,
    duplicate_client_id_is_conflict,
    concurrent_writes_commit_independently,
    list_clients_pages,
    resource_server_lookup_and_round_trip,
    duplicate_resource_server_is_conflict,
    client_grant_round_trip,
    client_grant_with_unknown_reference_is_missing_reference,
    duplicate_client_grant_is_conflict,
    deleting_client_deletes_its_grants,
    deleting_resource_server_deletes_its_grants,
    management_api_identifier_sync_cascades_to_grants,
    list_client_grants_filters_and_checkpoints,
    user_crud,
    duplicate_email_in_connection_is_conflict,
    list_users_filters,
    system_rows_are_never_deleted,
    refresh_token_families_are_capped_per_user_and_client,
    exchange_is_a_compare_and_set_and_revocations_are_seen_on_load,
    rotation_keeps_only_the_secrets_that_can_be_honoured,
    an_exchange_is_written_whole_or_not_at_all,
    a_receipt_examines_a_bounded_number_of_tokens,
    refresh_token_mac_key_is_stored_once,
    admin_sessions_expire_by_idleness_and_age,
    admin_sign_out_and_sign_in_housekeeping,
    admin_sessions_belong_to_known_administrators,
    live_refresh_tokens_leave_out_dead_ones,
    list_grants_filters_and_pages,
    live_sessions_leave_out_ended_revoked_and_expired,
    revocations_cover_exactly_their_target_with_a_receipt,
    user_wide_revocation_is_one_epoch_and_later_tokens_work,
    recreated_user_does_not_revive_old_tokens,
    logs_filter_and_page_both_ways,
    purge_deletes_dead_rows_in_bounded_batches,
    deleting_every_grant_of_a_user_is_one_revocation,
    attempt_reservations_are_atomic_and_windowed,
    authorization_codes_are_read_without_writing_and_spent_once,
}

async fn bootstrap_runs_once(store: &Store) {
    assert_store_err!(store.tenant_settings().await, StoreError::NotFound);
    assert!(store.signing_keys().await.unwrap().is_empty());

    let first = plan("first");
    assert!(store.bootstrap(&first).await.unwrap(), "first bootstrap");

    let second = plan("second");
    assert!(
        !store.bootstrap(&second).await.unwrap(),
        "a second bootstrap must report that it did nothing"
    );

    // Everything is still the first plan's.
    assert_eq!(store.tenant_settings().await.unwrap(), first.tenant);
    let mgmt = store
        .client(MGMT_CLIENT)
        .await
        .unwrap()
        .expect("mgmt client");
    assert_client_eq(&mgmt, &first.management_client);
    assert!(mgmt.secret_hash.matches("secret-first"));
    assert!(!mgmt.secret_hash.matches("secret-second"));
    assert_eq!(
        store.admin_password_hash(ADMIN_EMAIL).await.unwrap(),
        Some(first.admin_password_hash.clone())
    );
    assert_eq!(
        store
            .admin_password_hash("nobody@example.com")
            .await
            .unwrap(),
        None
    );
    assert_keys_eq(&store.signing_keys().await.unwrap(), &first.signing_keys);
    let api = store.resource_server(MGMT_API).await.unwrap().expect("api");
    assert_api_eq(&api, &first.management_api);
    let g = store
        .client_grant(MGMT_GRANT)
        .await
        .unwrap()
        .expect("grant");
    assert_grant_eq(&g, &first.management_grant);

    // And nothing of the second plan was added alongside.
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
    let grants = store
        .list_client_grants(&ClientGrantFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(grants.total, 1);
}

async fn concurrent_bootstraps_have_one_winner(store: &Store) {
    let (a, b) = (plan("alpha"), plan("beta"));
    let (sa, sb) = (store.clone(), store.clone());
    let (pa, pb) = (a.clone(), b.clone());
    let ta = tokio::spawn(async move { sa.bootstrap(&pa).await });
    let tb = tokio::spawn(async move { sb.bootstrap(&pb).await });
    let ra = ta.await.unwrap().unwrap();
    let rb = tb.await.unwrap().unwrap();
    assert!(
        ra ^ rb,
        "exactly one bootstrap wins (alpha: {ra}, beta: {rb})"
    );
    let winner = if ra { &a } else { &b };
    assert_eq!(store.tenant_settings().await.unwrap(), winner.tenant);
    assert_keys_eq(&store.signing_keys().await.unwrap(), &winner.signing_keys);
    assert_eq!(
        store.admin_password_hash(ADMIN_EMAIL).await.unwrap(),
        Some(winner.admin_password_hash.clone())
    );
    let mgmt = store.client(MGMT_CLIENT).await.unwrap().unwrap();
    assert_client_eq(&mgmt, &winner.management_client);
}

async fn tenant_settings_round_trip(store: &Store) {
    let p = plan("t");
    assert!(store.bootstrap(&p).await.unwrap());
    assert_eq!(store.tenant_settings().await.unwrap(), p.tenant);

    let changed = TenantSettings {
        friendly_name: "Renamed — tenant \"x\"".to_owned(),
        revoke_refresh_token_grant: !p.tenant.revoke_refresh_token_grant,
        default_audience: "https://aud.example.com/".to_owned(),
        session_lifetime: 720,
        idle_session_lifetime: 1,
    };
    store.update_tenant_settings(&changed, None).await.unwrap();
    assert_eq!(store.tenant_settings().await.unwrap(), changed);

    let cleared = TenantSettings {
        default_audience: String::new(),
        ..changed.clone()
    };
    store.update_tenant_settings(&cleared, None).await.unwrap();
    let read = store.tenant_settings().await.unwrap();
    assert_eq!(read, cleared);
    assert_eq!(read.default_audience(), None);
}

async fn client_round_trip(store: &Store) {
    let a = client("app-a");
    let b = other_client("app-b");
    store.insert_client(&a).await.unwrap();
    store.insert_client(&b).await.unwrap();
    assert_client_eq(&store.client("app-a").await.unwrap().unwrap(), &a);
    assert_client_eq(&store.client("app-b").await.unwrap().unwrap(), &b);
    assert!(store.client("app-c").await.unwrap().is_none());

    // The other auth method round-trips too.
    let mut c = client("app-c");
    c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    store.insert_client(&c).await.unwrap();
    assert_client_eq(&store.client("app-c").await.unwrap().unwrap(), &c);

    // Update every updatable field of `a` to `b`'s values; `created_at` and
    // `is_system` are not updatable and keep their stored values.
    let mut updated = other_client("app-a");
    updated.updated_at = ts(99);
    updated.created_at = ts(12_345);
    updated.is_system = true;
    store.update_client(&updated, None).await.unwrap();
    let read = store.client("app-a").await.unwrap().unwrap();
    let expected = Client {
        created_at: a.created_at,
        is_system: false,
        ..updated.clone()
    };
    assert_client_eq(&read, &expected);
    // The update did not touch the other clients.
    assert_client_eq(&store.client("app-b").await.unwrap().unwrap(), &b);
    assert_client_eq(&store.client("app-c").await.unwrap().unwrap(), &c);

    // …and back, to check the other direction of every value.
    let mut back = client("app-a");
    back.updated_at = ts(100);
    store.update_client(&back, None).await.unwrap();
    assert_client_eq(&store.client("app-a").await.unwrap().unwrap(), &back);

    // The deleted client is gone; deleting again reports nothing deleted.
    assert!(store.delete_client("app-c").await.unwrap());
    assert!(store.client("app-c").await.unwrap().is_none());
    assert!(!store.delete_client("app-c").await.unwrap());
}

async fn update_missing_client_is_not_found(store: &Store) {
    store.insert_client(&client("present")).await.unwrap();
    assert_store_err!(
        store.update_client(&client("absent"), None).await,
        StoreError::NotFound
    );
    assert!(store.client("absent").await.unwrap().is_none());
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
}

async fn duplicate_client_id_is_conflict(store: &Store) {
    let original = client("dup");
    store.insert_client(&original).await.unwrap();
    let mut again = other_client("dup");
    again.name = "Impostor".to_owned();
    assert_store_err!(store.insert_client(&again).await, StoreError::Conflict(_));
    assert_client_eq(&store.client("dup").await.unwrap().unwrap(), &original);
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
}

/// Many writes at once (on SQLite they share group commits): each one is
/// atomic on its own; a write that fails (a duplicate) or is abandoned
/// mid-way (its future dropped) leaves the others of its batch committed.
async fn concurrent_writes_commit_independently(store: &Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        tasks.spawn(async move {
            // Write 3k+1 repeats id 3k: one of each pair must conflict.
            let id = format!("c{}", if i % 3 == 1 { i - 1 } else { i });
            let result = store.insert_client(&client(&id)).await;
            (
                i,
                result.map_err(|e| {
                    matches!(e, StoreError::Conflict(_))
                        .then_some(())
                        .ok_or(e.to_string())
                }),
            )
        });
    }
    for i in 0..20 {
        let store = store.clone();
        // Abandoned writes: dropped before or while they run.
        let write = async move { store.insert_client(&client(&format!("dropped{i}"))).await };
        let _ = tokio::time::timeout(std::time::Duration::from_micros(i * 50), write).await;
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (_, Ok(())) => ok += 1,
            (_, Err(Ok(()))) => {}
            (i, Err(Err(other))) => {
                panic!("write {i} failed with something else than a conflict: {other}")
            }
        }
    }
    let listed = store.list_clients(all()).await.unwrap();
    let durable: Vec<&String> = listed
        .items
        .iter()
        .map(|c| &c.client_id)
        .filter(|id| id.starts_with('c'))
        .collect();
    assert_eq!(ok, 60 - 20, "every id but the duplicates was written");
    assert_eq!(durable.len(), 40, "{durable:?}");
    // An abandoned write is either all there or not at all.
    for c in listed
        .items
        .iter()
        .filter(|c| c.client_id.starts_with("dropped"))
    {
        assert_client_eq(c, &client(&c.client_id));
    }
    // And the store still writes afterwards.
    store.insert_client(&client("after")).await.unwrap();
    assert!(store.client("after").await.unwrap().is_some());
}

async fn list_clients_pages(store: &Store) {
    // Inserted out of order; c3 and c2 share a creation instant, so the
    // client_id breaks the tie.
    for (id, at) in [("c4", 40), ("c1", 10), ("c3", 20), ("c5", 50), ("c2", 20)] {
        let mut c = client(id);
        c.created_at = ts(at);
        store.insert_client(&c).await.unwrap();
    }
    assert_eq!(
        client_ids(store, all()).await,
        (owned(&["c1", "c2", "c3", "c4", "c5"]), 5)
    );
    assert_eq!(
        client_ids(store, page(0, 2)).await,
        (owned(&["c1", "c2"]), 5)
    );
    assert_eq!(
        client_ids(store, page(2, 2)).await,
        (owned(&["c3", "c4"]), 5)
    );
    assert_eq!(client_ids(store, page(4, 2)).await, (owned(&["c5"]), 5));
    assert_eq!(client_ids(store, page(5, 2)).await, (owned(&[]), 5));
    assert_eq!(client_ids(store, page(1, 0)).await, (owned(&[]), 5));

    // A full page carries whole clients, not just ids.
    let first = store.list_clients(page(0, 1)).await.unwrap();
    let mut expected = client("c1");
    expected.created_at = ts(10);
    assert_client_eq(&first.items[0], &expected);
}

async fn resource_server_lookup_and_round_trip(store: &Store) {
    let one = api("rs_1", "https://one.example.com/api");
    let mut two = api("rs_2", "urn:two");
    two.scopes = Vec::new();
    two.signing_alg = SigningAlg::EdDsa;
    two.allow_offline_access = false;
    two.skip_consent_for_verifiable_first_party_clients = true;
    two.token_lifetime = 60;
    two.token_lifetime_for_web = 30;
    two.created_at = ts(10);
    store.insert_resource_server(&one).await.unwrap();
    store.insert_resource_server(&two).await.unwrap();

    assert_api_eq(&store.resource_server("rs_1").await.unwrap().unwrap(), &one);
    assert_api_eq(
        &store
            .resource_server("https://one.example.com/api")
            .await
            .unwrap()
            .unwrap(),
        &one,
    );
    assert_api_eq(
        &store.resource_server("urn:two").await.unwrap().unwrap(),
        &two,
    );
    assert_api_eq(&store.resource_server("rs_2").await.unwrap().unwrap(), &two);
    assert!(store.resource_server("rs_3").await.unwrap().is_none());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_none());

    for alg in SigningAlg::ALL {
        let mut r = api(
            &format!("rs_{}", alg.as_str()),
            &format!("urn:{}", alg.as_str()),
        );
        r.signing_alg = alg;
        store.insert_resource_server(&r).await.unwrap();
        assert_api_eq(&store.resource_server(&r.id).await.unwrap().unwrap(), &r);
    }

    let listed = store.list_resource_servers(page(0, 2)).await.unwrap();
    assert_eq!(listed.total, 6);
    assert_eq!(listed.items.len(), 2);
    assert_api_eq(&listed.items[0], &one);

    // Update: every mutable field changes; the identifier (audience),
    // `is_system` and `created_at` stay.
    let mut updated = two.clone();
    updated.name = "Renamed".to_owned();
    updated.identifier = "urn:changed".to_owned();
    updated.scopes = vec![ScopeDefinition {
        value: "admin".to_owned(),
        description: "Everything".to_owned(),
    }];
    updated.signing_alg = SigningAlg::Es256;
    updated.allow_offline_access = true;
    updated.skip_consent_for_verifiable_first_party_clients = false;
    updated.token_lifetime = 7_200;
    updated.token_lifetime_for_web = 900;
    updated.is_system = true;
    updated.created_at = ts(777);
    updated.updated_at = ts(888);
    store.update_resource_server(&updated).await.unwrap();
    let expected = ResourceServer {
        identifier: two.identifier.clone(),
        is_system: false,
        created_at: two.created_at,
        ..updated.clone()
    };
    assert_api_eq(
        &store.resource_server("rs_2").await.unwrap().unwrap(),
        &expected,
    );
    assert!(store
        .resource_server("urn:changed")
        .await
        .unwrap()
        .is_none());

    assert_store_err!(
        store
            .update_resource_server(&api("rs_missing", "urn:missing"))
            .await,
        StoreError::NotFound
    );
}

async fn duplicate_resource_server_is_conflict(store: &Store) {
    let original = api("rs_1", "https://api.example.com");
    store.insert_resource_server(&original).await.unwrap();

    let mut same_identifier = api("rs_2", "https://api.example.com");
    same_identifier.name = "Impostor".to_owned();
    assert_store_err!(
        store.insert_resource_server(&same_identifier).await,
        StoreError::Conflict(_)
    );
    assert_store_err!(
        store
            .insert_resource_server(&api("rs_1", "https://other.example.com"))
            .await,
        StoreError::Conflict(_)
    );

    assert!(store.resource_server("rs_2").await.unwrap().is_none());
    assert!(store
        .resource_server("https://other.example.com")
        .await
        .unwrap()
        .is_none());
    assert_api_eq(
        &store
            .resource_server("https://api.example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
}

async fn client_grant_round_trip(store: &Store) {
    seed_clients_and_apis(store).await;
    let g = grant("cgr_1", "c1", "https://one.example.com");
    store.insert_client_grant(&g).await.unwrap();
    assert_grant_eq(&store.client_grant("cgr_1").await.unwrap().unwrap(), &g);
    assert_grant_eq(
        &store
            .client_grant_for("c1", "https://one.example.com")
            .await
            .unwrap()
            .unwrap(),
        &g,
    );
    assert!(store
        .client_grant_for("c1", "https://two.example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .client_grant_for("c2", "https://one.example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store.client_grant("cgr_2").await.unwrap().is_none());

    // An empty scope round-trips as empty.
    let mut empty = grant("cgr_2", "c2", "https://two.example.com");
    empty.scope = ScopeSet::default();
    store.insert_client_grant(&empty).await.unwrap();
    assert_grant_eq(&store.client_grant("cgr_2").await.unwrap().unwrap(), &empty);

    // Update changes the scope only.
    let mut updated = g.clone();
    updated.scope = ScopeSet::parse("c b a");
    updated.created_at = ts(999);
    store.update_client_grant(&updated).await.unwrap();
    let expected = ClientGrant {
        created_at: g.created_at,
        ..updated.clone()
    };
    assert_grant_eq(
        &store.client_grant("cgr_1").await.unwrap().unwrap(),
        &expected,
    );
    assert_store_err!(
        store
            .update_client_grant(&grant("cgr_missing", "c1", "https://one.example.com"))
            .await,
        StoreError::NotFound
    );

    assert!(store.delete_client_grant("cgr_1").await.unwrap());
    assert!(store.client_grant("cgr_1").await.unwrap().is_none());
    assert!(!store.delete_client_grant("cgr_1").await.unwrap());
    // The client and the API are untouched.
    assert!(store.client("c1").await.unwrap().is_some());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_some());
}

async fn client_grant_with_unknown_reference_is_missing_reference(store: &Store) {
    seed_clients_and_apis(store).await;
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_1", "no-such-client", "https://one.example.com"))
            .await,
        StoreError::MissingReference(_)
    );
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_2", "c1", "https://no-such-api.example.com"))
            .await,
        StoreError::MissingReference(_)
    );
    // The audience is the API's identifier, not its id.
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_3", "c1", "api1"))
            .await,
        StoreError::MissingReference(_)
    );
    let all_grants = store
        .list_client_grants(&ClientGrantFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(all_grants.total, 0);
    assert!(all_grants.items.is_empty());
}

async fn duplicate_client_grant_is_conflict(store: &Store) {
    seed_clients_and_apis(store).await;
    let original = grant("cgr_1", "c1", "https://one.example.com");
    store.insert_client_grant(&original).await.unwrap();

    let mut again = grant("cgr_2", "c1", "https://one.example.com");
    again.scope = ScopeSet::parse("read:things");
    assert_store_err!(
        store.insert_client_grant(&again).await,
        StoreError::Conflict(_)
    );
    // Same id, other pair: also a conflict.
    assert_store_err!(
        store
            .insert_client_grant(&grant("cgr_1", "c2", "https://two.example.com"))
            .await,
        StoreError::Conflict(_)
    );

    assert!(store.client_grant("cgr_2").await.unwrap().is_none());
    assert_grant_eq(
        &store
            .client_grant_for("c1", "https://one.example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );
    // The same client with another API, and another client with the same API, are fine.
    store
        .insert_client_grant(&grant("cgr_3", "c1", "https://two.example.com"))
        .await
        .unwrap();
    store
        .insert_client_grant(&grant("cgr_4", "c2", "https://one.example.com"))
        .await
        .unwrap();
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["cgr_1", "cgr_3", "cgr_4"]), 3)
    );
}

async fn deleting_client_deletes_its_grants(store: &Store) {
    seed_clients_and_apis(store).await;
    for (id, c, aud) in [
        ("g1", "c1", "https://one.example.com"),
        ("g2", "c1", "https://two.example.com"),
        ("g3", "c2", "https://one.example.com"),
    ] {
        store.insert_client_grant(&grant(id, c, aud)).await.unwrap();
    }
    assert!(store.delete_client("c1").await.unwrap());
    assert!(store.client("c1").await.unwrap().is_none());
    assert!(store.client_grant("g1").await.unwrap().is_none());
    assert!(store.client_grant("g2").await.unwrap().is_none());
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["g3"]), 1)
    );
    // The APIs stay.
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 2);
    // A new client reusing the id starts without grants.
    store.insert_client(&client("c1")).await.unwrap();
    assert!(store
        .client_grant_for("c1", "https://one.example.com")
        .await
        .unwrap()
        .is_none());
}

async fn deleting_resource_server_deletes_its_grants(store: &Store) {
    seed_clients_and_apis(store).await;
    for (id, c, aud) in [
        ("g1", "c1", "https://one.example.com"),
        ("g2", "c1", "https://two.example.com"),
        ("g3", "c2", "https://one.example.com"),
    ] {
        store.insert_client_grant(&grant(id, c, aud)).await.unwrap();
    }
    assert!(store.delete_resource_server("api1").await.unwrap());
    assert!(store.resource_server("api1").await.unwrap().is_none());
    assert!(store
        .resource_server("https://one.example.com")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        grant_ids(store, &ClientGrantFilter::default(), all()).await,
        (owned(&["g2"]), 1)
    );
    // Deleting by identifier is not supported: the id is required.
    assert!(!store
        .delete_resource_server("https://two.example.com")
        .await
        .unwrap());
    assert!(!store.delete_resource_server("api1").await.unwrap());
    // The clients stay.
    assert_eq!(store.list_clients(all()).await.unwrap().total, 2);
}

async fn management_api_identifier_sync_cascades_to_grants(store: &Store) {
    let p = plan("sync");
    assert!(store.bootstrap(&p).await.unwrap());
    // An ordinary API and a grant for it must not be touched.
    store
        .insert_resource_server(&api("other", "https://other.example.com"))
        .await
        .unwrap();
    store
        .insert_client_grant(&grant(
            "cgr_other",
            MGMT_CLIENT,
            "https://other.example.com",
        ))
        .await
        .unwrap();

    const NEW: &str = "https://new.example.com/api/v2/";
    store
        .sync_management_api_identifier(NEW, ts(5_000))
        .await
        .unwrap();

    let api = store
        .resource_server(NEW)
        .await
        .unwrap()
        .expect("renamed API");
    assert_eq!(api.id, MGMT_API);
    assert!(api.is_system);
    assert_eq!(api.updated_at, ts(5_000));
    assert!(store
        .resource_server(MGMT_AUDIENCE)
        .await
        .unwrap()
        .is_none());

    // ON UPDATE CASCADE: the grant follows the identifier.
    let g = store.client_grant(MGMT_GRANT).await.unwrap().unwrap();
    assert_eq!(g.audience, NEW);
    assert_eq!(g.scope.to_wire(), p.management_grant.scope.to_wire());
    assert!(store
        .client_grant_for(MGMT_CLIENT, NEW)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .client_grant_for(MGMT_CLIENT, MGMT_AUDIENCE)
        .await
        .unwrap()
        .is_none());
    let by_audience = ClientGrantFilter {
        audience: Some(NEW.to_owned()),
        ..Default::default()
    };
    assert_eq!(
        grant_ids(store, &by_audience, all()).await,
        (owned(&[MGMT_GRANT]), 1)
    );

    // The ordinary API and its grant are unchanged.
    let other = store.resource_server("other").await.unwrap().unwrap();
    assert_eq!(other.identifier, "https://other.example.com");
    assert_eq!(other.updated_at, api_updated_at_fixture());
    assert_eq!(
        store
            .client_grant("cgr_other")
            .await
            .unwrap()
            .unwrap()
            .audience,
        "https://other.example.com"
    );

    // Syncing to the current identifier changes nothing (not even updated_at).
    store
        .sync_management_api_identifier(NEW, ts(9_000))
        .await
        .unwrap();
    let again = store.resource_server(MGMT_API).await.unwrap().unwrap();
    assert_eq!(again.identifier, NEW);
    assert_eq!(again.updated_at, ts(5_000));
}

fn api_updated_at_fixture() -> Timestamp {
    api("x", "y").updated_at
}

async fn list_client_grants_filters_and_checkpoints(store: &Store) {
    seed_clients_and_apis(store).await;
    const ONE: &str = "https://one.example.com";
    const TWO: &str = "https://two.example.com";
    // Inserted out of id order; lists are ordered by id.
    for (id, c, aud) in [
        ("g3", "c2", ONE),
        ("g1", "c1", ONE),
        ("g4", "c2", TWO),
        ("g2", "c1", TWO),
    ] {
        store.insert_client_grant(&grant(id, c, aud)).await.unwrap();
    }
    let filter =
        |client: Option<&str>, audience: Option<&str>, after: Option<&str>| ClientGrantFilter {
            client_id: client.map(str::to_owned),
            audience: audience.map(str::to_owned),
            after_id: after.map(str::to_owned),
        };

    assert_eq!(
        grant_ids(store, &filter(None, None, None), all()).await,
        (owned(&["g1", "g2", "g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c1"), None, None), all()).await,
        (owned(&["g1", "g2"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(ONE), None), all()).await,
        (owned(&["g1", "g3"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c2"), Some(TWO), None), all()).await,
        (owned(&["g4"]), 1)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("nobody"), None, None), all()).await,
        (owned(&[]), 0)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some("urn:nothing"), None), all()).await,
        (owned(&[]), 0)
    );

    // Offset paging.
    assert_eq!(
        grant_ids(store, &filter(None, None, None), page(1, 2)).await,
        (owned(&["g2", "g3"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, None), page(4, 2)).await,
        (owned(&[]), 4)
    );

    // Checkpoint paging: only ids after the checkpoint. The total counts the
    // whole filtered set (the checkpoint is not part of it): the Management
    // API reports it as the collection's size.
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g2")), all()).await,
        (owned(&["g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g4")), all()).await,
        (owned(&[]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g0")), page(0, 3)).await,
        (owned(&["g1", "g2", "g3"]), 4)
    );
    // A checkpoint that is not itself an id still works (ids compare as text).
    assert_eq!(
        grant_ids(store, &filter(None, None, Some("g25")), all()).await,
        (owned(&["g3", "g4"]), 4)
    );
    assert_eq!(
        grant_ids(store, &filter(Some("c2"), None, Some("g1")), all()).await,
        (owned(&["g3", "g4"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(TWO), Some("g1")), page(0, 1)).await,
        (owned(&["g2"]), 2)
    );
    assert_eq!(
        grant_ids(store, &filter(None, Some(TWO), Some("g2")), page(0, 1)).await,
        (owned(&["g4"]), 2)
    );

    // Whole grants come back, not just ids.
    let page = store
        .list_client_grants(&filter(Some("c1"), Some(ONE), None), all())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_grant_eq(&page.items[0], &grant("g1", "c1", ONE));
}

async fn user_crud(store: &Store) {
    let ann = user("0001", "ann@example.com");
    let mut bob = user("0002", "bob@example.com");
    bob.email_verified = false;
    bob.username = None;
    bob.picture = None;
    bob.given_name = None;
    bob.family_name = None;
    bob.phone_number = None;
    bob.phone_verified = false;
    bob.blocked = true;
    bob.app_metadata = "{}".to_owned();
    bob.user_metadata = "{}".to_owned();
    bob.last_login = None;
    bob.last_ip = None;
    bob.logins_count = 0;
    store.insert_user(&ann).await.unwrap();
    store.insert_user(&bob).await.unwrap();

    assert_user_eq(&store.user("auth0|0001").await.unwrap().unwrap(), &ann);
    assert_user_eq(&store.user("auth0|0002").await.unwrap().unwrap(), &bob);
    assert!(store.user("auth0|0003").await.unwrap().is_none());
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "ann@example.com")
            .await
            .unwrap()
            .unwrap(),
        &ann,
    );
    assert!(store
        .user_by_email("other-connection", "ann@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "nobody@example.com")
        .await
        .unwrap()
        .is_none());

    // Update every updatable field; connection, created_at and the login
    // bookkeeping (last_login, last_ip, logins_count) are not updatable.
    let updated = User {
        user_id: ann.user_id.clone(),
        connection: "ignored".to_owned(),
        email: "ann.new@example.com".to_owned(),
        email_verified: false,
        username: None,
        name: "Ann New".to_owned(),
        nickname: "annie".to_owned(),
        picture: None,
        given_name: Some("Anne".to_owned()),
        family_name: None,
        phone_number: Some("+442079460000".to_owned()),
        phone_verified: false,
        blocked: true,
        app_metadata: r#"{"plan":"free","n":[1,2]}"#.to_owned(),
        user_metadata: "{}".to_owned(),
        password_hash: "$argon2id$new".to_owned(),
        created_at: ts(7_777),
        updated_at: ts(8_888),
        last_login: None,
        last_ip: None,
        logins_count: 99,
    };
    store.update_user(&updated).await.unwrap();
    let expected = User {
        connection: ann.connection.clone(),
        created_at: ann.created_at,
        last_login: ann.last_login,
        last_ip: ann.last_ip.clone(),
        logins_count: ann.logins_count,
        ..updated.clone()
    };
    assert_user_eq(&store.user("auth0|0001").await.unwrap().unwrap(), &expected);
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "ann@example.com")
        .await
        .unwrap()
        .is_none());
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "ann.new@example.com")
            .await
            .unwrap()
            .unwrap(),
        &expected,
    );
    assert_user_eq(&store.user("auth0|0002").await.unwrap().unwrap(), &bob);

    // Changing the e-mail to one another user has is a conflict, and changes nothing.
    let mut clash = expected.clone();
    clash.email = "bob@example.com".to_owned();
    clash.name = "Clash".to_owned();
    assert_store_err!(store.update_user(&clash).await, StoreError::Conflict(_));
    assert_user_eq(&store.user("auth0|0001").await.unwrap().unwrap(), &expected);

    assert_store_err!(
        store.update_user(&user("9999", "ghost@example.com")).await,
        StoreError::NotFound
    );
    assert!(store.user("auth0|9999").await.unwrap().is_none());

    assert!(store.delete_user("auth0|0001").await.unwrap());
    assert!(store.user("auth0|0001").await.unwrap().is_none());
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "ann.new@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_user("auth0|0001").await.unwrap());
    assert_eq!(
        user_ids(store, &UserFilter::default(), all()).await,
        (owned(&["auth0|0002"]), 1)
    );
    // The e-mail is free again.
    store
        .insert_user(&user("0003", "ann.new@example.com"))
        .await
        .unwrap();
}

async fn duplicate_email_in_connection_is_conflict(store: &Store) {
    let original = user("0001", "same@example.com");
    store.insert_user(&original).await.unwrap();

    let mut twin = user("0002", "same@example.com");
    twin.name = "Twin".to_owned();
    assert_store_err!(store.insert_user(&twin).await, StoreError::Conflict(_));
    assert!(store.user("auth0|0002").await.unwrap().is_none());

    // Same user_id, other e-mail: also a conflict.
    assert_store_err!(
        store.insert_user(&user("0001", "other@example.com")).await,
        StoreError::Conflict(_)
    );
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "same@example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );

    // The same e-mail in another connection is another user.
    let mut elsewhere = user("0003", "same@example.com");
    elsewhere.connection = "other-connection".to_owned();
    store.insert_user(&elsewhere).await.unwrap();
    assert_user_eq(
        &store
            .user_by_email("other-connection", "same@example.com")
            .await
            .unwrap()
            .unwrap(),
        &elsewhere,
    );
    assert_eq!(
        user_ids(store, &UserFilter::default(), all()).await.1,
        2,
        "two users in all"
    );
}

async fn list_users_filters(store: &Store) {
    // Emails chosen so that `%`, `_` and `\` would match more as LIKE wildcards.
    let emails = [
        ("u1", "a_b@example.com"),
        ("u2", "axb@example.com"),
        ("u3", "a%b@example.com"),
        ("u4", "aqqb@example.com"),
        ("u5", "back\\slash@example.com"),
        ("u6", "backxslash@example.com"),
        ("u7", "carol@test.org"),
    ];
    for (i, (id, email)) in emails.iter().enumerate() {
        let mut u = user(id, email);
        u.created_at = ts(i as i64 * 10);
        store.insert_user(&u).await.unwrap();
    }
    let by = |email: Option<&str>, contains: Option<&str>| UserFilter {
        email: email.map(str::to_owned),
        email_contains: contains.map(str::to_owned),
    };
    let ids =
        |list: &[&str]| -> Vec<String> { list.iter().map(|i| format!("auth0|{i}")).collect() };

    // No filter: everyone, oldest first, with offset paging.
    assert_eq!(
        user_ids(store, &by(None, None), all()).await,
        (ids(&["u1", "u2", "u3", "u4", "u5", "u6", "u7"]), 7)
    );
    assert_eq!(
        user_ids(store, &by(None, None), page(2, 3)).await,
        (ids(&["u3", "u4", "u5"]), 7)
    );
    assert_eq!(
        user_ids(store, &by(None, None), page(7, 3)).await,
        (ids(&[]), 7)
    );

    // Exact e-mail.
    assert_eq!(
        user_ids(store, &by(Some("a_b@example.com"), None), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("a%b@example.com"), None), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("example.com"), None), all()).await,
        (ids(&[]), 0)
    );

    // Substring.
    assert_eq!(
        user_ids(store, &by(None, Some("@test.")), all()).await,
        (ids(&["u7"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("example.com")), page(0, 2)).await,
        (ids(&["u1", "u2"]), 6)
    );
    // Wildcard characters in the needle are literal.
    assert_eq!(
        user_ids(store, &by(None, Some("_")), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("a_b")), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("%")), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("a%b")), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("\\")), all()).await,
        (ids(&["u5"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("k\\s")), all()).await,
        (ids(&["u5"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("nobody")), all()).await,
        (ids(&[]), 0)
    );
    // Case: e-mails are stored lower-cased; the search ignores the needle's
    // case, the same way on both engines.
    assert_eq!(
        user_ids(store, &by(None, Some("CAROL@")), all()).await,
        (ids(&["u7"]), 1)
    );

    // Both filters together must both hold.
    assert_eq!(
        user_ids(store, &by(Some("axb@example.com"), Some("x")), all()).await,
        (ids(&["u2"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("axb@example.com"), Some("_")), all()).await,
        (ids(&[]), 0)
    );

    // Whole users come back.
    let page = store
        .list_users(&by(Some("carol@test.org"), None), all())
        .await
        .unwrap();
    let mut expected = user("u7", "carol@test.org");
    expected.created_at = ts(60);
    assert_eq!(page.items.len(), 1);
    assert_user_eq(&page.items[0], &expected);
}

async fn system_rows_are_never_deleted(store: &Store) {
    let p = plan("sys");
    assert!(store.bootstrap(&p).await.unwrap());

    assert!(!store.delete_client(MGMT_CLIENT).await.unwrap());
    assert!(!store.delete_resource_server(MGMT_API).await.unwrap());

    assert_client_eq(
        &store.client(MGMT_CLIENT).await.unwrap().unwrap(),
        &p.management_client,
    );
    assert_api_eq(
        &store.resource_server(MGMT_API).await.unwrap().unwrap(),
        &p.management_api,
    );
    // Nothing cascaded either.
    assert_grant_eq(
        &store.client_grant(MGMT_GRANT).await.unwrap().unwrap(),
        &p.management_grant,
    );

    // Ordinary rows next to them are deletable.
    store.insert_client(&client("plain")).await.unwrap();
    store
        .insert_resource_server(&api("plain-api", "urn:plain"))
        .await
        .unwrap();
    assert!(store.delete_client("plain").await.unwrap());
    assert!(store.delete_resource_server("plain-api").await.unwrap());
    assert_eq!(client_ids(store, all()).await, (owned(&[MGMT_CLIENT]), 1));
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
}

// ---------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------

fn migration_files(engine: &str) -> Vec<String> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(engine);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn migration_files_match() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
}

fn new_family(
    id: &str,
    user_id: &str,
    client_id: &str,
    grant_id: &str,
    created_ms: i64,
) -> grantor_store::NewFamily {
    grantor_store::NewFamily {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        grant_id: grant_id.to_owned(),
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
        secret_hash: format!("hash-{id}"),
    }
}

fn access_record(
    jti: &str,
    user_id: &str,
    client_id: &str,
    grant_id: &str,
    family: Option<&str>,
) -> grantor_store::AccessTokenRecord {
    grantor_store::AccessTokenRecord {
        jti: jti.to_owned(),
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        grant_id: grant_id.to_owned(),
        grant_epoch: 0,
        user_epoch: None,
        family_id: family.map(str::to_owned),
        session_id: None,
        expires_at: ts(10_000_000),
    }
}

/// A user `auth0|<name>` and their `offline_access` grant for client-a on
/// `https://api.example.com/` (grant id `g-<name>`).
async fn user_with_grant(store: &Store, name: &str) -> grantor_store::UserGrant {
    store
        .insert_user(&user(name, &format!("{name}@example.com")))
        .await
        .unwrap();
    store
        .upsert_grant(
            &format!("g-{name}"),
            &format!("auth0|{name}"),
            "client-a",
            "https://api.example.com/",
            &ScopeSet::parse("offline_access"),
            ts(0),
        )
        .await
        .unwrap()
}

/// Auth0 keeps at most 200 active refresh tokens per user and client; the
/// 201st revokes the oldest, and other clients are not affected.
async fn refresh_token_families_are_capped_per_user_and_client(store: &Store) {
    let g = user_with_grant(store, "cap").await;
    for i in 0..201 {
        let family = new_family(&format!("f{i:03}"), "auth0|cap", "client-a", &g.id, i);
        let batch = grantor_store::IssueBatch {
            family: Some(family),
            access_token: access_record(&format!("j{i:03}"), "auth0|cap", "client-a", &g.id, None),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(i)).await.unwrap();
    }
    let other = new_family("other-client", "auth0|cap", "client-b", &g.id, 500);
    let batch = grantor_store::IssueBatch {
        family: Some(other),
        access_token: access_record("j-other", "auth0|cap", "client-b", &g.id, None),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(500)).await.unwrap();
    let oldest = store
        .load_refresh_token("hash-f000")
        .await
        .unwrap()
        .unwrap();
    assert!(oldest.snapshot.revoked, "the oldest of 201 is revoked");
    let second = store
        .load_refresh_token("hash-f001")
        .await
        .unwrap()
        .unwrap();
    assert!(!second.snapshot.revoked, "200 stay active");
    let newest = store
        .load_refresh_token("hash-f200")
        .await
        .unwrap()
        .unwrap();
    assert!(!newest.snapshot.revoked);
    assert!(
        newest.snapshot.grant_current
            && newest.snapshot.user_current
            && newest.snapshot.session_current
    );
    let other = store
        .load_refresh_token("hash-other-client")
        .await
        .unwrap()
        .unwrap();
    assert!(!other.snapshot.revoked, "the cap is per client");
}

/// A refresh exchange of client-a's family `family_id` from generation
/// `expected`: a rotation (`expected + 1`) or, not `rotated`, a sibling of
/// `expected` (the leeway), with its secret, access-token record and event.
#[allow(clippy::too_many_arguments)]
fn exchange_write(
    family_id: &str,
    user_id: &str,
    grant_id: &str,
    expected: i64,
    rotated: bool,
    hash: &str,
    jti: &str,
    at: i64,
) -> grantor_store::ExchangeWrite {
    let generation = if rotated { expected + 1 } else { expected };
    grantor_store::ExchangeWrite {
        family_id: family_id.to_owned(),
        expected_generation: expected,
        new_generation: generation,
        rotated,
        rotating: true,
        new_secret_hash: Some(hash.to_owned()),
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

/// An exchange's statements go to SQLite in one call (`ops/batch.rs`): a
/// statement that fails after the compare-and-set succeeded, a missed
/// compare-and-set, and racing exchanges of one family each leave either the
/// whole exchange or nothing, also when they share a group commit.
async fn an_exchange_is_written_whole_or_not_at_all(store: &Store) {
    let g = user_with_grant(store, "whole").await;
    let mut family = new_family("fam-whole", "auth0|whole", "client-a", &g.id, 0);
    family.secret_hash = "w0".to_owned();
    issue_family(store, family).await;
    let write = |expected: i64, hash: &str, jti: &str| {
        exchange_write(
            "fam-whole",
            "auth0|whole",
            &g.id,
            expected,
            true,
            hash,
            jti,
            20,
        )
    };
    let generation = || async {
        store
            .refresh_token_family("fam-whole")
            .await
            .unwrap()
            .unwrap()
            .current_generation
    };
    let before = store.table_sizes().await.unwrap();

    // The compare-and-set applies, then the new secret collides with the
    // stored one: the move of the family is rolled back with it.
    assert!(store
        .apply_exchange(&write(0, "w0", "w-dup"))
        .await
        .is_err());
    assert_eq!(generation().await, 0, "the family did not move");
    assert_eq!(
        store
            .access_token_state("w-dup", ts(20))
            .await
            .unwrap()
            .map(|s| s.active),
        None
    );
    // A stale generation: nothing of the exchange is written.
    assert!(!store
        .apply_exchange(&write(7, "w-stale", "w-stale"))
        .await
        .unwrap());
    assert_eq!(
        store
            .load_refresh_token("w-stale")
            .await
            .unwrap()
            .map(|t| t.generation),
        None
    );
    assert_eq!(
        store.table_sizes().await.unwrap(),
        before,
        "no row from either failed exchange"
    );

    // Eight exchanges race from generation 0: one wins, and only its rows exist.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let w = write(0, &format!("w-race{i}"), &format!("w-race{i}"));
        racers.spawn(async move { (i, store.apply_exchange(&w).await.unwrap()) });
    }
    let winners: Vec<i32> = racers
        .join_all()
        .await
        .into_iter()
        .filter_map(|(i, won)| won.then_some(i))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one exchange applies: {winners:?}"
    );
    let winner = format!("w-race{}", winners[0]);
    assert_eq!(generation().await, 1);
    for i in 0..8 {
        let hash = format!("w-race{i}");
        let stored = store.load_refresh_token(&hash).await.unwrap().is_some();
        let recorded = store
            .access_token_state(&hash, ts(20))
            .await
            .unwrap()
            .is_some();
        assert_eq!(stored, hash == winner, "secret of {hash}");
        assert_eq!(recorded, hash == winner, "access-token record of {hash}");
    }
    let after = store.table_sizes().await.unwrap();
    assert_eq!(
        after.refresh_token_secrets,
        before.refresh_token_secrets + 1
    );
    assert_eq!(after.access_tokens, before.access_tokens + 1);
    assert_eq!(after.logs, before.logs + 1);
}

async fn rotation_keeps_only_the_secrets_that_can_be_honoured(store: &Store) {
    let g = user_with_grant(store, "rot").await;
    let mut family = new_family("fam-rot", "auth0|rot", "client-a", &g.id, 0);
    family.secret_hash = "h0".to_owned();
    issue_family(store, family).await;
    // `rotated`: generation `expected + 1`; otherwise a sibling of `expected`
    // (the leeway).
    let write = |expected: i64, rotated: bool, hash: &str| {
        exchange_write(
            "fam-rot",
            "auth0|rot",
            &g.id,
            expected,
            rotated,
            hash,
            &format!("r-{hash}"),
            10,
        )
    };
    let found = |hash: &'static str| async move {
        store
            .load_refresh_token(hash)
            .await
            .unwrap()
            .map(|t| t.generation)
    };
    for generation in 1..=10i64 {
        let hash = format!("h{generation}");
        assert!(store
            .apply_exchange(&write(generation - 1, true, &hash))
            .await
            .unwrap());
        assert_eq!(
            store.table_sizes().await.unwrap().refresh_token_secrets,
            2,
            "after rotation {generation}: the newest secret and the previous one"
        );
    }
    assert_eq!(found("h10").await, Some(10));
    assert_eq!(found("h9").await, Some(9));
    assert_eq!(found("h8").await, None, "rotated out two generations ago");
    assert_eq!(found("h0").await, None);
    // A sibling inside the leeway adds a secret of the current generation;
    // the next rotation keeps both as the previous generation.
    assert!(store
        .apply_exchange(&write(10, false, "h10b"))
        .await
        .unwrap());
    assert!(store.apply_exchange(&write(10, true, "h11")).await.unwrap());
    assert_eq!(found("h10b").await, Some(10));
    assert_eq!(found("h9").await, None);
    assert_eq!(store.table_sizes().await.unwrap().refresh_token_secrets, 3);
    // A pruned generation is read by family id, with the state reuse
    // detection decides on.
    let pruned = store
        .load_pruned_refresh_token("fam-rot", 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned.generation, 3);
    assert_eq!(pruned.family.id, "fam-rot");
    assert_eq!(pruned.snapshot.current_generation, 11);
    assert!(
        !pruned.snapshot.revoked && pruned.snapshot.grant_current && pruned.snapshot.user_current
    );
    assert!(store
        .load_pruned_refresh_token("fam-none", 3)
        .await
        .unwrap()
        .is_none());

    // An imported secret carries no MAC: rotation keeps it, so its reuse is
    // still found by hash until the family is purged.
    let mut legacy = new_family("fam-legacy", "auth0|rot", "client-a", &g.id, 0);
    legacy.secret_hash = "legacy0".to_owned();
    store.import_refresh_tokens(&[legacy]).await.unwrap();
    for (expected, hash) in [(0, "legacy1"), (1, "legacy2"), (2, "legacy3")] {
        let mut w = write(expected, true, hash);
        w.family_id = "fam-legacy".to_owned();
        assert!(store.apply_exchange(&w).await.unwrap());
    }
    assert_eq!(found("legacy0").await, Some(0), "kept: it carries no MAC");
    assert_eq!(found("legacy1").await, None, "issued by rotation: deleted");
    assert_eq!(found("legacy3").await, Some(3));
}

async fn refresh_token_mac_key_is_stored_once(store: &Store) {
    let first = store
        .refresh_token_mac_key(&[1u8; 32], ts(0))
        .await
        .unwrap();
    assert_eq!(first, vec![1u8; 32]);
    let second = store
        .refresh_token_mac_key(&[2u8; 32], ts(1))
        .await
        .unwrap();
    assert_eq!(
        second, first,
        "a second process gets the key the first stored"
    );
}

async fn exchange_is_a_compare_and_set_and_revocations_are_seen_on_load(store: &Store) {
    let g = user_with_grant(store, "cas").await;
    issue_family(store, new_family("fam", "auth0|cas", "client-a", &g.id, 0)).await;
    let write = |expected: i64, jti: &str, hash: &str| {
        exchange_write("fam", "auth0|cas", &g.id, expected, true, hash, jti, 10)
    };
    assert!(store
        .apply_exchange(&write(0, "j1", "hash-gen1"))
        .await
        .unwrap());
    assert!(
        !store
            .apply_exchange(&write(0, "j2", "hash-gen1b"))
            .await
            .unwrap(),
        "a stale generation loses"
    );
    assert!(
        store
            .load_refresh_token("hash-gen1b")
            .await
            .unwrap()
            .is_none(),
        "the loser wrote nothing"
    );
    let current = store
        .load_refresh_token("hash-gen1")
        .await
        .unwrap()
        .unwrap();
    // The exchange's one read sees the same token, with its user and API.
    assert!(store
        .load_exchange("hash-gen1")
        .await
        .unwrap()
        .unwrap()
        .api
        .is_none());
    store
        .insert_resource_server(&api("api-cas", "https://api.example.com/"))
        .await
        .unwrap();
    let loaded = store.load_exchange("hash-gen1").await.unwrap().unwrap();
    assert_eq!(loaded.token.generation, current.generation);
    assert_eq!(
        format!("{:?}", loaded.token.snapshot),
        format!("{:?}", current.snapshot)
    );
    assert_eq!(loaded.token.family.id, current.family.id);
    assert_eq!(loaded.user.map(|u| u.user_id), Some("auth0|cas".to_owned()));
    assert_eq!(
        loaded.api.map(|a| a.id),
        Some("api-cas".to_owned()),
        "the API the family's audience names"
    );
    assert!(store.load_exchange("hash-none").await.unwrap().is_none());
    assert_eq!(
        (current.generation, current.snapshot.current_generation),
        (1, 1)
    );
    assert_eq!(current.family.last_ip, "127.0.0.2");
    assert!(
        store
            .access_token_state("j1", ts(20))
            .await
            .unwrap()
            .unwrap()
            .active
    );
    // One write revokes every token of the grant, and the access tokens with it.
    assert!(
        store
            .revoke(
                &grant_target(&g.id, false),
                "test",
                &log_event("r1", "srrt", 30),
                ts(30)
            )
            .await
            .unwrap()
            .found
    );
    let after = store
        .load_refresh_token("hash-gen1")
        .await
        .unwrap()
        .unwrap();
    assert!(!after.snapshot.grant_current);
    assert!(
        !store
            .access_token_state("j1", ts(40))
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        store.grant(&g.id).await.unwrap().is_some(),
        "the grant is kept"
    );
    assert!(
        store
            .revoke(
                &grant_target(&g.id, true),
                "test",
                &log_event("r2", "srrt", 50),
                ts(50)
            )
            .await
            .unwrap()
            .found
    );
    assert!(
        store.grant(&g.id).await.unwrap().is_none(),
        "and deleted when asked"
    );
}

/// An audit event with a fixed id, for operations that take one.
fn log_event(id: &str, type_code: &str, at: i64) -> grantor_store::LogEvent {
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

fn grant_target(grant_id: &str, delete_grant: bool) -> grantor_store::RevocationTarget {
    grantor_store::RevocationTarget::Grant {
        grant_id: grant_id.to_owned(),
        delete_grant,
    }
}

// ---------------------------------------------------------------------------
// Dashboard administrator sessions
// ---------------------------------------------------------------------------

fn admin_event(id: &str, type_code: &str, at: i64) -> grantor_store::LogEvent {
    grantor_store::LogEvent {
        log_id: format!("{at:020}{id}"),
        date: ts(at),
        type_code: type_code.to_owned(),
        description: "dashboard administrator".to_owned(),
        client_id: None,
        client_name: None,
        user_id: None,
        user_name: None,
        ip: Some("192.0.2.7".to_owned()),
        user_agent: None,
        details: serde_json::json!({"actor": {"type": "admin", "email": ADMIN_EMAIL}}),
    }
}

/// A session created at `at` (ms after `ts(0)`), idle for a minute, for an hour.
fn admin_session(hash: &str, at: i64) -> grantor_store::AdminSessionRecord {
    grantor_store::AdminSessionRecord {
        token_hash: TokenHash::of(hash).as_str().to_owned(),
        email: ADMIN_EMAIL.to_owned(),
        created_at: ts(at),
        last_seen_at: ts(at),
        idle_expires_at: ts(at + 60_000),
        expires_at: ts(at + 3_600_000),
        ip: "192.0.2.7".to_owned(),
        user_agent: "test agent".to_owned(),
    }
}

async fn admin_sessions_expire_by_idleness_and_age(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let s = admin_session("one", 1_000);
    let event = admin_event("signin", "s", 1_000);
    store.create_admin_session(&s, &event).await.unwrap();
    assert_eq!(
        store
            .log_event(&event.log_id)
            .await
            .unwrap()
            .map(|e| e.type_code),
        Some("s".to_owned()),
        "the sign-in event is written with the session"
    );
    assert_eq!(
        store.admin_session(&s.token_hash, ts(2_000)).await.unwrap(),
        Some(s.clone())
    );
    assert!(store
        .admin_session("unknown", ts(2_000))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .admin_session(&s.token_hash, ts(61_000))
            .await
            .unwrap()
            .is_none(),
        "idle for a minute: gone"
    );

    // Activity moves the idle expiry forward, never back.
    assert!(store
        .touch_admin_session(&s.token_hash, ts(90_000), ts(30_000))
        .await
        .unwrap());
    assert!(store
        .touch_admin_session(&s.token_hash, ts(40_000), ts(31_000))
        .await
        .unwrap());
    let live = store
        .admin_session(&s.token_hash, ts(61_000))
        .await
        .unwrap()
        .expect("touched");
    assert_eq!(live.idle_expires_at, ts(90_000));
    assert_eq!(live.last_seen_at, ts(31_000));
    assert!(store
        .admin_session(&s.token_hash, ts(90_000))
        .await
        .unwrap()
        .is_none());

    // The idle expiry never passes the absolute one.
    assert!(store
        .touch_admin_session(&s.token_hash, ts(99_000_000), ts(80_000))
        .await
        .unwrap());
    let live = store
        .admin_session(&s.token_hash, ts(80_001))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(live.idle_expires_at, s.expires_at);
    assert!(store
        .admin_session(&s.token_hash, s.expires_at)
        .await
        .unwrap()
        .is_none());
    assert!(
        !store
            .touch_admin_session(&s.token_hash, ts(99_000_000), s.expires_at)
            .await
            .unwrap(),
        "a dead session is not revived"
    );
}

async fn admin_sign_out_and_sign_in_housekeeping(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let first = admin_session("first", 0);
    let second = admin_session("second", 10);
    store
        .create_admin_session(&first, &admin_event("a", "s", 0))
        .await
        .unwrap();
    store
        .create_admin_session(&second, &admin_event("b", "s", 10))
        .await
        .unwrap();

    let signed_out = admin_event("c", "slo", 20);
    assert!(store
        .delete_admin_session(&first.token_hash, Some(&signed_out))
        .await
        .unwrap());
    assert!(store.log_event(&signed_out.log_id).await.unwrap().is_some());
    assert!(store
        .admin_session(&first.token_hash, ts(30))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .admin_session(&second.token_hash, ts(30))
            .await
            .unwrap()
            .is_some(),
        "the other session lives"
    );
    let again = admin_event("d", "slo", 40);
    assert!(!store
        .delete_admin_session(&first.token_hash, Some(&again))
        .await
        .unwrap());
    assert!(
        store.log_event(&again.log_id).await.unwrap().is_none(),
        "no event for a session that was not there"
    );

    // Signing in after `second` idled out deletes its row.
    let third = admin_session("third", 100_000);
    store
        .create_admin_session(&third, &admin_event("e", "s", 100_000))
        .await
        .unwrap();
    assert!(
        store
            .admin_session(&second.token_hash, ts(30))
            .await
            .unwrap()
            .is_none(),
        "the expired row is gone, not only expired"
    );
    assert!(store
        .admin_session(&third.token_hash, ts(100_001))
        .await
        .unwrap()
        .is_some());
}

async fn admin_sessions_belong_to_known_administrators(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let mut s = admin_session("stranger", 0);
    s.email = "nobody@example.com".to_owned();
    assert_store_err!(
        store
            .create_admin_session(&s, &admin_event("x", "s", 0))
            .await,
        StoreError::MissingReference(_)
    );
    assert!(store
        .admin_session(&s.token_hash, ts(1))
        .await
        .unwrap()
        .is_none());
    let dup = admin_session("dup", 0);
    store
        .create_admin_session(&dup, &admin_event("y", "s", 0))
        .await
        .unwrap();
    assert_store_err!(
        store
            .create_admin_session(&dup, &admin_event("z", "s", 1))
            .await,
        StoreError::Conflict(_)
    );
}

// ---------------------------------------------------------------------------
// Management API and dashboard reads
// ---------------------------------------------------------------------------

fn session_record(id: &str, user_id: &str, created_ms: i64) -> grantor_store::SessionRecord {
    grantor_store::SessionRecord {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        cookie_hash: format!("cookie-{id}"),
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

async fn issue_family(store: &Store, family: grantor_store::NewFamily) {
    let jti = format!("j-{}", family.id);
    let batch = grantor_store::IssueBatch {
        access_token: access_record(
            &jti,
            &family.user_id,
            &family.client_id,
            &family.grant_id,
            Some(&family.id),
        ),
        family: Some(family),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(0)).await.unwrap();
}

async fn live_token_ids(
    store: &Store,
    filter: &grantor_store::RefreshTokenFilter,
    request: PageRequest,
    now: i64,
) -> (Vec<String>, i64) {
    let page = store
        .list_live_refresh_tokens(filter, request, ts(now))
        .await
        .unwrap();
    (page.items.into_iter().map(|f| f.id).collect(), page.total)
}

/// Revoked, expired (absolute or idle) tokens, and tokens whose grant, user
/// or session went, are not live: `live_refresh_token` does not find them and
/// the list leaves them out; filters and checkpoints narrow the rest.
async fn live_refresh_tokens_leave_out_dead_ones(store: &Store) {
    use grantor_store::{RefreshTokenFilter, RevocationTarget};
    store
        .insert_user(&user("rt", "rt@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("rt2", "rt2@example.com"))
        .await
        .unwrap();
    let audience = "https://api.example.com/";
    let scope = ScopeSet::parse("offline_access");
    let ga = store
        .upsert_grant("g-a", "auth0|rt", "client-a", audience, &scope, ts(0))
        .await
        .unwrap();
    let gb = store
        .upsert_grant("g-b", "auth0|rt", "client-b", audience, &scope, ts(0))
        .await
        .unwrap();
    let g2 = store
        .upsert_grant("g-2", "auth0|rt2", "client-a", audience, &scope, ts(0))
        .await
        .unwrap();
    store
        .create_session(&session_record("s-live", "auth0|rt", 0))
        .await
        .unwrap();
    store
        .create_session(&session_record("s-dead", "auth0|rt", 0))
        .await
        .unwrap();

    issue_family(store, new_family("a1", "auth0|rt", "client-a", &ga.id, 1)).await;
    issue_family(store, new_family("a2", "auth0|rt", "client-a", &ga.id, 2)).await;
    let mut a3 = new_family("a3", "auth0|rt", "client-a", &ga.id, 3);
    a3.session_id = Some("s-live".to_owned());
    a3.device_name = Some("Pixel".to_owned());
    issue_family(store, a3).await;
    issue_family(store, new_family("b1", "auth0|rt", "client-b", &gb.id, 4)).await;
    issue_family(store, new_family("u2", "auth0|rt2", "client-a", &g2.id, 5)).await;
    // Dead ones: revoked, expired, idle-expired, session revoked.
    issue_family(
        store,
        new_family("x-revoked", "auth0|rt", "client-a", &ga.id, 6),
    )
    .await;
    let mut expired = new_family("x-expired", "auth0|rt", "client-a", &ga.id, 7);
    expired.expires_at = Some(ts(100));
    issue_family(store, expired).await;
    let mut idle = new_family("x-idle", "auth0|rt", "client-a", &ga.id, 8);
    idle.idle_expires_at = Some(ts(100));
    issue_family(store, idle).await;
    let mut in_dead_session = new_family("x-session", "auth0|rt", "client-a", &ga.id, 9);
    in_dead_session.session_id = Some("s-dead".to_owned());
    issue_family(store, in_dead_session).await;
    let revoke = |target: RevocationTarget, id: &str| {
        let event = log_event(id, "srrt", 50);
        async move { store.revoke(&target, "test", &event, ts(50)).await.unwrap() }
    };
    revoke(
        RevocationTarget::Family {
            family_id: "x-revoked".to_owned(),
        },
        "r1",
    )
    .await;
    revoke(
        RevocationTarget::Session {
            session_id: "s-dead".to_owned(),
            tokens: true,
        },
        "r2",
    )
    .await;

    let now = 200;
    let one = store
        .live_refresh_token("a3", ts(now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.user_id, "auth0|rt");
    assert_eq!(one.client_id, "client-a");
    assert_eq!(one.session_id.as_deref(), Some("s-live"));
    assert_eq!(one.device_name.as_deref(), Some("Pixel"));
    assert_eq!(one.audience, audience);
    assert_eq!(one.scope, "offline_access");
    for dead in ["x-revoked", "x-expired", "x-idle", "x-session", "unknown"] {
        assert!(
            store
                .live_refresh_token(dead, ts(now))
                .await
                .unwrap()
                .is_none(),
            "{dead} is not live"
        );
    }
    assert!(
        store
            .live_refresh_token("x-expired", ts(50))
            .await
            .unwrap()
            .is_some(),
        "live before it expires"
    );

    let by_user = RefreshTokenFilter {
        user_id: Some("auth0|rt".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (owned(&["a1", "a2", "a3", "b1"]), 4)
    );
    let by_client = RefreshTokenFilter {
        user_id: Some("auth0|rt".to_owned()),
        client_id: Some("client-a".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &by_client, all(), now).await,
        (owned(&["a1", "a2", "a3"]), 3)
    );
    let everyone = RefreshTokenFilter::default();
    assert_eq!(
        live_token_ids(store, &everyone, page(1, 2), now).await,
        (owned(&["a2", "a3"]), 5)
    );
    let only_client_a = RefreshTokenFilter {
        client_id: Some("client-a".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &only_client_a, all(), now).await,
        (owned(&["a1", "a2", "a3", "u2"]), 4)
    );
    // Checkpoint: ids after the cursor; the total ignores it.
    let after = RefreshTokenFilter {
        after_id: Some("a2".to_owned()),
        ..by_user.clone()
    };
    assert_eq!(
        live_token_ids(store, &after, page(0, 1), now).await,
        (owned(&["a3"]), 4)
    );

    // A grant epoch bump, and a user epoch bump, take their tokens out.
    revoke(
        RevocationTarget::Grant {
            grant_id: gb.id.clone(),
            delete_grant: false,
        },
        "r3",
    )
    .await;
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (owned(&["a1", "a2", "a3"]), 3)
    );
    revoke(
        RevocationTarget::User {
            user_id: "auth0|rt".to_owned(),
            client_id: None,
            audience: None,
        },
        "r4",
    )
    .await;
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (vec![], 0)
    );
    assert!(store
        .live_refresh_token("a1", ts(now))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        live_token_ids(store, &everyone, all(), now).await,
        (owned(&["u2"]), 1)
    );
}

async fn list_grants_filters_and_pages(store: &Store) {
    use grantor_store::GrantFilter;
    let read = ScopeSet::parse("openid read");
    let cases = [
        ("g1", "auth0|u1", "client-a", "https://a/", 3),
        ("g2", "auth0|u1", "client-b", "https://a/", 1),
        ("g3", "auth0|u1", "client-a", "https://b/", 2),
        ("g4", "auth0|u2", "client-a", "https://a/", 4),
    ];
    for (id, user_id, client_id, audience, at) in cases {
        store
            .upsert_grant(id, user_id, client_id, audience, &read, ts(at))
            .await
            .unwrap();
    }
    let ids = |filter: GrantFilter, request: PageRequest| async move {
        let page = store.list_grants(&filter, request).await.unwrap();
        (
            page.items.into_iter().map(|g| g.id).collect::<Vec<_>>(),
            page.total,
        )
    };
    assert_eq!(
        ids(GrantFilter::default(), all()).await,
        (owned(&["g2", "g3", "g1", "g4"]), 4),
        "oldest first"
    );
    assert_eq!(
        ids(GrantFilter::default(), page(1, 2)).await,
        (owned(&["g3", "g1"]), 4)
    );
    let by_user = GrantFilter {
        user_id: Some("auth0|u1".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        ids(by_user.clone(), all()).await,
        (owned(&["g2", "g3", "g1"]), 3)
    );
    assert_eq!(
        ids(
            GrantFilter {
                client_id: Some("client-a".to_owned()),
                ..by_user.clone()
            },
            all()
        )
        .await,
        (owned(&["g3", "g1"]), 2)
    );
    assert_eq!(
        ids(
            GrantFilter {
                audience: Some("https://a/".to_owned()),
                ..Default::default()
            },
            all()
        )
        .await,
        (owned(&["g2", "g1", "g4"]), 3)
    );
    assert_eq!(ids(by_user, page(3, 10)).await, (vec![], 3), "past the end");
    let page = store
        .list_grants(
            &GrantFilter {
                user_id: Some("auth0|u2".to_owned()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    let g4 = &page.items[0];
    assert_eq!(
        (
            g4.client_id.as_str(),
            g4.audience.as_str(),
            g4.scope.to_wire()
        ),
        ("client-a", "https://a/", read.to_wire())
    );
}

/// Ended (logout), revoked and expired sessions are not live; live ones come
/// with the clients they were used for, ordered by id, with checkpoints.
async fn live_sessions_leave_out_ended_revoked_and_expired(store: &Store) {
    use grantor_store::{RevocationTarget, SessionFilter};
    store
        .insert_user(&user("se", "se@example.com"))
        .await
        .unwrap();
    for id in ["s1", "s2", "s3", "x-ended", "x-revoked"] {
        store
            .create_session(&session_record(id, "auth0|se", 0))
            .await
            .unwrap();
    }
    let mut expired = session_record("x-expired", "auth0|se", 0);
    expired.expires_at = ts(100);
    store.create_session(&expired).await.unwrap();
    let mut idle = session_record("x-idle", "auth0|se", 0);
    idle.idle_expires_at = ts(100);
    store.create_session(&idle).await.unwrap();
    store
        .create_session(&session_record("other", "auth0|other", 0))
        .await
        .unwrap();
    for client in ["client-b", "client-a"] {
        store
            .touch_session(
                "s2",
                Some(client),
                "192.0.2.9",
                "agent/9",
                ts(500_000),
                ts(10),
            )
            .await
            .unwrap();
    }
    store.end_session("x-ended", ts(20)).await.unwrap();
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: "x-revoked".to_owned(),
                tokens: true,
            },
            "test",
            &log_event("rs", "srrt", 30),
            ts(30),
        )
        .await
        .unwrap();

    let now = ts(200);
    let s2 = store.live_session("s2", now).await.unwrap().unwrap();
    assert_eq!(s2.client_ids, owned(&["client-a", "client-b"]));
    assert_eq!(s2.session.user_id, "auth0|se");
    assert_eq!(s2.session.last_ip, "192.0.2.9");
    assert_eq!(s2.session.initial_ip, "192.0.2.1");
    assert!(store
        .live_session("s1", now)
        .await
        .unwrap()
        .unwrap()
        .client_ids
        .is_empty());
    for dead in ["x-ended", "x-revoked", "x-expired", "x-idle", "unknown"] {
        assert!(
            store.live_session(dead, now).await.unwrap().is_none(),
            "{dead} is not live"
        );
    }

    let ids = |filter: SessionFilter, request: PageRequest| async move {
        let page = store
            .list_live_sessions(&filter, request, now)
            .await
            .unwrap();
        (
            page.items
                .into_iter()
                .map(|d| d.session.id)
                .collect::<Vec<_>>(),
            page.total,
        )
    };
    let by_user = SessionFilter {
        user_id: Some("auth0|se".to_owned()),
        after_id: None,
    };
    assert_eq!(
        ids(by_user.clone(), all()).await,
        (owned(&["s1", "s2", "s3"]), 3)
    );
    assert_eq!(
        ids(
            SessionFilter {
                after_id: Some("s1".to_owned()),
                ..by_user.clone()
            },
            page(0, 1)
        )
        .await,
        (owned(&["s2"]), 3)
    );
    assert_eq!(
        ids(SessionFilter::default(), all()).await,
        (owned(&["other", "s1", "s2", "s3"]), 4)
    );
    let page_with_clients = store
        .list_live_sessions(&by_user, all(), now)
        .await
        .unwrap();
    assert_eq!(
        page_with_clients.items[1].client_ids,
        owned(&["client-a", "client-b"])
    );
}

// ---------------------------------------------------------------------------
// Revocation, audit log and purge
// ---------------------------------------------------------------------------

fn family_target(id: &str) -> grantor_store::RevocationTarget {
    grantor_store::RevocationTarget::Family {
        family_id: id.to_owned(),
    }
}

/// A receipt counts to RECEIPT_COUNT_LIMIT live tokens and examines at most
/// RECEIPT_SCAN_LIMIT unrevoked ones: revoking a user again, while the
/// tokens the first revocation killed (by epoch) are not purged yet, does not
/// walk all of them, and says its count is a lower bound.
async fn a_receipt_examines_a_bounded_number_of_tokens(store: &Store) {
    use grantor_store::{RECEIPT_COUNT_LIMIT, RECEIPT_SCAN_LIMIT};
    let g = user_with_grant(store, "many").await;
    let families: Vec<_> = (0..RECEIPT_SCAN_LIMIT + 5)
        .map(|i| {
            let mut f = new_family(&format!("many-{i:06}"), "auth0|many", "client-a", &g.id, i);
            f.device_name = Some(format!("device {}", i % 7));
            f
        })
        .collect();
    store.import_refresh_tokens(&families).await.unwrap();
    let everything = grantor_store::RevocationTarget::User {
        user_id: "auth0|many".into(),
        client_id: None,
        audience: None,
    };
    let first = store
        .revoke(&everything, "test", &log_event("many1", "srrt", 10), ts(10))
        .await
        .unwrap();
    assert_eq!(
        (
            first.refresh_tokens,
            first.refresh_tokens_at_least,
            first.devices
        ),
        (RECEIPT_COUNT_LIMIT, true, 7)
    );
    assert_eq!(
        first.refresh_token_ids.len() as i64,
        grantor_store::RECEIPT_ID_LIMIT
    );
    assert_eq!(
        first.refresh_token_ids[0], "many-000000",
        "the listed ids are the smallest, in order"
    );
    assert!(first.refresh_token_ids.windows(2).all(|w| w[0] < w[1]));
    // Every family is now dead by the user's epoch, none revoked by row.
    let again = store
        .revoke(&everything, "test", &log_event("many2", "srrt", 11), ts(11))
        .await
        .unwrap();
    assert!(again.found);
    assert_eq!(
        (
            again.refresh_tokens,
            again.refresh_tokens_at_least,
            again.devices
        ),
        (0, true, 0),
        "nothing live among the examined tokens, and the walk stopped at its bound"
    );
    assert!(again.refresh_token_ids.is_empty());
    // Below the bound the count is exact.
    let one_client = grantor_store::RevocationTarget::Family {
        family_id: "many-000003".into(),
    };
    let exact = store
        .revoke(&one_client, "test", &log_event("many3", "srrt", 12), ts(12))
        .await
        .unwrap();
    assert_eq!(
        (exact.refresh_tokens, exact.refresh_tokens_at_least),
        (0, false)
    );
}

/// One user with three refresh tokens: `fa1` (client-a, bound to session
/// `sa`), `fa2` (client-a) and `fb1` (client-b).
async fn revocation_fixture(store: &Store) -> (String, String) {
    store
        .insert_user(&user("rev", "rev@example.com"))
        .await
        .unwrap();
    let scope = ScopeSet::parse("offline_access");
    let ga = store
        .upsert_grant(
            "g-a",
            "auth0|rev",
            "client-a",
            "https://api.example.com/",
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    let gb = store
        .upsert_grant(
            "g-b",
            "auth0|rev",
            "client-b",
            "https://api.example.com/",
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    store
        .create_session(&session_record("sa", "auth0|rev", 0))
        .await
        .unwrap();
    let mut bound = new_family("fa1", "auth0|rev", "client-a", &ga.id, 1);
    bound.session_id = Some("sa".to_owned());
    bound.device_name = Some("phone".to_owned());
    for family in [
        bound,
        new_family("fa2", "auth0|rev", "client-a", &ga.id, 2),
        new_family("fb1", "auth0|rev", "client-b", &gb.id, 3),
    ] {
        let batch = grantor_store::IssueBatch {
            access_token: access_record(
                &format!("j-{}", family.id),
                "auth0|rev",
                &family.client_id,
                &family.grant_id,
                Some(&family.id),
            ),
            family: Some(family),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(3)).await.unwrap();
    }
    (ga.id, gb.id)
}

async fn live(store: &Store, family: &str) -> bool {
    let t = store
        .load_refresh_token(&format!("hash-{family}"))
        .await
        .unwrap()
        .expect("the secret is still stored");
    let s = t.snapshot;
    !s.revoked && s.grant_current && s.user_current && s.session_current
}

/// Every target revokes exactly what it names, reports it in the receipt,
/// and writes its audit event in the same transaction.
async fn revocations_cover_exactly_their_target_with_a_receipt(store: &Store) {
    use grantor_store::RevocationTarget as T;
    revocation_fixture(store).await;

    let user_wide = T::User {
        user_id: "auth0|rev".into(),
        client_id: None,
        audience: None,
    };
    let preview = store.revocation_preview(&user_wide, ts(10)).await.unwrap();
    assert!(preview.found);
    assert_eq!(
        (preview.refresh_tokens, preview.devices),
        (3, 2),
        "phone + test agent"
    );

    // One family.
    let receipt = store
        .revoke(
            &family_target("fa2"),
            "test",
            &log_event("ev1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!((receipt.found, receipt.refresh_tokens), (true, 1));
    assert_eq!(receipt.refresh_token_ids, vec!["fa2".to_owned()]);
    assert!(!live(store, "fa2").await);
    assert!(live(store, "fa1").await && live(store, "fb1").await);
    let event = store
        .log_event(&format!("{:020}ev1", 10))
        .await
        .unwrap()
        .expect("the event is written with the revocation");
    assert_eq!(
        event.user_id.as_deref(),
        Some("auth0|rev"),
        "filled from the family"
    );
    assert_eq!(event.client_id.as_deref(), Some("client-a"));
    assert_eq!(event.user_name.as_deref(), Some("rev@example.com"));
    assert_eq!(event.details["receipt"]["refresh_tokens"], 1);

    // Revoking it again covers nothing.
    let again = store
        .revoke(
            &family_target("fa2"),
            "test",
            &log_event("ev2", "srrt", 11),
            ts(11),
        )
        .await
        .unwrap();
    assert_eq!((again.found, again.refresh_tokens), (true, 0));

    // One client's tokens of the user: the other client's stay.
    let receipt = store
        .revoke(
            &T::User {
                user_id: "auth0|rev".into(),
                client_id: Some("client-b".into()),
                audience: None,
            },
            "test",
            &log_event("ev3", "srrt", 12),
            ts(12),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 1);
    assert_eq!(receipt.grant_ids, vec!["g-b".to_owned()]);
    assert!(!live(store, "fb1").await);
    assert!(live(store, "fa1").await);
    assert!(
        !store
            .access_token_state("j-fb1", ts(12))
            .await
            .unwrap()
            .unwrap()
            .active,
        "the access token of a revoked grant introspects inactive"
    );

    // A session without its tokens only ends it; with them, they die too.
    let preview = store
        .revocation_preview(
            &T::Session {
                session_id: "sa".into(),
                tokens: true,
            },
            ts(13),
        )
        .await
        .unwrap();
    assert_eq!((preview.sessions, preview.refresh_tokens), (1, 1));
    let ended = store
        .revoke(
            &T::Session {
                session_id: "sa".into(),
                tokens: false,
            },
            "test",
            &log_event("ev4", "srrt", 13),
            ts(13),
        )
        .await
        .unwrap();
    assert_eq!((ended.sessions, ended.refresh_tokens), (1, 0));
    assert!(
        live(store, "fa1").await,
        "an ended session keeps its refresh tokens"
    );
    let revoked = store
        .revoke(
            &T::Session {
                session_id: "sa".into(),
                tokens: true,
            },
            "test",
            &log_event("ev5", "srrt", 14),
            ts(14),
        )
        .await
        .unwrap();
    assert_eq!((revoked.sessions, revoked.refresh_tokens), (1, 1));
    assert!(!live(store, "fa1").await);
    assert!(store
        .session("sa")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());

    // Unknown targets write nothing, not even an event.
    let before = store
        .list_logs(
            &grantor_store::LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .total;
    for target in [
        family_target("nope"),
        grant_target("nope", true),
        T::User {
            user_id: "auth0|nobody".into(),
            client_id: None,
            audience: None,
        },
        T::Session {
            session_id: "nope".into(),
            tokens: true,
        },
    ] {
        let r = store
            .revoke(
                &target,
                "test",
                &log_event(&format!("u{before}"), "srrt", 15),
                ts(15),
            )
            .await
            .unwrap();
        assert!(!r.found, "{target:?}");
    }
    let after = store
        .list_logs(
            &grantor_store::LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .total;
    assert_eq!(before, after);
}

/// All of a user's tokens go with one write of the user's epoch; tokens
/// issued afterwards work.
async fn user_wide_revocation_is_one_epoch_and_later_tokens_work(store: &Store) {
    let (ga, _) = revocation_fixture(store).await;
    let receipt = store
        .revoke(
            &grantor_store::RevocationTarget::User {
                user_id: "auth0|rev".into(),
                client_id: None,
                audience: None,
            },
            "test",
            &log_event("all", "srrt", 20),
            ts(20),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 3);
    for f in ["fa1", "fa2", "fb1"] {
        assert!(!live(store, f).await, "{f}");
    }
    let batch = grantor_store::IssueBatch {
        family: Some(new_family("later", "auth0|rev", "client-a", &ga, 30)),
        access_token: access_record("j-later", "auth0|rev", "client-a", &ga, Some("later")),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(30)).await.unwrap();
    assert!(live(store, "later").await);
    assert!(
        store
            .access_token_state("j-later", ts(31))
            .await
            .unwrap()
            .unwrap()
            .active
    );
}

/// A user deleted and created again under the same id does not inherit the
/// old user's refresh tokens.
async fn recreated_user_does_not_revive_old_tokens(store: &Store) {
    revocation_fixture(store).await;
    assert!(store.delete_user("auth0|rev").await.unwrap());
    assert!(!live(store, "fa2").await);
    let mut again = user("rev", "rev@example.com");
    again.created_at = ts(50);
    store.insert_user(&again).await.unwrap();
    assert!(
        !live(store, "fa2").await,
        "the old epoch must not match the new user"
    );
}

async fn logs_filter_and_page_both_ways(store: &Store) {
    use grantor_store::LogFilter;
    for (i, (user, kind)) in [
        ("u1", "sertft"),
        ("u2", "srrt"),
        ("u1", "srrt"),
        ("u1", "ferrt"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = log_event(&format!("e{i}"), kind, i as i64);
        e.user_id = Some(user.to_owned());
        e.details = serde_json::json!({ "n": i });
        store.record_event(&e).await.unwrap();
    }
    let all = PageRequest {
        offset: 0,
        limit: 10,
    };
    let u1 = store
        .list_logs(
            &LogFilter {
                user_id: Some("u1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!(u1.total, 3);
    let newest_first: Vec<i64> = u1
        .items
        .iter()
        .map(|e| e.details["n"].as_i64().unwrap())
        .collect();
    assert_eq!(newest_first, vec![3, 2, 0]);
    let revocations = store
        .list_logs(
            &LogFilter {
                type_code: Some("srrt".into()),
                user_id: Some("u1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!(revocations.items.len(), 1);
    assert_eq!(revocations.items[0].details["n"], 2);
    // Checkpoint: oldest first, strictly after the given id.
    let first = store
        .list_logs(
            &LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .items
        .last()
        .unwrap()
        .log_id
        .clone();
    let after = store
        .list_logs(
            &LogFilter {
                after_id: Some(first),
                ..Default::default()
            },
            PageRequest {
                offset: 0,
                limit: 2,
            },
        )
        .await
        .unwrap();
    let ns: Vec<i64> = after
        .items
        .iter()
        .map(|e| e.details["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![1, 2]);
}

/// The purge deletes only dead rows, never more than a batch per table per
/// pass, and walks the families table in id order across passes.
async fn purge_deletes_dead_rows_in_bounded_batches(store: &Store) {
    let g = user_with_grant(store, "pg").await;
    // Ten families; the odd ones are revoked. One live family is bound to an
    // ended session, which must therefore survive.
    let mut ended = session_record("s-ended", "auth0|pg", 0);
    ended.ended_at = Some(ts(1));
    store.create_session(&ended).await.unwrap();
    let mut revoked_session = session_record("s-revoked", "auth0|pg", 0);
    revoked_session.revoked_at = Some(ts(1));
    store.create_session(&revoked_session).await.unwrap();
    for i in 0..10 {
        let mut f = new_family(&format!("p{i}"), "auth0|pg", "client-a", &g.id, i);
        if i == 0 {
            f.session_id = Some("s-ended".to_owned());
        }
        let batch = grantor_store::IssueBatch {
            family: Some(f),
            access_token: access_record(&format!("jp{i}"), "auth0|pg", "client-a", &g.id, None),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(i)).await.unwrap();
        if i % 2 == 1 {
            store
                .revoke(
                    &family_target(&format!("p{i}")),
                    "test",
                    &log_event(&format!("pr{i}"), "srrt", i),
                    ts(i),
                )
                .await
                .unwrap();
        }
    }
    // Far in the future: access tokens expired, the ended session past its grace.
    let later = ts(100_000_000);
    let mut plan = grantor_store::PurgePlan {
        batch_size: 4,
        logs_before: ts(5),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    let first = store.purge(&plan, later).await.unwrap();
    assert_eq!(
        first.refresh_token_families, 2,
        "p1 and p3 of the first four (p0..p3)"
    );
    assert_eq!(first.refresh_token_secrets, 2);
    assert_eq!(first.families_after, "p3");
    assert_eq!(first.access_tokens, 4, "a batch of expired access tokens");
    assert_eq!(
        first.sessions, 1,
        "the revoked session; the ended one is still referenced"
    );
    assert_eq!(
        first.logs, 2,
        "events before the retention cut-off: pr1 and pr3"
    );
    assert!(
        first.behind(plan.batch_size),
        "a full batch of access tokens: the purge loop hurries"
    );
    let mut total_families = first.refresh_token_families;
    plan.families_after = first.families_after;
    for _ in 0..3 {
        let r = store.purge(&plan, later).await.unwrap();
        total_families += r.refresh_token_families;
        plan.families_after = r.families_after;
    }
    assert_eq!(
        total_families, 5,
        "all five revoked families, and only them"
    );
    let mut caught_up = false;
    for _ in 0..20 {
        let r = store.purge(&plan, later).await.unwrap();
        plan.families_after = r.families_after.clone();
        if r.total() == 0 {
            caught_up = !r.behind(plan.batch_size);
            break;
        }
    }
    assert!(caught_up, "a pass with nothing to delete is not behind");
    for i in 0..10 {
        let stored = store
            .load_refresh_token(&format!("hash-p{i}"))
            .await
            .unwrap();
        assert_eq!(stored.is_some(), i % 2 == 0, "p{i}");
    }
    assert!(store.session("s-ended").await.unwrap().is_some());
    assert!(store.session("s-revoked").await.unwrap().is_none());
}

/// `DELETE /grants?user_id=` is one revocation: every grant of the user goes,
/// with every refresh token issued for them.
async fn deleting_every_grant_of_a_user_is_one_revocation(store: &Store) {
    revocation_fixture(store).await;
    let receipt = store
        .revoke(
            &grantor_store::RevocationTarget::UserGrants {
                user_id: "auth0|rev".into(),
            },
            "test",
            &log_event("ug", "srrt", 40),
            ts(40),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 3);
    assert_eq!(receipt.grant_ids, vec!["g-a".to_owned(), "g-b".to_owned()]);
    assert!(receipt.grants_deleted);
    for f in ["fa1", "fa2", "fb1"] {
        assert!(!live(store, f).await, "{f}");
    }
    assert!(store.grant("g-a").await.unwrap().is_none());
    assert!(store.grant("g-b").await.unwrap().is_none());
}

fn counter(kind: &'static str, ip: &str, limit: i64) -> grantor_store::AttemptCounter {
    grantor_store::AttemptCounter {
        kind,
        identifier_hash: "ab".repeat(32),
        ip: ip.to_owned(),
        limit,
        window_seconds: 60,
    }
}

/// Fifty parallel reservations on a counter of ten: exactly ten are taken,
/// all or none of several counters, released and reset as asked, and a new
/// window starts again at one.
async fn attempt_reservations_are_atomic_and_windowed(store: &Store) {
    use grantor_store::AttemptReservation::{Refused, Reserved};
    let account = counter("login", "192.0.2.1", 10);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, account) = (store.clone(), account.clone());
        tasks.spawn(async move { store.reserve_attempts(&[account], ts(0)).await.unwrap() });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| **r == Reserved).count(), 10);
    assert!(results.iter().all(|r| matches!(
        r,
        Reserved
            | Refused {
                counter: 0,
                retry_after_seconds: 60
            }
    )));
    assert_eq!(store.attempt_count(&account, ts(0)).await.unwrap(), 10);
    assert_eq!(
        store
            .blocked_ips("login", &account.identifier_hash, 10, 60, ts(0))
            .await
            .unwrap(),
        vec!["192.0.2.1".to_owned()]
    );

    // All or none: a full second counter takes nothing from the first.
    let ip = counter("login_ip", "192.0.2.2", 100);
    let fresh = counter("login", "192.0.2.2", 10);
    assert_eq!(
        store
            .reserve_attempts(&[fresh.clone(), account.clone()], ts(1_000))
            .await
            .unwrap(),
        Refused {
            counter: 1,
            retry_after_seconds: 59
        }
    );
    assert_eq!(store.attempt_count(&fresh, ts(1_000)).await.unwrap(), 0);
    assert_eq!(
        store
            .reserve_attempts(&[fresh.clone(), ip.clone()], ts(1_000))
            .await
            .unwrap(),
        Reserved
    );
    store
        .release_attempts(std::slice::from_ref(&ip), std::slice::from_ref(&fresh))
        .await
        .unwrap();
    assert_eq!(store.attempt_count(&fresh, ts(1_000)).await.unwrap(), 0);
    assert_eq!(store.attempt_count(&ip, ts(1_000)).await.unwrap(), 0);

    // The window ends: the counter starts again at one.
    assert_eq!(
        store
            .reserve_attempts(std::slice::from_ref(&account), ts(60_000))
            .await
            .unwrap(),
        Reserved
    );
    assert_eq!(store.attempt_count(&account, ts(60_000)).await.unwrap(), 1);
    assert!(store
        .blocked_ips("login", &account.identifier_hash, 10, 60, ts(60_000))
        .await
        .unwrap()
        .is_empty());

    // Lifting deletes every counter of the identifier (`fresh` was reset).
    assert_eq!(
        store
            .reserve_attempts(&[counter("login", "192.0.2.3", 10)], ts(60_000))
            .await
            .unwrap(),
        Reserved
    );
    assert_eq!(
        store
            .clear_attempts("login", &account.identifier_hash, None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.attempt_count(&account, ts(60_000)).await.unwrap(), 0);
}

async fn authorization_codes_are_read_without_writing_and_spent_once(store: &Store) {
    use grantor_store::{AuthorizationCodeRecord, CodeRedemption};
    let now = Timestamp(1_700_000_000_000);
    let code = |hash: &str, sent: bool| AuthorizationCodeRecord {
        code_hash: hash.to_owned(),
        client_id: "client".to_owned(),
        user_id: "auth0|u".to_owned(),
        session_id: Some("s".to_owned()),
        grant_id: "g".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_sent: sent,
        audience: "https://api.example/".to_owned(),
        scope: "openid".to_owned(),
        nonce: None,
        code_challenge: Some("challenge".to_owned()),
        device_name: None,
        auth_time: now,
        created_at: now,
        expires_at: now.plus_seconds(60),
    };
    store
        .insert_authorization_code(&code("a", true))
        .await
        .unwrap();
    store
        .insert_authorization_code(&code("b", false))
        .await
        .unwrap();
    assert!(store.authorization_code("missing").await.unwrap().is_none());
    // Reading leaves the code unspent, however often.
    for _ in 0..2 {
        let stored = store
            .authorization_code("a")
            .await
            .unwrap()
            .expect("code a");
        assert!(stored.used_at.is_none());
        assert!(stored.record.redirect_uri_sent);
        assert_eq!(stored.record.code_challenge.as_deref(), Some("challenge"));
    }
    assert!(
        !store
            .authorization_code("b")
            .await
            .unwrap()
            .unwrap()
            .record
            .redirect_uri_sent
    );
    assert!(matches!(
        store.redeem_authorization_code("a", now).await.unwrap(),
        CodeRedemption::Redeemed
    ));
    assert_eq!(
        store
            .authorization_code("a")
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(now)
    );
    assert!(matches!(
        store.redeem_authorization_code("a", now).await.unwrap(),
        CodeRedemption::Replayed {
            issued_family_id: None,
            issued_jti: None
        }
    ));
    // Expired and unknown codes are invalid, and an expired one stays unspent.
    let later = now.plus_seconds(61);
    assert!(matches!(
        store.redeem_authorization_code("b", later).await.unwrap(),
        CodeRedemption::Invalid
    ));
    assert!(store
        .authorization_code("b")
        .await
        .unwrap()
        .unwrap()
        .used_at
        .is_none());
    assert!(matches!(
        store
            .redeem_authorization_code("missing", now)
            .await
            .unwrap(),
        CodeRedemption::Invalid
    ));
}
