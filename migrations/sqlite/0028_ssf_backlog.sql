-- OAuth tokens-revoked events waiting to be fanned out to the SSF streams.
-- A revocation writes one narrow row per user it covers, in its own
-- transaction and only while some stream is enabled or paused. The delivery
-- worker turns staged rows into one outbox message per matching stream and
-- deletes them, in batches; so does every stream change and every poll,
-- first thing in its transaction. Before, the revocation wrote those
-- messages itself: one outbox row and its index entries per stream, on the
-- revoke path. No index beyond the key: the table is nearly always empty,
-- and the purge deletes by age what no one took (delivery off, no poll).
-- `per_user` (0 or 1): the revocation covered several users, so each
-- message id ends in `:<user>`.
CREATE TABLE ssf_backlog (
    log_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    per_user BIGINT NOT NULL,
    staged_at BIGINT NOT NULL,
    PRIMARY KEY (log_id, user_id)
) WITHOUT ROWID;
