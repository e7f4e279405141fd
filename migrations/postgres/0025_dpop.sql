-- DPoP (RFC 9449).
-- The JWK SHA-256 thumbprint of the key a public client's refresh token is
-- bound to; NULL when it is not bound.
ALTER TABLE refresh_token_families ADD COLUMN dpop_jkt TEXT;
-- Auth0's `require_proof_of_possession`: token requests without a DPoP
-- proof are refused for this client.
ALTER TABLE clients ADD COLUMN require_proof_of_possession BOOLEAN NOT NULL DEFAULT FALSE;
-- DPoP proofs seen, for replay detection across processes: the SHA-256 of
-- the proof key's thumbprint and the proof's `jti`, kept until the proof's
-- `iat` leaves the accepted window, then purged in batches.
CREATE TABLE dpop_proofs (
    proof_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
