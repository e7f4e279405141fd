//! The black-box suite: every test starts the real server on port 0 and talks
//! HTTP to it, on SQLite and (with GRANTOR_TEST_POSTGRES_URL) on PostgreSQL.

#[allow(dead_code)] // each helper is used by some tests, not all
mod support;

mod authorize; // /authorize, login and consent pages, sessions, CSRF, prompt, form_post, /v2/logout
mod bad_input; // malformed bodies, media types, oversize bodies, on both surfaces
mod bootstrap; // first start, restarts, concurrent starts
mod client_credentials; // machine tokens: authentication, audiences, scopes, claims
mod device_flow; // /oauth/device/code and /activate: codes, guessing protection, login, consent, approval
mod discovery; // discovery document, JWKS, healthz
mod interop; // code flow with PKCE, refresh and device flow driven by the oauth2 crate
mod management_auth; // bearer checks (401) and scopes (403)
mod management_client_grants; // /api/v2/client-grants: CRUD, offset and checkpoint paging, effect on tokens
mod management_clients; // /api/v2/clients
mod management_resource_servers; // /api/v2/resource-servers: defaults, validation, system API, token lifetime
mod management_users; // /api/v2/users and /users-by-email: CRUD, paging, search, metadata merge
mod process; // the binary itself: default SQLite file, SIGTERM
mod refresh_tokens; // password grant, rotation, leeway, reuse detection, lifetimes, parallel exchanges
mod revocation; // /oauth/revoke and /oauth/introspect: grant-wide, flag, ownership, immediate effect
mod tenant_settings; // /api/v2/tenants/settings: flags, default_audience, unknown members
