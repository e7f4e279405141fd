-- grantor schema, version 8: brute-force and guessing counters that are
-- reserved before a password or a user code is checked. The same text in
-- migrations/sqlite and migrations/postgres; keep the two files identical.
-- (Versions 6 and 7 belong to other branches; sqlx applies versions in order
-- and does not require them to be contiguous.)
--
-- One row per counter: `kind` is what is counted ('login' and 'dashboard'
-- per account and IP, 'login_ip' per IP, 'activation' per IP),
-- `identifier_hash` the SHA-256 (hex) of the normalised e-mail, or '' for the
-- per-IP kinds; no e-mail or username is stored. `attempts` counts the
-- failures and the checks still in flight in the window that began at
-- `window_start` (milliseconds).
CREATE TABLE attempt_counters (
    counter_key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    identifier_hash TEXT NOT NULL,
    ip TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);
CREATE INDEX attempt_counters_identifier ON attempt_counters (kind, identifier_hash);
CREATE INDEX attempt_counters_window ON attempt_counters (window_start);

-- Replaced by attempt_counters (kind 'activation'); its counts were
-- recorded after the check, so parallel guesses all passed.
DROP TABLE activation_failures;
