-- The key that authenticates the family and generation a refresh token
-- carries. Rotation keeps only the secrets that can still be honoured (the
-- current generation and the previous one); an older token of a family is
-- recognised by this MAC, so reuse detection still revokes its family.
CREATE TABLE token_mac_keys (
    id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Secrets issued before the MAC format (and imported ones) carry no MAC: an
-- old one could not be recognised once deleted, so rotation deletes only
-- secrets that carry one, and the others stay until their family is purged.
ALTER TABLE refresh_token_secrets ADD COLUMN carries_mac BOOLEAN NOT NULL DEFAULT FALSE;
