-- grantor schema, version 21: indexes for the Management API's user search
-- (`GET /api/v2/users?q=`). `email:` and `user_id:` terms compare in code
-- point order (`BYTE_ORDER` in sqlite/mod.rs and postgres/mod.rs), exactly
-- or as a range `[prefix, next)` for `value*`, so these indexes serve both.
-- SQLite's default collation is already byte order (BINARY); PostgreSQL's
-- indexes say COLLATE "C" (listed in conformance/migrations.rs).
-- Keep in step with migrations/postgres/0018_user_search.sql.
CREATE INDEX users_email_search ON users (email COLLATE BINARY);
CREATE INDEX users_user_id_search ON users (user_id COLLATE BINARY);
-- `name:"…"` compares the lower-cased name (case-insensitive, as Auth0);
-- a `name:…*` prefix is a LIKE and scans.
CREATE INDEX users_name_search ON users (lower(name));
