-- Shared Signals Framework 1.0 streams (`src/http/ssf/`): each belongs to
-- the Management API client that created it (`client_id`), which is also
-- its `aud`. Lists are JSON text. `authorization_header` is sent with each
-- push and never rendered. `status` is `enabled`, `paused` or `disabled`.
CREATE TABLE ssf_streams (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    delivery_method TEXT NOT NULL,
    endpoint_url TEXT,
    authorization_header TEXT,
    events_requested TEXT NOT NULL,
    events_delivered TEXT NOT NULL,
    description TEXT,
    default_subjects TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ssf_streams_client ON ssf_streams (client_id);

-- Subjects added to (`mode` = 'added') or removed from ('removed') a
-- stream, by user id; the stream's `default_subjects` says what the rest is.
CREATE TABLE ssf_subjects (
    stream_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);

CREATE INDEX outbox_destination ON outbox (destination, status);

-- The messages the delivery worker claims: polled and held SSF events can
-- wait long, and the claim's scan of due messages must not walk them.
CREATE INDEX outbox_claimable ON outbox (next_attempt_at) WHERE status = 'pending' AND kind IN ('backchannel_logout', 'log_stream_batch', 'ssf_push');
