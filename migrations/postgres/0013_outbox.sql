-- Where a client receives OpenID Connect Back-Channel Logout tokens
-- (`oidc_logout.backchannel_logout_urls`; Auth0 allows one URL).
ALTER TABLE clients ADD COLUMN backchannel_logout_url TEXT;

-- The durable outbox: messages to other systems, written in the same
-- transaction as the change they announce, and delivered afterwards, at
-- least once, by `src/outbox.rs`. The id is also the message's `jti`.
-- `lease_owner`/`lease_until` say which process is delivering it; a lease
-- that ran out (a process killed mid-delivery) makes the message due again.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    client_id TEXT,
    user_id TEXT,
    session_id TEXT,
    log_id TEXT,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    finished_at BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_finished ON outbox (finished_at);
CREATE INDEX outbox_session ON outbox (session_id);
