//! Storage conformance suite: every test is written once against `&Store` and
//! instantiated per backend by `conformance_tests!` (in `support`), one module
//! per area.
//!
//! * `<area>::sqlite::*` always runs, on a fresh database file in a temporary
//!   directory (not `sqlite::memory:`: the pool holds several connections).
//! * `<area>::postgres::*` runs when `GRANTOR_TEST_POSTGRES_URL` is set; each
//!   test gets a fresh schema, dropped when the test ends (also when it fails).
//!
//! `migrations` checks that both engines ship the same migrations, statement
//! by statement.

#[macro_use]
mod support;

mod admin_sessions; // dashboard administrator sessions: idleness, age, sign-out, known administrators
mod attempts; // brute-force counters: atomic, windowed reservations
mod bootstrap; // the first start, once, and the tenant settings
mod clients; // clients, APIs and client grants: round trips, conflicts, cascades, paging, system rows
mod codes; // authorization codes: read without writing, spent once
mod grants; // user grants: filters and paging
mod group_commit; // concurrent writes and one-call exchanges: each whole or absent
mod log_streams; // log streams: staging with each event, batches per matching stream, suspension, purge
mod logs; // the audit log: filters, paging both ways
mod metadata; // refresh-token and session metadata (live rows only), public-key device credentials
mod migrations; // migrations/sqlite and migrations/postgres: same versions, same statements
mod outbox; // the outbox: messages written with the change, leased claims, settled once, purged
mod purge; // bounded batches of dead rows
mod pushed_requests; // pushed authorization requests: consumed once, by their client, while live; purged
mod readiness; // the applied migrations are this binary's
mod refresh_tokens; // cap, exchange compare-and-set, rotation pruning, MAC key, live listing
mod revocation; // every revocation target, receipts, epochs
mod sessions; // browser sessions: live listing
mod signing_keys; // rotation and revocation: states, version and audit event in one transaction
mod ssf; // Shared Signals streams: round trips, events queued per matching stream, held, polled, dropped
mod user_search;
mod users; // users: round trip, unique e-mail, filters // the user search: compiled terms with bound values, and the indexes e-mail and user id terms use
