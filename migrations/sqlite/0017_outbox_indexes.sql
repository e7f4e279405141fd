-- Fewer index entries per outbox row: each revocation with an SSF stream
-- writes one, so every index on the table is paid on the revoke path.
-- The claim and the due check use `outbox_claimable` (0015), not this one.
DROP INDEX outbox_due;
-- Pending messages have no `finished_at`; only finished ones are purged by it.
DROP INDEX outbox_finished;
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE finished_at IS NOT NULL;
-- Only back-channel logouts and session-revoked SETs name a session.
DROP INDEX outbox_session;
CREATE INDEX outbox_session ON outbox (session_id) WHERE session_id IS NOT NULL;
-- Only log stream batches are claimed one at a time per destination.
DROP INDEX outbox_stream_pending;
CREATE INDEX outbox_stream_pending ON outbox (destination, id) WHERE status = 'pending' AND kind = 'log_stream_batch';
-- The claim walks the destinations with claimable messages and takes the
-- oldest due few of each, so a busy destination's backlog is never walked
-- (log stream batches: `outbox_stream_pending`).
CREATE INDEX outbox_claimable_destination ON outbox (destination, next_attempt_at, id) WHERE status = 'pending' AND kind IN ('backchannel_logout', 'ssf_push');
-- The purge's walks: SSF events waiting for a poll or a paused stream, by
-- age (they expire with the audit log), and finished log stream batches
-- (kept a day). Without these each purge pass read the whole table.
CREATE INDEX outbox_waiting ON outbox (created_at) WHERE status = 'pending' AND kind IN ('ssf_poll', 'ssf_held');
CREATE INDEX outbox_finished_batches ON outbox (finished_at) WHERE kind = 'log_stream_batch' AND finished_at IS NOT NULL;
