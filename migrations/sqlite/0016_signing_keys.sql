-- Signing-key rotation (Auth0's /api/v2/keys/signing). Every key has a state:
-- 'next' (published, not yet signing), 'current' (signs), 'previous'
-- (published so that tokens it signed still verify) or 'revoked' (neither
-- published nor trusted). Keys made before this version become current; the
-- first start of this version adds a next key per algorithm.
ALTER TABLE signing_keys ADD COLUMN state TEXT NOT NULL DEFAULT 'current';
ALTER TABLE signing_keys ADD COLUMN current_since BIGINT;
ALTER TABLE signing_keys ADD COLUMN current_until BIGINT;
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;
UPDATE signing_keys SET current_since = created_at;

-- One row: the version every rotation and revocation bumps in its own
-- transaction. Each process polls it and reloads its keys when it moved.
CREATE TABLE signing_key_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO signing_key_version (id, version) VALUES (1, 0);
