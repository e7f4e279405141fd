-- grantor schema, version 5: users' phone numbers, as Auth0's user object
-- carries them (`phone_number`, E.164, and `phone_verified`). The same text in
-- migrations/sqlite and migrations/postgres; keep the two files identical.
--
-- A phone number is an attribute, not an identifier: it is not unique and
-- nobody signs in with it.

ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN phone_verified BOOLEAN NOT NULL DEFAULT FALSE;
