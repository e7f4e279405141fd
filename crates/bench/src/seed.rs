//! Seeds a running grantor for the benchmark: APIs and clients through the
//! Management API (as an operator would), then users, grants, a signed-in
//! session and refresh tokens straight through the store's bulk import (as a
//! migration from another server would), and writes the fixture.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::user::DATABASE_CONNECTION;
use grantor_domain::{ScopeSet, Timestamp, TokenHash, User};
use grantor_store::{ImportBatch, NewFamily, SessionRecord, Store, UserGrant};
use hyper::Method;
use serde_json::{json, Value};

use crate::fixture::{BulkRevoke, ClientCall, CodeFlow, Fixture, Paths, RefreshChains, RevokeSet};
use crate::http::{form, Connection};

pub const RS256_API: &str = "https://api.rs256.bench/";
pub const EDDSA_API: &str = "https://api.eddsa.bench/";
const SCOPE: &str = "read:bench";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// Users the workloads' refresh chains and revoke tokens are spread over.
const WORKLOAD_USERS: usize = 16;
/// Families per import call (one transaction each).
const IMPORT_BATCH: usize = 20_000;

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// The running server, `http://127.0.0.1:<port>`.
    #[arg(long)]
    pub base_url: String,
    /// The server's database (the seeder imports into it directly).
    #[arg(long)]
    pub database_url: String,
    /// The bootstrap client (it holds every Management API scope).
    #[arg(long, env = "GRANTOR_BOOTSTRAP_CLIENT_ID")]
    pub client_id: String,
    #[arg(long, env = "GRANTOR_BOOTSTRAP_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Refresh-token chains per refresh workload (one per connection).
    #[arg(long, default_value_t = 64)]
    pub chains: usize,
    /// Refresh tokens for the revoke workload, each revoked once.
    #[arg(long, default_value_t = 200_000)]
    pub revoke_tokens: usize,
    /// Users for the bulk revocation, each holding `--bulk-tokens-per-user`.
    #[arg(long, default_value_t = 3)]
    pub bulk_users: usize,
    #[arg(long, default_value_t = 10_000)]
    pub bulk_tokens_per_user: usize,
    /// More stored refresh tokens, never presented: the table's bulk,
    /// spread over `--background-users` users and 4 clients.
    #[arg(long, default_value_t = 0)]
    pub background_tokens: usize,
    #[arg(long, default_value_t = 10_000)]
    pub background_users: usize,
    /// The APIs' access-token lifetime in seconds (a soak uses a short one,
    /// so the access-token table reaches its steady size within the run).
    #[arg(long, default_value_t = 3600)]
    pub access_token_lifetime: i64,
    /// Where to write the fixture.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64,
    )
}

fn secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn hex_id(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

struct Management {
    conn: Connection,
    token: String,
}

impl Management {
    async fn call(&mut self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self
            .conn
            .json(
                method,
                &format!("/api/v2{path}"),
                Some(&self.token),
                Some(&body),
            )
            .await?;
        if !answer.status.is_success() {
            bail!(
                "{path}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
    }
}

pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let base = args.base_url.trim_end_matches('/').to_owned();
    let mut conn = Connection::open(&base).await?;
    let answer = conn
        .post_form(
            "/oauth/token",
            form([
                ("grant_type", "client_credentials"),
                ("client_id", args.client_id.as_str()),
                ("client_secret", args.client_secret.as_str()),
                ("audience", &format!("{base}/api/v2/")),
            ]),
        )
        .await?;
    if !answer.status.is_success() {
        bail!(
            "Management API token: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let token: Value = serde_json::from_slice(&answer.body)?;
    let mut api = Management {
        conn,
        token: token["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned(),
    };

    for (identifier, alg) in [(RS256_API, "RS256"), (EDDSA_API, "EdDSA")] {
        api.call(
            Method::POST,
            "/resource-servers",
            json!({
                "name": format!("bench {alg}"), "identifier": identifier, "signing_alg": alg,
                "scopes": [{"value": SCOPE, "description": "benchmark"}],
                "allow_offline_access": true, "token_lifetime": args.access_token_lifetime,
                "skip_consent_for_verifiable_first_party_clients": true,
            }),
        )
        .await?;
    }
    let cc = api
        .call(
            Method::POST,
            "/clients",
            json!({
                "name": "bench machine", "app_type": "non_interactive",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post",
            }),
        )
        .await?;
    for audience in [RS256_API, EDDSA_API] {
        api.call(
            Method::POST,
            "/client-grants",
            json!({"client_id": cc["client_id"], "audience": audience, "scope": [SCOPE]}),
        )
        .await?;
    }
    let rt = create_web_client(&mut api, "bench web").await?;
    let (cc_id, cc_secret) = credentials(&cc)?;
    let (rt_id, rt_secret) = credentials(&rt)?;
    let mut background_clients = Vec::new();
    if args.background_tokens > 0 {
        for i in 0..4 {
            let c = create_web_client(&mut api, &format!("bench background {i}")).await?;
            background_clients.push(credentials(&c)?.0);
        }
    }

    let store = Store::connect(&args.database_url).await?;
    let now = now();
    let password_hash = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2htYXJrc2FsdA$8fDFOfVkpAY4sgf0AT2dVlDXYjE+5a+PdN64q7p0dN0";
    let new_user = |id: String| User {
        email: format!("{}@bench.example", id.trim_start_matches("auth0|")),
        user_id: id.into(),
        connection: DATABASE_CONNECTION.to_owned(),
        email_verified: true,
        username: None,
        name: "bench".into(),
        nickname: "bench".into(),
        picture: None,
        given_name: None,
        family_name: None,
        phone_number: None,
        phone_verified: false,
        blocked: false,
        app_metadata: "{}".into(),
        user_metadata: "{}".into(),
        password_hash: password_hash.into(),
        created_at: now,
        updated_at: now,
        last_login: None,
        last_ip: None,
        logins_count: 0,
    };

    // Users, grants and refresh tokens, imported in batches.
    let mut importer = Importer::new(&store, now);
    let workload_users: Vec<String> = (0..WORKLOAD_USERS)
        .map(|i| format!("auth0|bench-w{i:04}"))
        .collect();
    let bulk_users: Vec<String> = (0..args.bulk_users)
        .map(|i| format!("auth0|bench-b{i:04}"))
        .collect();
    let background_users: Vec<String> = if args.background_tokens > 0 {
        (0..args.background_users)
            .map(|i| format!("auth0|bench-g{i:06}"))
            .collect()
    } else {
        Vec::new()
    };
    let code_user = "auth0|bench-code".to_owned();
    for id in workload_users
        .iter()
        .chain(&bulk_users)
        .chain(&background_users)
        .chain(std::iter::once(&code_user))
    {
        importer.user(new_user(id.clone()));
    }

    let with_id = "openid offline_access read:bench";
    let without_id = "offline_access read:bench";
    let mut fixture_refresh = std::collections::BTreeMap::new();
    for (alg, audience, scope) in [
        ("RS256", RS256_API, with_id),
        ("EdDSA", EDDSA_API, without_id),
    ] {
        let mut tokens = Vec::new();
        for i in 0..args.chains {
            let user = &workload_users[i % WORKLOAD_USERS];
            tokens.push(importer.add(user, &rt_id, audience, scope).await?);
        }
        fixture_refresh.insert(
            alg.to_owned(),
            RefreshChains {
                client_id: rt_id.clone(),
                client_secret: rt_secret.clone(),
                params: Vec::new(),
                tokens,
            },
        );
    }
    // Each revoke token is its own user's only token (revoking a refresh
    // token revokes its grant, CONTRACT §4 rule 3).
    let mut revoke = Vec::with_capacity(args.revoke_tokens);
    for i in 0..args.revoke_tokens {
        let user = format!("auth0|bench-r{i:07}");
        importer.user(new_user(user.clone()));
        revoke.push(importer.add(&user, &rt_id, RS256_API, with_id).await?);
    }
    // The tokens never presented (the bulk users' and the background) get
    // family ids in insertion order, so the import appends to the family tables'
    // B-trees instead of touching a random page per row; the workloads'
    // families keep random ids, as grantor issues them.
    importer.ordered_ids = true;
    for user in &bulk_users {
        for _ in 0..args.bulk_tokens_per_user {
            importer.add(user, &rt_id, RS256_API, with_id).await?;
        }
    }
    // One user's tokens after another, so the indexes keyed by user grow at
    // one place at a time too.
    let per_user = args
        .background_tokens
        .div_ceil(background_users.len().max(1));
    for i in 0..args.background_tokens {
        let user = &background_users[(i / per_user) % background_users.len()];
        let client = &background_clients[i % background_clients.len()];
        importer.add(user, client, RS256_API, with_id).await?;
    }
    importer.flush().await?;
    store.analyze().await?;
    eprintln!(
        "seed: {} refresh tokens imported in {:.1}s",
        importer.imported,
        started.elapsed().as_secs_f64()
    );

    // The code flow: a signed-in session and the user's consent.
    let cookie = secret();
    store
        .create_session(&SessionRecord {
            id: hex_id("").into(),
            user_id: code_user.as_str().into(),
            cookie_hash: TokenHash::of(&cookie),
            created_at: now,
            updated_at: now,
            authenticated_at: now,
            last_interacted_at: now,
            idle_expires_at: now.plus_seconds(30 * 86_400),
            expires_at: now.plus_seconds(30 * 86_400),
            initial_ip: "127.0.0.1".into(),
            initial_user_agent: "grantor-bench".into(),
            last_ip: "127.0.0.1".into(),
            last_user_agent: "grantor-bench".into(),
            ended_at: None,
            revoked_at: None,
        })
        .await?;
    importer.grant(&code_user, &rt_id, RS256_API, with_id);
    importer.flush().await?;

    let fixture = Fixture {
        target: format!(
            "grantor {} ({})",
            env!("CARGO_PKG_VERSION"),
            store.backend_name()
        ),
        base_url: base.clone(),
        paths: Paths {
            token: "/oauth/token".into(),
            revoke: "/oauth/revoke".into(),
            authorize: "/authorize".into(),
        },
        client_credentials: [("RS256", RS256_API), ("EdDSA", EDDSA_API)]
            .into_iter()
            .map(|(alg, audience)| {
                (
                    alg.to_owned(),
                    ClientCall {
                        client_id: cc_id.clone(),
                        client_secret: cc_secret.clone(),
                        params: vec![("audience".into(), audience.into())],
                    },
                )
            })
            .collect(),
        refresh: fixture_refresh,
        revoke: RevokeSet {
            client_id: rt_id.clone(),
            client_secret: rt_secret.clone(),
            tokens: revoke,
        },
        authorization_code: CodeFlow {
            client_id: rt_id,
            client_secret: rt_secret,
            redirect_uri: REDIRECT_URI.into(),
            authorize_params: vec![
                ("scope".into(), with_id.into()),
                ("audience".into(), RS256_API.into()),
            ],
            token_params: Vec::new(),
            cookie: Some(format!("grantor_session={cookie}")),
        },
        bulk_revoke: Some(BulkRevoke {
            management_token: api.token.clone(),
            users: bulk_users
                .iter()
                .map(|u| (u.clone(), args.bulk_tokens_per_user as u64))
                .collect(),
        }),
    };
    fixture.save(&args.out)?;
    store.close().await;
    eprintln!("seed: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn create_web_client(api: &mut Management, name: &str) -> anyhow::Result<Value> {
    api.call(
        Method::POST,
        "/clients",
        json!({
            "name": name, "app_type": "regular_web", "is_first_party": true,
            "grant_types": ["authorization_code", "refresh_token"],
            "callbacks": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "non-expiring", "leeway": 0},
        }),
    )
    .await
}

fn credentials(client: &Value) -> anyhow::Result<(String, String)> {
    Ok((
        client["client_id"]
            .as_str()
            .context("client_id")?
            .to_owned(),
        client["client_secret"]
            .as_str()
            .context("client_secret")?
            .to_owned(),
    ))
}

/// Users, grants (made on first use) and families, imported in batches of
/// [`IMPORT_BATCH`] families through `Store::import`.
struct Importer<'a> {
    store: &'a Store,
    now: Timestamp,
    grants: std::collections::HashMap<(String, String, String), UserGrant>,
    pending: ImportBatch,
    imported: usize,
    /// Family ids in insertion order (a zero-padded count, then random hex)
    /// instead of random ones.
    ordered_ids: bool,
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store, now: Timestamp) -> Self {
        Self {
            store,
            now,
            grants: Default::default(),
            pending: ImportBatch::default(),
            imported: 0,
            ordered_ids: false,
        }
    }

    fn user(&mut self, user: User) {
        self.pending.users.push(user);
    }

    fn grant(&mut self, user: &str, client: &str, audience: &str, scope: &str) -> UserGrant {
        let key = (user.to_owned(), client.to_owned(), audience.to_owned());
        if let Some(g) = self.grants.get(&key) {
            return g.clone();
        }
        let grant = UserGrant {
            id: hex_id("").into(),
            user_id: user.into(),
            client_id: client.into(),
            audience: audience.to_owned(),
            scope: ScopeSet::parse(scope),
            token_epoch: 0,
            created_at: self.now,
            updated_at: self.now,
        };
        self.pending.grants.push(grant.clone());
        self.grants.insert(key, grant.clone());
        grant
    }

    /// Queues one family; returns its secret.
    async fn add(
        &mut self,
        user: &str,
        client: &str,
        audience: &str,
        scope: &str,
    ) -> anyhow::Result<String> {
        let grant = self.grant(user, client, audience, scope);
        let secret = secret();
        let id = if self.ordered_ids {
            let n = self.imported + self.pending.families.len();
            let random = hex_id("");
            format!("{n:012}{}", &random[..20])
        } else {
            hex_id("")
        };
        self.pending.families.push(NewFamily {
            dpop_jkt: None,
            id: id.into(),
            user_id: user.into(),
            client_id: client.into(),
            grant_id: grant.id,
            grant_epoch: grant.token_epoch,
            session_id: None,
            audience: audience.to_owned(),
            scope: scope.to_owned(),
            rotating: true,
            device_name: None,
            ip: "127.0.0.1".into(),
            user_agent: "grantor-bench".into(),
            auth_time: self.now,
            created_at: self.now,
            expires_at: None,
            idle_expires_at: None,
            secret_hash: TokenHash::of(&secret),
        });
        if self.pending.families.len() >= IMPORT_BATCH {
            self.flush().await?;
        }
        Ok(secret)
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.pending);
        self.imported += batch.families.len();
        let started = Instant::now();
        self.store.import(&batch).await?;
        if std::env::var_os("BENCH_SEED_VERBOSE").is_some() {
            eprintln!(
                "seed: imported {} users, {} grants, {} families in {:.2}s",
                batch.users.len(),
                batch.grants.len(),
                batch.families.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }
}
