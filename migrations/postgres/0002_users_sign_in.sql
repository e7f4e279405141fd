-- grantor schema, version 2 (PostgreSQL): browser sessions, user grants, authorization
-- codes, refresh tokens (families and their secrets), access-token records,
-- device codes. Keep in step with migrations/sqlite/0002_users_sign_in.sql.
--
-- Revocation is decided on use from durable state, never by touching each token:
-- a refresh token is valid only while its family is not revoked, its grant row
-- exists with the same token_epoch, its user exists with the same
-- refresh_token_epoch, and its session (if any) is not revoked. So no foreign
-- key cascades from grants, users or sessions to tokens: revoking is one write,
-- and dead rows are purged later in bounded batches.

ALTER TABLE users ADD COLUMN refresh_token_epoch BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    cookie_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    last_interacted_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    initial_ip TEXT NOT NULL,
    initial_user_agent TEXT NOT NULL,
    last_ip TEXT NOT NULL,
    last_user_agent TEXT NOT NULL,
    -- Browser logout: the cookie stops working; refresh tokens stay valid.
    ended_at BIGINT,
    -- Management revocation: the session and the refresh tokens bound to it die.
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

CREATE TABLE session_clients (
    session_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- Bumped to invalidate every refresh token of the grant while keeping it.
    token_epoch BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, client_id, audience)
);
CREATE INDEX grants_client ON grants (client_id);

-- Pending /authorize requests between the login, consent and redirect steps.
CREATE TABLE authorization_requests (
    id TEXT PRIMARY KEY,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    grant_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    device_name TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    -- What the first exchange issued, revoked if the code is presented again.
    issued_family_id TEXT,
    issued_jti TEXT
);

-- A refresh token as the Management API shows it: one per login on a device.
-- A rotating token keeps its family id across rotations.
CREATE TABLE refresh_token_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    grant_epoch BIGINT NOT NULL,
    user_epoch BIGINT NOT NULL,
    session_id TEXT,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    rotating BOOLEAN NOT NULL,
    device_name TEXT,
    initial_ip TEXT NOT NULL,
    initial_user_agent TEXT NOT NULL,
    last_ip TEXT NOT NULL,
    last_user_agent TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Absolute expiry, fixed at issue; NULL never.
    expires_at BIGINT,
    -- Inactivity expiry, renewed on each exchange; NULL never.
    idle_expires_at BIGINT,
    last_exchanged_at BIGINT,
    -- Generation of the newest secret; older ones are rotated out.
    current_generation BIGINT NOT NULL DEFAULT 0,
    last_rotated_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX refresh_token_families_user ON refresh_token_families (user_id, client_id, created_at);
CREATE INDEX refresh_token_families_grant ON refresh_token_families (grant_id);
CREATE INDEX refresh_token_families_session ON refresh_token_families (session_id);

-- Every refresh token string ever issued in a family, by hash.
CREATE TABLE refresh_token_secrets (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_token_secrets_family ON refresh_token_secrets (family_id);

-- Access tokens issued to users, so introspection can tell a revoked one.
CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    grant_epoch BIGINT NOT NULL,
    user_epoch BIGINT NOT NULL,
    family_id TEXT,
    session_id TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_seconds BIGINT NOT NULL,
    last_polled_at BIGINT,
    -- pending | approved | denied | consumed | expired
    status TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    grant_id TEXT,
    auth_time BIGINT,
    device_ip TEXT NOT NULL,
    device_user_agent TEXT NOT NULL
);

-- Failed user-code entries per client IP, for guessing protection.
CREATE TABLE activation_failures (
    ip TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL
);
