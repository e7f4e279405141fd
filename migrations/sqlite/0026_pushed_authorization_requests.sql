-- Pushed Authorization Requests (RFC 9126).
-- A pushed request, keyed by the SHA-256 of the random part of its
-- request_uri (the URI itself is never stored); `params` is the JSON array
-- of the authorization request's [name, value] pairs. Consumed (deleted) by its one
-- use at /authorize; expired rows are purged in batches.
CREATE TABLE pushed_authorization_requests (
    request_uri_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_authorization_requests_expiry ON pushed_authorization_requests (expires_at);
-- Auth0's `require_pushed_authorization_requests`: /authorize accepts this
-- client's requests only through a request_uri from /oauth/par.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
