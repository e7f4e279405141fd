-- The per-user-and-client cap (issue_tokens), a user's revocation receipt
-- and live-token listings look only at live families; a user who signs in
-- often accumulates many revoked ones. This index holds the live ones only,
-- so those reads cost what is live, not what was ever issued.
CREATE INDEX refresh_token_families_live_user ON refresh_token_families (user_id, client_id, created_at) WHERE revoked_at IS NULL;
