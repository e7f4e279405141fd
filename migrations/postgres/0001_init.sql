-- grantor schema, version 1 (PostgreSQL). Instants are milliseconds since the Unix epoch.
-- Keep the same version numbers and table shapes as migrations/sqlite.

CREATE TABLE tenant (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    friendly_name TEXT NOT NULL,
    revoke_refresh_token_grant BOOLEAN NOT NULL DEFAULT FALSE,
    default_audience TEXT NOT NULL DEFAULT '',
    session_lifetime BIGINT NOT NULL DEFAULT 168,
    idle_session_lifetime BIGINT NOT NULL DEFAULT 72,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_pkcs8 BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    app_type TEXT,
    is_first_party BOOLEAN NOT NULL,
    oidc_conformant BOOLEAN NOT NULL,
    callbacks TEXT NOT NULL,
    allowed_logout_urls TEXT NOT NULL,
    allowed_origins TEXT NOT NULL,
    web_origins TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    id_token_lifetime BIGINT NOT NULL,
    rt_rotation_type TEXT NOT NULL,
    rt_expiration_type TEXT NOT NULL,
    rt_leeway BIGINT NOT NULL,
    rt_token_lifetime BIGINT NOT NULL,
    rt_infinite_token_lifetime BOOLEAN NOT NULL,
    rt_idle_token_lifetime BIGINT NOT NULL,
    rt_infinite_idle_token_lifetime BOOLEAN NOT NULL,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX clients_created ON clients (created_at, client_id);

CREATE TABLE resource_servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    signing_alg TEXT NOT NULL,
    allow_offline_access BOOLEAN NOT NULL,
    skip_consent_for_verifiable_first_party_clients BOOLEAN NOT NULL,
    token_lifetime BIGINT NOT NULL,
    token_lifetime_for_web BIGINT NOT NULL,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE client_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    audience TEXT NOT NULL REFERENCES resource_servers (identifier) ON DELETE CASCADE ON UPDATE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, audience)
);
CREATE INDEX client_grants_audience ON client_grants (audience);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    connection TEXT NOT NULL,
    email TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL,
    username TEXT,
    name TEXT NOT NULL,
    nickname TEXT NOT NULL,
    picture TEXT,
    given_name TEXT,
    family_name TEXT,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    app_metadata TEXT NOT NULL,
    user_metadata TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login BIGINT,
    last_ip TEXT,
    logins_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (connection, email)
);
CREATE INDEX users_created ON users (created_at, user_id);

CREATE TABLE admins (
    email TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
