// Drives grantor with Auth0's own Node SDK (npm `auth0`, pinned in
// package.json / package-lock.json) and asserts what comes back.
//
// Run by scripts/sdk-tests, which starts a fresh grantor serving TLS itself
// (--tls-cert/--tls-key) and sets:
//
//   GRANTOR_DOMAIN         127.0.0.1:PORT of grantor
//   GRANTOR_ISSUER         https://127.0.0.1:PORT/ (the default issuer with TLS)
//   GRANTOR_CLIENT_ID      the bootstrap Management API client
//   GRANTOR_CLIENT_SECRET  its secret
//   NODE_EXTRA_CA_CERTS    grantor's throw-away certificate
//
// The SDK is used exactly as against a real tenant: `domain` only, no fetch
// override. Management API: `ManagementClient` (v7, generated). Authentication
// API: v7 ships no AuthenticationClient in its main entry point; the same
// package's `auth0/legacy` entry (node-auth0 v4.37 API) does, and that is what
// is driven here, including its ID-token validation against the JWKS.
//
// DPoP and PAR, which node-auth0 does not speak, are driven through
// openid-client (panva's certified RP library, pinned likewise): the
// resources named openid_client_*. The server runs with
// --require-dpop-nonce true, so every DPoP call goes through the nonce dance.
//
// Each resource is one function registered with resource(); add a resource by
// adding a function. A check that fails because of a known server bug goes
// through serverIssue("ID", ...); SDK_TESTS_XFAIL="ID,..." turns those into
// expected failures.

import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createRequire } from "node:module";

import { ManagementClient, ManagementError } from "auth0";
import { AuthApiError, AuthenticationClient, UserInfoClient } from "auth0/legacy";
import * as jose from "jose";
import * as oidc from "openid-client";

const DOMAIN = process.env.GRANTOR_DOMAIN;
const ISSUER = process.env.GRANTOR_ISSUER;
const BOOT_ID = process.env.GRANTOR_CLIENT_ID;
const BOOT_SECRET = process.env.GRANTOR_CLIENT_SECRET;
const MGMT_AUDIENCE = `${ISSUER}api/v2/`;
const XFAIL = new Set((process.env.SDK_TESTS_XFAIL ?? "").split(",").filter(Boolean));
const PASSWORD = "correct horse battery staple";
const DB = "Username-Password-Authentication";
const CALLBACK = "https://app.example.test/callback";

// --- tiny runner ---------------------------------------------------------------

const RESOURCES = [];
const RESULTS = { passed: 0, failed: 0, xfailed: 0 };
const resource = (fn) => RESOURCES.push(fn);

class Check extends Error {}
const show = (v) => JSON.stringify(v);
function check(cond, what) {
  if (!cond) throw new Check(what);
}
function eq(actual, expected, what) {
  if (show(actual) !== show(expected)) {
    throw new Check(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}
const sorted = (xs) => [...xs].sort();
const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 10)}`;

/** An Authentication API call must fail with AuthApiError(status, error). */
async function expectAuthError(promise, status, error, what) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    if (!(e instanceof AuthApiError)) throw e;
    eq(e.statusCode, status, `${what} (status; error ${e.error}: ${e.error_description})`);
    if (error !== undefined) eq(e.error, error, `${what} (error)`);
    return e;
  }
  throw new Check(`${what}: expected ${status} ${error}, call succeeded with ${show(got?.data)}`);
}

async function expectMgmtError(promise, status, what) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    if (!(e instanceof ManagementError)) throw e;
    eq(e.statusCode, status, `${what} (status; body ${show(e.body)})`);
    return e;
  }
  throw new Check(`${what}: expected ${status}, call succeeded with ${show(got)}`);
}

/** One check that fails because of a known server bug (README), counted on its own. */
async function serverIssue(id, description, fn) {
  try {
    await fn();
  } catch (e) {
    const x = XFAIL.has(id);
    RESULTS[x ? "xfailed" : "failed"] += 1;
    console.log(`${x ? "XFAIL" : "FAIL"} node [server issue ${id}] ${description}: ${e.name}: ${e.message}`);
    return;
  }
  RESULTS.passed += 1;
  console.log(`ok   node [server issue ${id}] passes now${XFAIL.has(id) ? " (drop it from SDK_TESTS_XFAIL)" : ""}`);
}

async function all(page) {
  const items = [];
  for await (const item of page) items.push(item);
  return items;
}

// --- context shared by the resources -------------------------------------------

const jwks = jose.createRemoteJWKSet(new URL(`${ISSUER}.well-known/jwks.json`));
/** Claims of a JWT, verified against the server's JWKS. */
async function decode(token) {
  const { payload } = await jose.jwtVerify(token, jwks, { issuer: ISSUER });
  return payload;
}

class Ctx {
  constructor() {
    // The SDK gets its own token (client credentials, default audience
    // https://{domain}/api/v2/) exactly as against Auth0.
    this.mgmt = new ManagementClient({ domain: DOMAIN, clientId: BOOT_ID, clientSecret: BOOT_SECRET, maxRetries: 0 });
    this.auth = new AuthenticationClient({ domain: DOMAIN, clientId: BOOT_ID, clientSecret: BOOT_SECRET });
  }

  api(extra = {}) {
    return this.mgmt.resourceServers.create({
      identifier: `https://${unique("api")}.example.test/`,
      name: unique("API"),
      scopes: [{ value: "read:things", description: "Read" }, { value: "write:things" }],
      allow_offline_access: true,
      ...extra,
    });
  }

  user(extra = {}) {
    return this.mgmt.users.create({
      connection: DB,
      email: `${unique("user")}@example.test`,
      password: PASSWORD,
      ...extra,
    });
  }

  client(extra = {}) {
    return this.mgmt.clients.create({ name: unique("app"), token_endpoint_auth_method: "client_secret_post", ...extra });
  }

  authFor(client) {
    return new AuthenticationClient({ domain: DOMAIN, clientId: client.client_id, clientSecret: client.client_secret });
  }

  /** Password and refresh_token grants; non-rotating unless `extra` says otherwise. */
  passwordApp(extra = {}) {
    return this.client({ grant_types: ["password", "refresh_token"], ...extra });
  }

  /** Password grant with offline_access: a new refresh token under the user's grant for `api`. */
  async login(app, user, api) {
    const { data } = await this.authFor(app).oauth.passwordGrant({
      username: user.email,
      password: PASSWORD,
      scope: "offline_access read:things",
      audience: api.identifier,
    });
    return data.refresh_token;
  }
}

/** The effect of a revocation: the refresh token fails at /oauth/token. */
function refreshFails(ctx, app, refresh_token, what) {
  return expectAuthError(ctx.authFor(app).oauth.refreshTokenGrant({ refresh_token }), 403, "invalid_grant", `${what}: refresh fails`);
}

async function refreshWorks(ctx, app, refresh_token, what) {
  const { data } = await ctx.authFor(app).oauth.refreshTokenGrant({ refresh_token });
  check(data.access_token, `${what}: refresh works`);
}

/** Every page of a checkpoint list, one `getNextPage` at a time (so a `next`
 * on the last page would show up as an extra, empty page). */
async function pages(first) {
  const seen = [first.data];
  let page = first;
  while (page.hasNextPage()) {
    check(seen.length < 100, "the pager does not stop");
    page = await page.getNextPage();
    seen.push(page.data);
  }
  return { items: seen, last: page.response };
}

// --- a browser ---------------------------------------------------------------

/** A browser for the login and consent pages: its own cookies and User-Agent,
 * redirects followed by hand. grantor's sign-in has no SDK method; the SDK
 * takes over at the code exchange. */
class Browser {
  constructor(userAgent) {
    this.userAgent = userAgent;
    this.cookies = new Map();
  }

  async fetch(url, init = {}) {
    const headers = { "user-agent": this.userAgent, ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";")[0];
      const at = pair.indexOf("=");
      const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      if (!value || /max-age=0\b/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  post(url, fields) {
    return this.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

const decodeHtml = (s) =>
  s.replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#60;|&lt;/g, "<").replace(/&#62;|&gt;/g, ">").replace(/&#38;|&amp;/g, "&");

/** The value of the hidden <input name=NAME> of a grantor page. */
function inputValue(page, name) {
  for (const tag of page.match(/<input\b[^>]*>/g) ?? []) {
    if (!tag.includes(`name="${name}"`)) continue;
    const value = tag.match(/value="([^"]*)"/);
    if (value) return decodeHtml(value[1]);
  }
  throw new Check(`no <input name=${name}> on the page: ${page.slice(0, 300)}`);
}

/** GET /authorize, then the login and consent forms (each with its hidden
 * `csrf` input, matching the `grantor_csrf` cookie), until the redirect to
 * `redirect_uri`; returns the authorization code (and keeps the whole
 * redirect in `browser.lastRedirect`). */
async function browserSignIn(browser, email, password, authorize) {
  const base = `https://${DOMAIN}`;
  const query = new URLSearchParams({ response_type: "code", ...authorize });
  let response = await browser.fetch(`${base}/authorize?${query}`);
  let signedIn = false;
  for (let i = 0; i < 6; i++) {
    const page = await response.text();
    if (response.status === 200 && page.includes('action="/u/login"')) {
      check(!signedIn, "the login page came back after signing in");
      signedIn = true;
      response = await browser.post(`${base}/u/login`, {
        csrf: inputValue(page, "csrf"),
        request: inputValue(page, "request"),
        username: email,
        password,
      });
    } else if (response.status === 200 && page.includes('action="/u/consent"')) {
      response = await browser.post(`${base}/u/consent`, {
        csrf: inputValue(page, "csrf"),
        request: inputValue(page, "request"),
        decision: "accept",
      });
    } else if ([302, 303].includes(response.status) && response.headers.get("location")) {
      const location = new URL(response.headers.get("location"), `${base}/`).toString();
      if (location.startsWith(authorize.redirect_uri)) {
        const code = new URL(location).searchParams.get("code");
        check(code, `no code in the redirect: ${location}`);
        browser.lastRedirect = location;
        return code;
      }
      response = await browser.fetch(location);
    } else {
      throw new Check(`sign-in stopped at ${response.status}: ${page.slice(0, 300)}`);
    }
  }
  throw new Check("sign-in: too many pages");
}

// --- Authentication API -------------------------------------------------------

resource(async function client_credentials(ctx) {
  const { data: token } = await ctx.auth.oauth.clientCredentialsGrant({ audience: MGMT_AUDIENCE });
  eq(token.token_type, "Bearer", "token_type");
  check(Number.isInteger(token.expires_in) && token.expires_in > 0, `expires_in ${show(token)}`);
  check(!("refresh_token" in token) && !("id_token" in token), `machine token only: ${show(token)}`);
  const claims = await decode(token.access_token);
  eq(claims.aud, MGMT_AUDIENCE, "aud");
  eq(claims.gty, "client-credentials", "gty");
  eq(claims.sub, `${BOOT_ID}@clients`, "sub");
  check(claims.scope.split(" ").includes("read:clients"), `scope ${claims.scope}`);
  const bad = new AuthenticationClient({ domain: DOMAIN, clientId: BOOT_ID, clientSecret: "not-the-secret" });
  await expectAuthError(bad.oauth.clientCredentialsGrant({ audience: MGMT_AUDIENCE }), 401, "access_denied", "wrong secret");
  await expectAuthError(
    ctx.auth.oauth.clientCredentialsGrant({ audience: "https://nope.example.test/" }),
    403,
    "access_denied",
    "unknown audience",
  );
});

resource(async function password_refresh_revoke_userinfo(ctx) {
  const api = await ctx.api();
  const user = await ctx.user({ name: "Ann Example" });
  const app = await ctx.client({
    grant_types: ["password", "refresh_token"],
    refresh_token: { rotation_type: "rotating", expiration_type: "expiring", leeway: 0 },
  });
  const auth = ctx.authFor(app);
  const login = (scope) =>
    auth.oauth.passwordGrant({ username: user.email, password: PASSWORD, scope, audience: api.identifier });

  // Password grant with openid: the SDK validates the ID token itself (RS256
  // signature from https://{domain}/.well-known/jwks.json, iss, aud, exp, iat).
  const { data: first } = await login("openid profile email offline_access read:things");
  eq(first.token_type, "Bearer", "token_type");
  eq(sorted(first.scope.split(" ")), sorted(["openid", "profile", "email", "offline_access", "read:things"]), "scope");
  const id = await decode(first.id_token);
  eq([id.sub, id.aud, id.email], [user.user_id, app.client_id, user.email], "id token claims");
  check(first.refresh_token.length >= 43, "refresh token has at least 256 bits");
  const access = await decode(first.access_token);
  eq([access.sub, access.azp], [user.user_id, app.client_id], "access token sub, azp");
  check(access.aud.includes(api.identifier) && access.aud.includes(`${ISSUER}userinfo`), `aud ${show(access.aud)}`);

  // /userinfo with that access token.
  const { data: info } = await new UserInfoClient({ domain: DOMAIN }).getUserInfo(first.access_token);
  eq([info.sub, info.email, info.name], [user.user_id, user.email, "Ann Example"], "userinfo");

  // Refresh: a rotating client gets a new refresh token in the same family.
  const { data: second } = await auth.oauth.refreshTokenGrant({ refresh_token: first.refresh_token });
  check(second.refresh_token && second.refresh_token !== first.refresh_token, "rotation returns a new refresh token");
  eq((await decode(second.access_token)).sub, user.user_id, "refreshed sub");
  const { data: third } = await auth.oauth.refreshTokenGrant({ refresh_token: second.refresh_token, scope: "read:things" });
  eq(third.scope, "read:things", "narrowed scope");
  // Reuse of a rotated-out token: 403 invalid_grant, and the family is revoked.
  await expectAuthError(auth.oauth.refreshTokenGrant({ refresh_token: first.refresh_token }), 403, "invalid_grant", "reuse");
  await expectAuthError(auth.oauth.refreshTokenGrant({ refresh_token: third.refresh_token }), 403, "invalid_grant", "family revoked");

  // /oauth/revoke (JSON body), then the token fails at /oauth/token.
  const { data: fresh } = await login("offline_access read:things");
  const revoked = await auth.oauth.revokeRefreshToken({ token: fresh.refresh_token });
  eq(revoked.status, 200, "revoke status");
  const e = await expectAuthError(
    auth.oauth.refreshTokenGrant({ refresh_token: fresh.refresh_token }),
    403,
    "invalid_grant",
    "revoked refresh token",
  );
  eq(e.error_description, "Unknown or invalid refresh token.", "error_description");
  eq((await auth.oauth.revokeRefreshToken({ token: "not-a-token" })).status, 200, "revoke of an unknown token");
  const wrong = new AuthenticationClient({ domain: DOMAIN, clientId: app.client_id, clientSecret: "wrong" });
  await expectAuthError(wrong.oauth.revokeRefreshToken({ token: "x" }), 401, undefined, "revoke with a wrong secret");

  // A client without the password grant, and a wrong password.
  const plain = ctx.authFor(await ctx.client());
  await expectAuthError(
    plain.oauth.passwordGrant({ username: user.email, password: PASSWORD, audience: api.identifier }),
    403,
    "unauthorized_client",
    "password grant not enabled",
  );
  await expectAuthError(
    auth.oauth.passwordGrant({ username: user.email, password: "wrong", audience: api.identifier }),
    403,
    "invalid_grant",
    "wrong password",
  );
});

// --- Management API -----------------------------------------------------------

resource(async function clients(ctx) {
  const m = ctx.mgmt.clients;
  const name = unique("app");
  const created = await m.create({
    name,
    description: "made by the SDK suite",
    app_type: "regular_web",
    is_first_party: true,
    token_endpoint_auth_method: "client_secret_post",
    grant_types: ["authorization_code", "refresh_token", "client_credentials"],
    callbacks: ["https://app.example.test/callback"],
    allowed_logout_urls: ["https://app.example.test/"],
    refresh_token: {
      rotation_type: "rotating",
      expiration_type: "expiring",
      leeway: 3,
      token_lifetime: 7200,
      idle_token_lifetime: 3600,
      infinite_token_lifetime: false,
      infinite_idle_token_lifetime: false,
    },
  });
  check(created.client_id, "client_id");
  check(created.client_secret?.length >= 32, "secret shown on create");
  eq(created.name, name, "name");
  eq(created.grant_types, ["authorization_code", "refresh_token", "client_credentials"], "grant_types");
  eq(created.callbacks, ["https://app.example.test/callback"], "callbacks");
  const rt = created.refresh_token;
  eq([rt.rotation_type, rt.expiration_type, rt.leeway, rt.token_lifetime, rt.idle_token_lifetime], ["rotating", "expiring", 3, 7200, 3600], "refresh_token");

  const got = await m.get(created.client_id);
  eq([got.name, got.description, got.is_first_party], [name, "made by the SDK suite", true], "get");
  eq(got.client_secret, undefined, "secret never shown on read (deliberate difference)");

  // list: offset paging with include_totals=true; the pager walks every page.
  const ids = (await all(await m.list())).map((c) => c.client_id);
  check(ids.includes(created.client_id) && ids.includes(BOOT_ID), "list has the new and the bootstrap client");
  const page = await m.list({ per_page: 1, page: 0 });
  eq(page.data.length, 1, "per_page=1");
  check(page.response.total >= 2, `total ${page.response.total}`);
  eq((await all(await m.list({ per_page: 1 }))).length, ids.length, "paging one by one sees every client");

  const updated = await m.update(created.client_id, {
    name: `${name}-renamed`,
    callbacks: ["https://app.example.test/cb2"],
    refresh_token: { rotation_type: "non-rotating", expiration_type: "non-expiring" },
  });
  eq([updated.name, updated.callbacks, updated.refresh_token.rotation_type], [`${name}-renamed`, ["https://app.example.test/cb2"], "non-rotating"], "update");
  eq((await m.get(created.client_id)).name, `${name}-renamed`, "update persisted");

  const rotated = await m.rotateSecret(created.client_id);
  check(rotated.client_secret && rotated.client_secret !== created.client_secret, "new secret");
  const old = ctx.authFor(created);
  await expectAuthError(old.oauth.clientCredentialsGrant({ audience: MGMT_AUDIENCE }), 401, "access_denied", "old secret");
  const fresh = ctx.authFor({ client_id: created.client_id, client_secret: rotated.client_secret });
  // Authenticated now, but no client grant for the Management API: 403.
  await expectAuthError(fresh.oauth.clientCredentialsGrant({ audience: MGMT_AUDIENCE }), 403, "access_denied", "new secret, no grant");

  await expectMgmtError(m.get("no-such-client"), 404, "unknown client");
  await m.delete(created.client_id);
  await expectMgmtError(m.get(created.client_id), 404, "deleted client");
});

resource(async function users(ctx) {
  const m = ctx.mgmt.users;
  const email = `${unique("Mixed.Case")}@Example.test`;
  const created = await m.create({
    connection: DB,
    email,
    password: PASSWORD,
    email_verified: true,
    name: "Bea Example",
    given_name: "Bea",
    family_name: "Example",
    user_metadata: { theme: "dark" },
    app_metadata: { plan: "gold" },
  });
  check(created.user_id.startsWith("auth0|"), `user_id ${created.user_id}`);
  eq([created.email, created.email_verified, created.name], [email.toLowerCase(), true, "Bea Example"], "create");
  eq([created.user_metadata, created.app_metadata], [{ theme: "dark" }, { plan: "gold" }], "metadata");
  eq([created.identities[0].connection, created.identities[0].provider], [DB, "auth0"], "identity");

  const got = await m.get(created.user_id);
  eq([got.user_id, got.given_name], [created.user_id, "Bea"], "get");
  await expectMgmtError(m.create({ connection: DB, email, password: PASSWORD }), 409, "duplicate user");

  eq((await all(await m.list({ q: `email:"${email.toLowerCase()}"` }))).map((u) => u.user_id), [created.user_id], "list q=email");
  // User search (Auth0's v3 syntax, the subset grantor answers): a prefix,
  // AND, sort and fields; a leading wildcard is a 400, never ignored.
  const prefix = email.toLowerCase().split("@")[0];
  const searched = await all(await m.list({
    q: `email:${prefix}* AND blocked:false`, search_engine: "v3", sort: "email:1", fields: "user_id,email", include_fields: true,
  }));
  eq(searched.map((u) => [u.user_id, u.email]), [[created.user_id, email.toLowerCase()]], "search: prefix AND blocked");
  await expectMgmtError(m.list({ q: "email:*@example.test", search_engine: "v3" }), 400, "search: a leading wildcard");
  eq((await m.listUsersByEmail({ email })).map((u) => u.user_id), [created.user_id], "users-by-email");
  const page = await m.list({ per_page: 1, page: 0 });
  eq(page.data.length, 1, "per_page=1");
  check(page.response.total >= 1, "total");

  const updated = await m.update(created.user_id, { name: "Bea Renamed", user_metadata: { theme: "light" }, blocked: true });
  eq([updated.name, updated.user_metadata, updated.blocked], ["Bea Renamed", { theme: "light" }, true], "update");
  eq((await m.get(created.user_id)).blocked, true, "update persisted");

  await m.delete(created.user_id);
  await expectMgmtError(m.get(created.user_id), 404, "deleted user");

  // An id of one's own (without the auth0| prefix) and a phone number.
  const own = unique("legacy");
  const mine = await m.create({
    connection: DB,
    user_id: own,
    email: `${own}@example.test`,
    password: PASSWORD,
    phone_number: "+14155550123",
    phone_verified: true,
  });
  eq([mine.user_id, mine.identities[0].user_id, mine.phone_number, mine.phone_verified], [`auth0|${own}`, own, "+14155550123", true], "create");
  eq((await m.get(mine.user_id)).phone_number, "+14155550123", "phone stored");
  eq((await m.update(mine.user_id, { phone_verified: false })).phone_verified, false, "update phone_verified");
  await expectMgmtError(m.create({ connection: DB, user_id: own, email: `x-${own}@example.test`, password: PASSWORD }), 409, "a taken user_id");
  await expectMgmtError(m.create({ connection: DB, user_id: "auth0|x", email: `y-${own}@example.test`, password: PASSWORD }), 400, "a user_id with the prefix");
  await m.delete(mine.user_id);
});

resource(async function resource_servers(ctx) {
  const m = ctx.mgmt.resourceServers;
  const identifier = `https://${unique("orders")}.example.test/`;
  const created = await m.create({
    identifier,
    name: "Orders",
    scopes: [{ value: "read:orders", description: "Read orders" }, { value: "write:orders" }],
    signing_alg: "RS256",
    allow_offline_access: true,
    token_lifetime: 3600,
    skip_consent_for_verifiable_first_party_clients: true,
  });
  check(created.id, "id");
  eq([created.identifier, created.signing_alg, created.allow_offline_access, created.token_lifetime], [identifier, "RS256", true, 3600], "create");
  eq(created.scopes.map((s) => s.value), ["read:orders", "write:orders"], "scopes");
  eq((await m.get(created.id)).identifier, identifier, "get by id");
  eq((await m.get(identifier)).id, created.id, "get by identifier");
  const listed = await all(await m.list());
  check(listed.some((r) => r.id === created.id), "list");
  check(listed.some((r) => r.identifier === MGMT_AUDIENCE), "list has the Management API");

  const updated = await m.update(created.id, { name: "Orders v2", token_lifetime: 600, scopes: [{ value: "read:orders" }] });
  eq([updated.name, updated.token_lifetime, updated.scopes.map((s) => s.value)], ["Orders v2", 600, ["read:orders"]], "update");
  await expectMgmtError(m.create({ identifier, name: "dup" }), 409, "duplicate identifier");
  await m.delete(created.id);
  await expectMgmtError(m.get(created.id), 404, "deleted resource server");
});

resource(async function client_grants(ctx) {
  const m = ctx.mgmt.clientGrants;
  const api = await ctx.api();
  const app = await ctx.client({ grant_types: ["client_credentials"] });
  const machine = ctx.authFor(app);
  await expectAuthError(machine.oauth.clientCredentialsGrant({ audience: api.identifier }), 403, "access_denied", "no grant yet");

  const created = await m.create({ client_id: app.client_id, audience: api.identifier, scope: ["read:things"] });
  eq([created.client_id, created.audience, created.scope], [app.client_id, api.identifier, ["read:things"]], "create");
  const claims = await decode((await machine.oauth.clientCredentialsGrant({ audience: api.identifier })).data.access_token);
  eq([claims.aud, claims.scope], [api.identifier, "read:things"], "machine token");

  eq((await m.get(created.id)).audience, api.identifier, "get");
  eq((await all(await m.list({ client_id: app.client_id }))).map((g) => g.id), [created.id], "list client_id=");
  eq((await all(await m.list({ audience: api.identifier }))).map((g) => g.id), [created.id], "list audience=");
  const allIds = (await all(await m.list())).map((g) => g.id);
  eq((await all(await m.list({ take: 1 }))).map((g) => g.id), allIds, "checkpoint paging one by one");

  const updated = await m.update(created.id, { scope: ["read:things", "write:things"] });
  eq(sorted(updated.scope), ["read:things", "write:things"], "update scope");
  await expectMgmtError(m.create({ client_id: app.client_id, audience: api.identifier, scope: [] }), 409, "duplicate");
  await m.delete(created.id);
  await expectMgmtError(m.get(created.id), 404, "deleted client grant");
  await expectAuthError(machine.oauth.clientCredentialsGrant({ audience: api.identifier }), 403, "access_denied", "grant deleted");
});

resource(async function tenant_settings(ctx) {
  const s = ctx.mgmt.tenants.settings;
  eq((await s.get()).flags.revoke_refresh_token_grant, false, "flag defaults to false");
  eq((await s.update({ flags: { revoke_refresh_token_grant: true } })).flags.revoke_refresh_token_grant, true, "flag on");
  eq((await s.get()).flags.revoke_refresh_token_grant, true, "flag persisted");
  const api = await ctx.api();
  eq((await s.update({ default_audience: api.identifier })).default_audience, api.identifier, "default_audience");
  await s.update({ flags: { revoke_refresh_token_grant: false }, default_audience: "" });
  const got = await s.get();
  eq([got.flags.revoke_refresh_token_grant, got.default_audience ?? ""], [false, ""], "settings restored");
});

resource(async function user_grants(ctx) {
  const m = ctx.mgmt.userGrants;
  const settings = ctx.mgmt.tenants.settings;
  const [api, user, bystander] = [await ctx.api(), await ctx.user(), await ctx.user()];
  const [app, other] = [await ctx.passwordApp(), await ctx.passwordApp()];
  let rt = await ctx.login(app, user, api);
  const otherRt = await ctx.login(other, user, api);
  await ctx.login(app, bystander, api);
  const ofUser = async (extra = {}) => all(await m.list({ user_id: user.user_id, ...extra }));

  // The SDK's UserGrant keeps the wire's `clientID`.
  const grants = await ofUser();
  eq(sorted(grants.map((g) => g.clientID)), sorted([app.client_id, other.client_id]), "grants, clientID");
  const grant = grants.find((g) => g.clientID === app.client_id);
  eq([grant.user_id, grant.audience], [user.user_id, api.identifier], "grant user_id, audience");
  check(grant.scope.includes("read:things"), `grant scope ${show(grant.scope)}`);
  eq((await ofUser({ client_id: app.client_id })).map((g) => g.id), [grant.id], "list client_id=");
  eq((await ofUser({ audience: api.identifier })).length, 2, "list audience=");
  const page = await m.list({ user_id: user.user_id, per_page: 1, page: 0 });
  eq([page.data.length, page.response.total], [1, 2], "per_page=1 and total");
  eq(sorted((await ofUser({ per_page: 1 })).map((g) => g.id)), sorted(grants.map((g) => g.id)), "paging");

  // /oauth/revoke: "Refresh Token Revocation Deletes Grant" off keeps the grant, on deletes it.
  try {
    await settings.update({ flags: { revoke_refresh_token_grant: false } });
    await ctx.authFor(app).oauth.revokeRefreshToken({ token: rt });
    await refreshFails(ctx, app, rt, "/oauth/revoke, flag off");
    eq((await ofUser({ client_id: app.client_id })).map((g) => g.id), [grant.id], "flag off keeps the grant");
    await settings.update({ flags: { revoke_refresh_token_grant: true } });
    rt = await ctx.login(app, user, api);
    await ctx.authFor(app).oauth.revokeRefreshToken({ token: rt });
    await refreshFails(ctx, app, rt, "/oauth/revoke, flag on");
    eq(await ofUser({ client_id: app.client_id }), [], "flag on deletes the grant");
  } finally {
    await settings.update({ flags: { revoke_refresh_token_grant: false } });
  }

  // delete(id), then deleteByUserId: the grants go, with their refresh tokens.
  rt = await ctx.login(app, user, api);
  const [again] = await ofUser({ client_id: app.client_id });
  check(again.id !== grant.id, "a new grant after the old one was deleted");
  await m.delete(again.id);
  await refreshFails(ctx, app, rt, "deleted grant");
  eq(await ofUser({ client_id: app.client_id }), [], "deleted grant is gone");
  await expectMgmtError(m.delete(again.id), 404, "deleting it again");
  await refreshWorks(ctx, other, otherRt, "another grant of the user");
  await m.deleteByUserId({ user_id: user.user_id });
  eq(await ofUser(), [], "deleteByUserId");
  await refreshFails(ctx, other, otherRt, "deleteByUserId");
  eq((await all(await m.list({ user_id: bystander.user_id }))).length, 1, "another user's grant stays");
});

resource(async function device_credentials(ctx) {
  const m = ctx.mgmt.deviceCredentials;
  const [api, user] = [await ctx.api(), await ctx.user()];
  const [app, other] = [await ctx.passwordApp(), await ctx.passwordApp()];
  const rt = await ctx.login(app, user, api);
  const otherRt = await ctx.login(other, user, api);
  const list = async (extra = {}) => all(await m.list({ user_id: user.user_id, ...extra }));

  const creds = await list({ type: "refresh_token" });
  eq(creds.length, 2, "one credential per refresh token");
  for (const c of creds) {
    eq([c.type, c.user_id], ["refresh_token", user.user_id], "type and user_id");
    check(c.device_name, `device_name ${show(c.device_name)}`);
  }
  eq(sorted(creds.map((c) => c.client_id)), sorted([app.client_id, other.client_id]), "client_id");
  const [mine, ...rest] = await list({ client_id: app.client_id, type: "refresh_token" });
  eq([mine.client_id, rest.length], [app.client_id, 0], "list client_id=");
  eq(await list({ type: "public_key" }), [], "no public keys");
  const page = await m.list({ user_id: user.user_id, per_page: 1, page: 0 });
  eq([page.data.length, page.response.total], [1, 2], "per_page=1 and total");
  eq(sorted((await list({ per_page: 1 })).map((c) => c.id)), sorted(creds.map((c) => c.id)), "paging");
  eq((await ctx.mgmt.refreshTokens.get(mine.id)).client_id, app.client_id, "the id is the refresh token's id");

  // createPublicKey: a device's public key for a user (grantor's callers are
  // machines, so user_id goes in the body) and a client.
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const keyBody = (value, device_id) => ({
    device_name: "sdk-tests phone", type: "public_key", value, device_id, client_id: app.client_id, user_id: user.user_id,
  });
  const created = await m.createPublicKey(keyBody(spki, "0a1b2c3d"));
  check(created.id.startsWith("dcr_"), `createPublicKey id ${show(created.id)}`);
  const [pk, ...others] = await list({ type: "public_key" });
  eq([pk.id, pk.type, pk.device_id, pk.client_id, others.length], [created.id, "public_key", "0a1b2c3d", app.client_id, 0], "public key listed");
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
  await expectMgmtError(m.createPublicKey(keyBody(pkcs8, "0a1b2c3e")), 400, "a private key as value");
  await expectMgmtError(m.createPublicKey(keyBody(spki, "0a1b2c3d")), 409, "a second key for the device");
  await m.delete(created.id);
  eq(await list({ type: "public_key" }), [], "public key deleted");

  await m.delete(mine.id);
  await refreshFails(ctx, app, rt, "deleted device credential");
  await refreshWorks(ctx, other, otherRt, "the other device");
  eq((await list()).map((c) => c.client_id), [other.client_id], "deleted credential is gone");
  await expectMgmtError(m.delete("dcr_0000000000000000"), 404, "unknown credential");
});

resource(async function refresh_tokens(ctx) {
  const m = ctx.mgmt.refreshTokens;
  const [api, user] = [await ctx.api(), await ctx.user()];
  const rotating = await ctx.passwordApp({
    refresh_token: { rotation_type: "rotating", expiration_type: "expiring", leeway: 0, token_lifetime: 86400, idle_token_lifetime: 3600 },
  });
  const plain = await ctx.passwordApp();
  const first = await ctx.login(rotating, user, api);
  const second = await ctx.login(rotating, user, api);
  const third = await ctx.login(plain, user, api);
  const list = async (extra = {}) => all(await m.list({ user_id: user.user_id, ...extra }));

  const tokens = await list();
  const ids = tokens.map((t) => t.id);
  eq(ids.length, 3, "three refresh tokens");
  eq(ids, sorted(ids), "sorted by id");
  for (const t of tokens) {
    eq([t.user_id, t.resource_servers.map((r) => r.audience), t.session_id], [user.user_id, [api.identifier], null], "token");
    check(t.resource_servers[0].scopes.split(" ").includes("read:things"), "scopes is one string");
  }
  eq((await list({ client_id: rotating.client_id })).length, 2, "list client_id=");
  const [plainToken] = await list({ client_id: plain.client_id });
  eq(plainToken.rotating, false, "non-rotating");
  // Checkpoint paging: `next` on every page but the last, so the pager stops.
  const walked = await pages(await m.list({ user_id: user.user_id, take: 1 }));
  eq(walked.items.flat().map((t) => t.id), ids, "take=1 walks every token");
  eq(walked.items.length, 3, "three pages, no empty one");
  eq(walked.last.next, undefined, "no next on the last page");
  eq((await m.list({ user_id: user.user_id, take: 3 })).response.next, undefined, "one full page has no next");
  const byUser = await pages(await ctx.mgmt.users.refreshToken.list(user.user_id, { take: 1 }));
  eq(byUser.items.flat().map((t) => t.id), ids, "users.refreshToken.list");

  // A rotation keeps the id; the exchange shows in last_exchanged_at.
  const { data: exchanged } = await ctx.authFor(rotating).oauth.refreshTokenGrant({ refresh_token: first });
  const after = await list({ client_id: rotating.client_id });
  eq(sorted(after.map((t) => t.id)), sorted(tokens.filter((t) => t.rotating).map((t) => t.id)), "rotation keeps the id");
  const firstId = after.find((t) => t.last_exchanged_at).id;
  const secondId = after.find((t) => t.id !== firstId).id;
  const got = await m.get(firstId);
  eq([got.id, got.client_id, got.rotating], [firstId, rotating.client_id, true], "get");
  check(got.expires_at && got.idle_expires_at, "expiring token has both expiries");
  check(got.device.initial_ip && got.device.initial_user_agent, `device ${show(got.device)}`);

  // update: refresh_token_metadata on every read; {} clears it.
  const updated = await m.update(firstId, { refresh_token_metadata: { device: "kitchen tablet" } });
  eq(updated.refresh_token_metadata, { device: "kitchen tablet" }, "update refresh_token_metadata");
  eq((await m.get(firstId)).refresh_token_metadata, { device: "kitchen tablet" }, "get shows the metadata");
  eq((await list()).find((t) => t.id === firstId).refresh_token_metadata, { device: "kitchen tablet" }, "list shows the metadata");
  const tooMany = Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`k${i}`, "v"]));
  await expectMgmtError(m.update(firstId, { refresh_token_metadata: tooMany }), 400, "26 metadata entries");
  check(!(await m.update(firstId, { refresh_token_metadata: {} })).refresh_token_metadata, "{} clears the metadata");
  await expectMgmtError(m.update("no-such-token", { refresh_token_metadata: { a: "b" } }), 404, "update unknown token");
  // A cursor grantor did not issue is a 400, not an empty page.
  await expectMgmtError(m.list({ user_id: user.user_id, from: "garbage" }), 400, "garbage from");

  await m.delete(firstId);
  await refreshFails(ctx, rotating, exchanged.refresh_token, "deleted refresh token");
  await expectMgmtError(m.get(firstId), 404, "deleted token");
  await m.revoke({ ids: [secondId] });
  await refreshFails(ctx, rotating, second, "revoked by id");
  await refreshWorks(ctx, plain, third, "a token not listed");

  const otherApi = await ctx.api();
  const fourth = await ctx.login(plain, user, otherApi);
  await m.revoke({ user_id: user.user_id, client_id: plain.client_id, audience: otherApi.identifier });
  await refreshFails(ctx, plain, fourth, "revoked for one client and API");
  await refreshWorks(ctx, plain, third, "the same client's other API");
  const fifth = await ctx.login(rotating, user, api);
  await m.revoke({ user_id: user.user_id, client_id: plain.client_id });
  await refreshFails(ctx, plain, third, "revoked for one client");
  eq((await list()).map((t) => t.client_id), [rotating.client_id], "one token left");
  await m.revoke({ user_id: user.user_id });
  await refreshFails(ctx, rotating, fifth, "revoked for the user");

  const sixth = await ctx.login(plain, user, api);
  await refreshWorks(ctx, plain, sixth, "a token issued after a user-wide revocation");
  await ctx.mgmt.users.refreshToken.delete(user.user_id);
  await refreshFails(ctx, plain, sixth, "users.refreshToken.delete");
  eq(await all(await ctx.mgmt.users.refreshToken.list(user.user_id)), [], "none left");

  await expectMgmtError(m.get("no-such-token"), 404, "unknown token");
  await expectMgmtError(m.list({ user_id: "auth0|nobody" }), 404, "unknown user");
  await expectMgmtError(m.revoke({ user_id: user.user_id, audience: api.identifier }), 400, "audience without client_id");
});

resource(async function multi_resource_refresh_tokens(ctx) {
  // refresh_token.policies through clients.create/get/update; a refresh
  // exchange for a policy API through oauth.refreshTokenGrant({ audience });
  // the refresh token's resource_servers.
  const [api, user] = [await ctx.api(), await ctx.user()];
  const billing = await ctx.api({ skip_consent_for_verifiable_first_party_clients: true });
  const app = await ctx.passwordApp({
    refresh_token: {
      rotation_type: "rotating", expiration_type: "expiring", leeway: 0,
      policies: [{ audience: billing.identifier, scope: ["read:things"] }],
    },
  });
  eq(app.refresh_token.policies, [{ audience: billing.identifier, scope: ["read:things"] }], "create with policies");
  eq((await ctx.mgmt.clients.get(app.client_id)).refresh_token.policies.map((p) => p.audience), [billing.identifier], "get shows policies");

  const auth = ctx.authFor(app);
  const rt = await ctx.login(app, user, api);
  const { data: exchanged } = await auth.oauth.refreshTokenGrant({
    refresh_token: rt, audience: billing.identifier, scope: "read:things write:things",
  });
  const firstAud = (claims) => (Array.isArray(claims.aud) ? claims.aud[0] : claims.aud);
  eq(firstAud(await decode(exchanged.access_token)), billing.identifier, "access token for the policy API");
  eq(exchanged.scope, "read:things", "scope narrowed to the policy");
  const [token] = await all(await ctx.mgmt.refreshTokens.list({ user_id: user.user_id }));
  eq(token.resource_servers.map((r) => [r.audience, r.scopes]),
    [[api.identifier, "offline_access read:things"], [billing.identifier, "read:things"]], "resource_servers lists both APIs");
  eq((await ctx.mgmt.refreshTokens.get(token.id)).resource_servers.length, 2, "get shows both");

  // Removing the policies (null) stops the policy API at once.
  const updated = await ctx.mgmt.clients.update(app.client_id, {
    refresh_token: { rotation_type: "rotating", expiration_type: "expiring", policies: null },
  });
  check(!updated.refresh_token.policies, "policies cleared");
  const { data: again } = await auth.oauth.refreshTokenGrant({ refresh_token: exchanged.refresh_token, audience: billing.identifier });
  eq(firstAud(await decode(again.access_token)), api.identifier, "no policy: the token's own API");
  eq((await ctx.mgmt.refreshTokens.get(token.id)).resource_servers.map((r) => r.audience), [api.identifier], "only its own API left");
  await expectMgmtError(
    ctx.mgmt.clients.update(app.client_id, {
      refresh_token: { rotation_type: "rotating", expiration_type: "expiring", policies: [{ audience: MGMT_AUDIENCE, scope: ["read:users"] }] },
    }),
    400, "a policy for the Management API",
  );
});

resource(async function sessions(ctx) {
  const [m, ofUser] = [ctx.mgmt.sessions, ctx.mgmt.users.sessions];
  const [api, user] = [await ctx.api(), await ctx.user()];
  const web = await ctx.client({ app_type: "regular_web", callbacks: [CALLBACK], grant_types: ["authorization_code", "refresh_token"] });
  const auth = ctx.authFor(web);
  const signIn = async (browser) => {
    const code = await browserSignIn(browser, user.email, PASSWORD, {
      client_id: web.client_id,
      redirect_uri: CALLBACK,
      scope: "openid offline_access read:things",
      audience: api.identifier,
    });
    // The SDK's code exchange validates the ID token (JWKS, iss, aud) itself.
    const { data } = await auth.oauth.authorizationCodeGrant({ code, redirect_uri: CALLBACK });
    return [data.refresh_token, (await decode(data.id_token)).sid];
  };
  const live = async () => (await all(await ofUser.list(user.user_id))).map((s) => s.id);

  const browsers = [1, 2, 3].map((n) => new Browser(`sdk-tests browser ${n}`));
  const [[rt1, s1], [rt2, s2], [rt3, s3]] = [await signIn(browsers[0]), await signIn(browsers[1]), await signIn(browsers[2])];
  eq(sorted(await live()), sorted([s1, s2, s3]), "users.sessions.list");
  const got = await m.get(s1);
  eq([got.id, got.user_id, got.clients.map((c) => c.client_id)], [s1, user.user_id, [web.client_id]], "get");
  eq([got.device.initial_user_agent, got.authentication.methods[0].name], ["sdk-tests browser 1", "pwd"], "device, method");
  eq((await m.update(s1, { session_metadata: { risk: "low" } })).session_metadata, { risk: "low" }, "update session_metadata");
  eq((await m.get(s1)).session_metadata, { risk: "low" }, "get shows the session metadata");
  check(!(await m.update(s1, { session_metadata: {} })).session_metadata, "{} clears the session metadata");
  await expectMgmtError(m.update("no-such-session", { session_metadata: { a: "b" } }), 404, "update unknown session");
  await expectMgmtError(ofUser.list(user.user_id, { from: "garbage" }), 400, "garbage from (sessions)");
  const bound = (await all(await ctx.mgmt.refreshTokens.list({ user_id: user.user_id }))).map((t) => t.session_id);
  eq(sorted(bound), sorted([s1, s2, s3]), "each refresh token names its session");
  const walked = await pages(await ofUser.list(user.user_id, { take: 1 }));
  eq([walked.items.length, walked.last.next], [3, undefined], "take=1: three pages, no next on the last");

  await m.revoke(s1);
  await refreshFails(ctx, web, rt1, "revoked session");
  await expectMgmtError(m.get(s1), 404, "revoked session");
  await refreshWorks(ctx, web, rt2, "another session's token");
  await m.delete(s2);
  await refreshFails(ctx, web, rt2, "deleted session");
  await ctx.mgmt.users.revokeAccess(user.user_id, { session_id: s3, preserve_refresh_tokens: true });
  await expectMgmtError(m.get(s3), 404, "session of revokeAccess");
  await refreshWorks(ctx, web, rt3, "preserve_refresh_tokens");
  eq(await live(), [], "no sessions left");

  const [rt4, s4] = await signIn(browsers[0]);
  await ctx.mgmt.users.revokeAccess(user.user_id);
  await refreshFails(ctx, web, rt4, "revokeAccess");
  await refreshFails(ctx, web, rt3, "revokeAccess (the preserved token too)");
  await expectMgmtError(m.get(s4), 404, "revokeAccess session");
  const [rt5] = await signIn(browsers[1]);
  const [rt6] = await signIn(browsers[2]);
  await ofUser.delete(user.user_id);
  await refreshFails(ctx, web, rt5, "users.sessions.delete");
  await refreshFails(ctx, web, rt6, "users.sessions.delete");
  eq(await live(), [], "no sessions left");

  await expectMgmtError(m.get("no-such-session"), 404, "unknown session");
  await expectMgmtError(m.revoke("no-such-session"), 404, "revoke unknown session");
  await expectMgmtError(ofUser.list("auth0|nobody"), 404, "unknown user");
});

resource(async function logs(ctx) {
  const [api, user, app] = [await ctx.api(), await ctx.user(), await ctx.passwordApp()];
  const rt = await ctx.login(app, user, api);
  const [token] = await all(await ctx.mgmt.refreshTokens.list({ user_id: user.user_id }));
  await ctx.authFor(app).oauth.revokeRefreshToken({ token: rt });

  // logs.list sends `search=`; grantor reads user_id, client_id and type clauses.
  const found = await all(await ctx.mgmt.logs.list({ search: `user_id:"${user.user_id}" AND type:srrt` }));
  eq(found.length, 1, "one revocation");
  const [event] = found;
  eq([event.type, event.user_id, event.client_id], ["srrt", user.user_id, app.client_id], "srrt event");
  const receipt = event.details.receipt;
  eq([receipt.refresh_tokens, receipt.refresh_token_ids], [1, [token.id]], "receipt");
  eq([event.details.actor.type, event.details.actor.client_id], ["client", app.client_id], "actor");
  const got = await ctx.mgmt.logs.get(event.log_id);
  eq([got.log_id, got.type, got.details.receipt], [event.log_id, "srrt", receipt], "get");
  const byClient = await all(await ctx.mgmt.logs.list({ search: `client_id:"${app.client_id}" AND type:srrt` }));
  eq(byClient.map((e) => e.log_id), [event.log_id], "client_id clause");

  const search = `user_id:"${user.user_id}"`;
  const mine = await all(await ctx.mgmt.logs.list({ search }));
  const types = mine.map((e) => e.type);
  check(types[0] === "srrt" && types.includes("sepft"), `the user's events, newest first: ${show(types)}`);
  eq((await all(await ctx.mgmt.logs.list({ search, per_page: 1 }))).map((e) => e.log_id), mine.map((e) => e.log_id), "paging");
  eq((await ctx.mgmt.logs.list({ search, per_page: 1, page: 0 })).response.total, mine.length, "total");
  eq((await all(await ctx.mgmt.users.logs.list(user.user_id))).map((e) => e.log_id), mine.map((e) => e.log_id), "users.logs.list");
  await expectMgmtError(ctx.mgmt.logs.get("no-such-log"), 404, "unknown log");
});

// --- openid-client: DPoP and PAR ------------------------------------------------

/** openid-client's Configuration for `app` (a public client authenticates
 * with its client_id only), from grantor's discovery document; every request
 * it makes is recorded in `wire` (URL, DPoP proof, status, body, DPoP-Nonce). */
async function relyingParty(app, wire, { publicClient = false } = {}) {
  const auth = publicClient ? oidc.None() : oidc.ClientSecretPost(app.client_secret);
  const config = await oidc.discovery(new URL(ISSUER), app.client_id, undefined, auth);
  config[oidc.customFetch] = async (url, options) => {
    const response = await fetch(url, options);
    wire.push({
      url: String(url),
      dpop: new Headers(options.headers).get("dpop"),
      status: response.status,
      body: await response.clone().text(),
      nonce: response.headers.get("dpop-nonce"),
    });
    return response;
  };
  return config;
}

/** The call must fail with an OAuth error `error`: openid-client's
 * ResponseBodyError, or, for a 401 with a `WWW-Authenticate` challenge,
 * WWWAuthenticateChallengeError (the error is the challenge's, else the
 * body's). */
async function expectOidcError(promise, status, error, what) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    if (e instanceof oidc.WWWAuthenticateChallengeError) {
      const body = await e.response.json();
      eq([e.status, e.cause[0]?.parameters?.error ?? body.error], [status, error], `${what} (${show(e.cause)} ${show(body)})`);
      return e;
    }
    if (!(e instanceof oidc.ResponseBodyError)) throw e;
    eq([e.status, e.error], [status, error], `${what} (${e.error_description})`);
    return e;
  }
  throw new Check(`${what}: expected ${status} ${error}, call succeeded with ${show(got)}`);
}

/** POST /oauth/token by hand with exactly this DPoP proof. */
async function tokenWithProof(app, refreshToken, proof) {
  const response = await fetch(`${ISSUER}oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", dpop: proof },
    body: new URLSearchParams({ grant_type: "refresh_token", client_id: app.client_id, refresh_token: refreshToken }),
  });
  return { status: response.status, body: await response.json(), nonce: response.headers.get("dpop-nonce") };
}

resource(async function openid_client_dpop(ctx) {
  const api = await ctx.api();
  const user = await ctx.user();
  const app = await ctx.client({
    app_type: "native",
    token_endpoint_auth_method: "none",
    grant_types: ["password", "refresh_token"],
    refresh_token: { rotation_type: "rotating", expiration_type: "expiring", leeway: 0 },
  });
  const wire = [];
  const config = await relyingParty(app, wire, { publicClient: true });
  check(config.serverMetadata().dpop_signing_alg_values_supported?.includes("ES256"), "discovery: DPoP algorithms");
  const keyPair = await oidc.randomDPoPKeyPair("ES256");
  const dpop = oidc.getDPoPHandle(config, keyPair);
  const tokenUrl = `${ISSUER}oauth/token`;
  const atToken = () => wire.filter((w) => w.url === tokenUrl);

  // Sign-in (password grant) with DPoP: the library's first proof has no
  // nonce, grantor answers use_dpop_nonce with one, the library retries.
  const tokens = await oidc.genericGrantRequest(
    config,
    "password",
    { username: user.email, password: PASSWORD, audience: api.identifier, scope: "openid offline_access read:things" },
    { DPoP: dpop },
  );
  const dance = atToken();
  eq(dance.map((w) => w.status), [400, 200], "the nonce dance at the token endpoint");
  eq(JSON.parse(dance[0].body).error, "use_dpop_nonce", "first answer");
  check(dance[0].nonce, "use_dpop_nonce carries DPoP-Nonce");
  eq(jose.decodeJwt(dance[0].dpop).nonce, undefined, "the first proof had no nonce");
  eq(jose.decodeJwt(dance[1].dpop).nonce, dance[0].nonce, "the retry carries the server's nonce");
  eq(tokens.token_type, "dpop", "token_type");
  const jwk = jose.decodeProtectedHeader(dance[1].dpop).jwk;
  const jkt = await jose.calculateJwkThumbprint(jwk, "sha256");
  const claims = await decode(tokens.access_token);
  eq(claims.cnf, { jkt }, "the access token is bound to the proof's key");

  // /userinfo with the DPoP scheme, through the library.
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP: dpop });
  eq(info.sub, user.user_id, "userinfo sub");

  // The thief has the refresh token but not the key: without a proof, and
  // with a proof of another key, grantor refuses; the owner's still works.
  await expectOidcError(oidc.refreshTokenGrant(config, tokens.refresh_token), 403, "invalid_grant", "stolen token, no proof");
  const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair("ES256"));
  await expectOidcError(
    oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: thief }),
    403,
    "invalid_grant",
    "stolen token, another key",
  );
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
  eq(refreshed.token_type, "dpop", "refreshed token_type");
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "the owner's refresh rotates");
  eq((await decode(refreshed.access_token)).cnf, { jkt }, "still bound to the owner's key");

  // Replay: the proof the library just sent, sent again.
  const lastProof = atToken().at(-1).dpop;
  const replay = await tokenWithProof(app, refreshed.refresh_token, lastProof);
  eq([replay.status, replay.body.error], [400, "invalid_dpop_proof"], `a replayed proof (${replay.body.error_description})`);
  // A proof made with the right key and nonce for another URL (htu).
  const wrongHtu = await new jose.SignJWT({
    htm: "POST",
    htu: `${ISSUER}oauth/revoke`,
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    nonce: replay.nonce,
  })
    .setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk })
    .sign(keyPair.privateKey);
  const misdirected = await tokenWithProof(app, refreshed.refresh_token, wrongHtu);
  eq([misdirected.status, misdirected.body.error], [400, "invalid_dpop_proof"], `a wrong htu (${misdirected.body.error_description})`);
  // None of it changed anything: the owner refreshes again.
  const again = await oidc.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: dpop });
  check(again.access_token, "the owner's token survived the refusals");
});

resource(async function openid_client_par(ctx) {
  const api = await ctx.api({ skip_consent_for_verifiable_first_party_clients: true });
  const user = await ctx.user();
  const app = await ctx.client({
    app_type: "regular_web",
    grant_types: ["authorization_code", "refresh_token"],
    callbacks: [CALLBACK],
    require_pushed_authorization_requests: true,
  });
  eq(app.require_pushed_authorization_requests, true, "the client setting");
  const wire = [];
  const config = await relyingParty(app, wire);
  eq(config.serverMetadata().pushed_authorization_request_endpoint, `${ISSUER}oauth/par`, "discovery");
  const request = async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const params = {
      redirect_uri: CALLBACK,
      scope: "openid offline_access read:things",
      audience: api.identifier,
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    };
    return { verifier, state, params };
  };

  // The pushed request, with a DPoP proof (RFC 9449 §10.1: it binds the
  // code to the key; the nonce dance happens here first): only client_id
  // and request_uri go through the browser.
  const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair("ES256"));
  const first = await request();
  const url = await oidc.buildAuthorizationUrlWithPAR(config, first.params, { DPoP: dpop });
  eq(sorted(url.searchParams.keys()), ["client_id", "request_uri"], "the authorization URL");
  const requestUri = url.searchParams.get("request_uri");
  check(requestUri.startsWith("urn:ietf:params:oauth:request_uri:"), `request_uri ${requestUri}`);
  const pushes = wire.filter((w) => w.url === `${ISSUER}oauth/par`);
  eq(pushes.map((w) => w.status), [400, 201], "PAR: use_dpop_nonce, then 201");
  check(pushes.every((w) => w.dpop), "each push carries a DPoP proof");
  const browser = new Browser("openid-client PAR");
  const code = await browserSignIn(browser, user.email, PASSWORD, { client_id: app.client_id, request_uri: requestUri, redirect_uri: CALLBACK });
  // The code is bound to the key: without a proof it is refused, and stays
  // unspent for its owner.
  const unbound = await fetch(`${ISSUER}oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", client_id: app.client_id, client_secret: app.client_secret,
      code, redirect_uri: CALLBACK, code_verifier: first.verifier,
    }),
  });
  eq([unbound.status, (await unbound.json()).error], [403, "invalid_grant"], "the bound code without a proof");
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(browser.lastRedirect),
    { pkceCodeVerifier: first.verifier, expectedState: first.state, idTokenExpected: true },
    undefined,
    { DPoP: dpop },
  );
  eq(tokens.claims().sub, user.user_id, "the ID token's subject");
  const claims = await decode(tokens.access_token);
  check([claims.aud].flat().includes(api.identifier), `the pushed audience: ${show(claims.aud)}`);
  eq(sorted(claims.scope.split(" ")), ["offline_access", "openid", "read:things"], "the pushed scope");
  eq(tokens.token_type, "dpop", "a confidential client's tokens with DPoP");

  // The same request_uri again: refused, no redirect, nothing issued.
  const again = await browser.fetch(`${ISSUER}authorize?${new URLSearchParams({ client_id: app.client_id, request_uri: requestUri })}`);
  eq(again.status, 400, "a used request_uri");
  check(!again.headers.get("location"), "a used request_uri redirects nowhere");
  // The client requires PAR: a plain authorization request is refused.
  const plain = oidc.buildAuthorizationUrl(config, (await request()).params);
  const refused = await browser.fetch(plain.href);
  const told = new URL(refused.headers.get("location") ?? "x:/");
  eq(
    [refused.status, `${told.origin}${told.pathname}`, told.searchParams.get("error"), told.searchParams.has("code")],
    [303, CALLBACK, "invalid_request", false],
    "a request that was not pushed goes back to the client with invalid_request",
  );
  // A wrong client secret at the PAR endpoint.
  const impostor = await relyingParty({ ...app, client_secret: "not-the-secret" }, []);
  await expectOidcError(oidc.buildAuthorizationUrlWithPAR(impostor, (await request()).params), 401, "invalid_client", "PAR with a wrong secret");
  // A request_uri past its lifetime (the Node run serves with
  // --par-lifetime-seconds 3): refused.
  const late = await oidc.buildAuthorizationUrlWithPAR(config, (await request()).params);
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const expired = await browser.fetch(late.href);
  eq(expired.status, 400, "an expired request_uri");
});

async function main() {
  const require = createRequire(import.meta.url);
  const { version } = require("auth0/package.json");
  console.log(`auth0 (npm) ${version} against https://${DOMAIN} (issuer ${ISSUER})`);
  const ctx = new Ctx();
  const only = new Set(process.argv.slice(2));
  for (const fn of RESOURCES) {
    if (only.size && !only.has(fn.name)) continue;
    try {
      await fn(ctx);
      RESULTS.passed += 1;
      console.log(`ok   node ${fn.name}`);
    } catch (e) {
      RESULTS.failed += 1;
      console.log(`FAIL node ${fn.name}: ${e.name}: ${e.message}`);
      if (!(e instanceof Check)) console.log(e.stack);
      if (e.body !== undefined) console.log(`    body: ${typeof e.body === "string" ? e.body : show(e.body)}`);
    }
  }
  const extra = RESULTS.xfailed ? `, ${RESULTS.xfailed} xfailed` : "";
  console.log(`node: ${RESULTS.passed} passed, ${RESULTS.failed} failed${extra}`);
  process.exitCode = RESULTS.failed ? 1 : 0;
}

await main();
