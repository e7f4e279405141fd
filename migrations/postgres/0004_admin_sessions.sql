-- grantor schema, version 4: sessions of dashboard administrators (the
-- `grantor_admin` cookie). The same text in migrations/sqlite and
-- migrations/postgres; keep the two files identical.
--
-- Only the SHA-256 of the cookie secret is stored. A session ends at
-- expires_at, or earlier when it sees no request before idle_expires_at.
-- Signing out deletes the row; signing in deletes the administrator's expired
-- rows, so the table stays small without the background purge.

CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL REFERENCES admins (email) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX admin_sessions_email ON admin_sessions (email, expires_at);
