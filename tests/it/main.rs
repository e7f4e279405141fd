//! The black-box suite: every test starts the real server on port 0 and talks
//! HTTP to it, on SQLite and (with GRANTOR_TEST_POSTGRES_URL) on PostgreSQL.

#[allow(dead_code)] // each helper is used by some tests, not all
mod support;

mod account_changes; // blocking, a new password or deleting a user ends their sessions and tokens (CONTRACT §6.3)
mod attacks; // what a read-only attack review proved, each fixed: client-bucket lockout, IPv6 /64 rotation, dashboard sign-in limit, machine-token introspection, /authorize row size
mod authorize; // /authorize, login and consent pages, sessions, CSRF, prompt, form_post, /v2/logout
mod authorize_hints; // /authorize login_hint, ui_locales, max_age, prompt=login: re-authentication keeps the session, auth_time
mod backchannel_logout; // OIDC Back-Channel Logout through the durable outbox: every session end, retries, two processes, slow receivers
mod bad_input; // malformed bodies, media types, oversize bodies, on both surfaces
mod bootstrap; // first start, restarts, concurrent starts
mod browser_hardening; // CSP per page (nonce on form_post), RFC 9207 iss, __Host- CSRF cookie rotated at sign-in
mod brute_force; // brute-force limits: per e-mail and IP, per IP, /activate guesses; reserved before the check, so parallel guesses get no more
mod client_credentials; // machine tokens: authentication, audiences, scopes, claims
mod config_file; // --config grantor.toml: file values used, options and environment override them, unknown keys refused
mod dashboard; // /dashboard: sign-in, CSRF, users and their tabs, revocations, applications, tenant settings
mod dashboard_manage; // /dashboard changes: users, APIs, applications (secret shown once), the Logs page; each audited, CSRF-checked, bad input answered with the form
mod device_flow; // /oauth/device/code and /activate: codes, guessing protection, login, consent, approval
mod discovery;
mod dpop; // DPoP (RFC 9449) at the token endpoint: cnf.jkt, bound refresh tokens of public clients, replay, htu/htm/iat, require_proof_of_possession // discovery document, JWKS, healthz
mod egress; // receivers on internal addresses (SSRF) refused unless the operator allows their network
mod fuzz_http; // property tests: generated requests to every parsing endpoint, on the running server
mod fuzz_units; // property tests: JWT verification, body extractors, /authorize parameters, without a server
mod interop; // code flow with PKCE, refresh and device flow driven by the oauth2 crate
mod limits; // rate limits (429 with X-RateLimit-*), bounded unauthenticated writes, trusted proxies, connection timeouts and cap
mod log_streams; // /api/v2/log-streams and delivery of audit events to http receivers through the outbox: shapes, scopes, order, filters, retries, suspension, pause
mod logs; // /api/v2/logs: events with Auth0 codes, receipts, filters, paging, scopes
mod management_auth; // bearer checks (401) and scopes (403)
mod management_boundary; // the Management API is for machines: user flows refused, client grant read on every call (CONTRACT §6.1)
mod management_client_grants; // /api/v2/client-grants: CRUD, offset and checkpoint paging, effect on tokens
mod management_clients; // /api/v2/clients
mod management_device_credentials; // /api/v2/device-credentials: live refresh tokens as devices, unlink revokes
mod management_device_public_keys; // POST /api/v2/device-credentials (public_key): shapes, listing, delete, private keys refused, scopes
mod management_grants; // /api/v2/grants: clientID, filters, paging; delete revokes tokens and consent
mod management_metadata; // PATCH refresh-tokens/sessions metadata (limits, every read, dashboard, audit), checkpoint cursors (400 for foreign from), refresh-token list filters
mod management_refresh_tokens; // /api/v2/refresh-tokens and users/{id}/refresh-tokens: shape, checkpoints, revocation effects
mod management_resource_servers; // /api/v2/resource-servers: defaults, validation, system API, token lifetime
mod management_sessions; // /api/v2/sessions, users/{id}/sessions, revoke-access: shape, paging, revocation effects
mod management_user_blocks; // /api/v2/user-blocks: brute-force blocks listed and lifted, by e-mail and user id
mod management_users; // /api/v2/users and /users-by-email: CRUD, paging, search, metadata merge
mod management_users_search; // GET /api/v2/users?q= (Auth0 v3 syntax subset), sort, fields, paging; hostile values; 400s that name what is unsupported
mod metrics; // GET /metrics: text format, counters moved by a refresh, reuse, machine token, 429; pool gauges; --metrics-listen
mod multi_resource; // Multi-Resource Refresh Tokens: refresh_token.policies, exchanges for other APIs, resource_servers, every way access ends
mod openapi; // /api/v2/openapi.json: every Management route described, every description served
mod otlp; // --otlp-endpoint: request, flow and store spans exported over OTLP/HTTP to a receiver in the test
mod par; // pushed authorization requests (RFC 9126): /oauth/par, request_uri at /authorize (one use, own client, lifetime), require_pushed_authorization_requests, discovery, purge
mod password_hashing; // the Argon2id bound: waiting, 429 with Retry-After on each surface, no failure counted
mod process; // the binary itself: default SQLite file, SIGTERM, kill -9 durability
mod purge; // the background purge deletes revoked rows while the server runs
mod readiness; // GET /readyz: ready only when the database answers and its migrations are this binary's
mod redirect_urls; // registered URLs: dangerous schemes refused, native schemes work, exact match, never redirected to
mod refresh_tokens; // password grant, rotation, leeway, reuse detection, lifetimes, parallel exchanges
mod request_logs; // a grantor process with JSON logs: one line per request with its X-Request-Id, no secret in any line
mod revocation; // /oauth/revoke and /oauth/introspect: grant-wide, flag, ownership, immediate effect
mod revocation_scale; // one call revokes a user holding 100,000 refresh tokens, on each database
mod signing_keys; // /api/v2/keys/signing and the dashboard page: shapes, scopes, rotation, revocation, two processes
mod ssf; // Shared Signals (SSF 1.0, CAEP, RISC): streams, boundaries, SETs per revocation path, push and poll
mod tenant_settings; // /api/v2/tenants/settings: flags, default_audience, unknown members
mod tls; // native TLS: https issuer, HSTS, Secure cookies, no plain HTTP, handshake timeout, SIGHUP reload, bad options stop the start
