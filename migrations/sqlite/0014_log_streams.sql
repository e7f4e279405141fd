-- Auth0 log streams of type `http` (`/api/v2/log-streams`). The sink is
-- kept in columns; custom headers and category filters are JSON lists.
-- `consecutive_failures`, `failing_since` and `last_error` are the stream's
-- health (the dashboard shows them; Auth0's stream object has no such field).
CREATE TABLE log_streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    http_endpoint TEXT NOT NULL,
    http_content_type TEXT NOT NULL,
    http_content_format TEXT NOT NULL,
    http_authorization TEXT,
    http_custom_headers TEXT NOT NULL,
    filters TEXT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    failing_since BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Audit events waiting to be put into stream batches: written by the
-- event's own insert (same transaction, only while some stream is active),
-- turned into `log_stream_batch` outbox messages by the delivery worker.
CREATE TABLE log_stream_backlog (
    log_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    staged_at BIGINT NOT NULL
);

-- What a message carries beyond its columns (a stream batch: the JSON list
-- of its log ids).
ALTER TABLE outbox ADD COLUMN payload TEXT;

-- A log stream's oldest pending batch (the claim sends a stream's batches
-- one at a time, in order).
CREATE INDEX outbox_stream_pending ON outbox (destination, id) WHERE status = 'pending';
