-- grantor schema, version 3 (SQLite): the audit log, and indexes the background purge
-- walks. Keep in step with migrations/postgres/0003_logs_purge.sql.

-- GET /api/v2/logs. log_id starts with the zero-padded date in milliseconds,
-- so ordering by log_id is ordering by time.
CREATE TABLE logs (
    log_id TEXT PRIMARY KEY,
    date BIGINT NOT NULL,
    type TEXT NOT NULL,
    description TEXT NOT NULL,
    client_id TEXT,
    client_name TEXT,
    user_id TEXT,
    user_name TEXT,
    ip TEXT,
    user_agent TEXT,
    -- JSON object; revocations carry a "receipt" of what they covered.
    details TEXT NOT NULL
);
CREATE INDEX logs_date ON logs (date);
CREATE INDEX logs_user ON logs (user_id, log_id);
CREATE INDEX logs_type ON logs (type, log_id);
CREATE INDEX logs_client ON logs (client_id, log_id);

-- The purge deletes expired rows in bounded batches, oldest first.
CREATE INDEX access_tokens_session ON access_tokens (session_id);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
CREATE INDEX authorization_requests_expiry ON authorization_requests (expires_at);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
CREATE INDEX activation_failures_window ON activation_failures (window_start);
CREATE INDEX grants_user ON grants (user_id, created_at);
