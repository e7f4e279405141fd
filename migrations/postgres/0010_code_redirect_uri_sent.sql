-- grantor schema, version 10: whether `/authorize` carried `redirect_uri`.
-- The same text in migrations/sqlite and migrations/postgres; keep the two
-- files identical.
--
-- RFC 6749 §4.1.3: when the authorization request included `redirect_uri`,
-- the token request must include it too, with the identical value. A code
-- issued for a client's only callback without `redirect_uri` in the request
-- does not need it. Codes written before this version live at most a minute;
-- they keep the old rule (checked only when sent).

ALTER TABLE authorization_codes ADD COLUMN redirect_uri_sent BOOLEAN NOT NULL DEFAULT FALSE;
