-- grantor schema, version 21: indexes for the Management API's user search
-- (`GET /api/v2/users?q=`). `email:` and `user_id:` terms compare in code
-- point order (`BYTE_ORDER` in sqlite/mod.rs and postgres/mod.rs), exactly
-- or as a range `[prefix, next)` for `value*`, so these indexes serve both.
-- The database's own collation may order text by language rules, so the
-- indexes are built in the "C" collation the queries name.
-- Keep in step with migrations/sqlite/0018_user_search.sql.
CREATE INDEX users_email_search ON users (email COLLATE "C");
CREATE INDEX users_user_id_search ON users (user_id COLLATE "C");
-- `name:"…"` compares the lower-cased name (case-insensitive, as Auth0);
-- a `name:…*` prefix is a LIKE and scans.
CREATE INDEX users_name_search ON users (lower(name));
