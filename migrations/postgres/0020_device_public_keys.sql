-- Device credentials of type public_key (POST /api/v2/device-credentials):
-- a device's public key registered for one user and one client. `public_key`
-- is the DER SubjectPublicKeyInfo, base64; a private key is never stored.
-- One key per user, client and device; the keys go with their user or client.
CREATE TABLE device_public_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    device_name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, client_id, device_id)
);
CREATE INDEX device_public_keys_client ON device_public_keys (client_id);
