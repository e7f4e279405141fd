// node-oidc-provider peer server for grantor load benchmarks.
//
//   PORT=4100 FIXTURE=/tmp/peer.json node server.mjs
//
// Env: PORT (required), FIXTURE (required), CHAINS (default 64),
//      REVOKE_TOKENS (default 200000).
//
// Seeds tokens directly through the provider's models, writes the fixture
// JSON to FIXTURE, then listens on 127.0.0.1:PORT and prints `listening`.
// Everything lives in process memory (see MapAdapter); nothing is durable.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

import Provider, { errors } from 'oidc-provider';

const require = createRequire(import.meta.url);
const OP_VERSION = JSON.parse(
  readFileSync(require.resolve('oidc-provider/package.json'), 'utf8'),
).version;

// ---------------------------------------------------------------- env

function intEnv(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const PORT = intEnv('PORT', undefined);
if (!PORT) throw new Error('PORT is required');
const FIXTURE = process.env.FIXTURE;
if (!FIXTURE) throw new Error('FIXTURE is required');
const CHAINS = intEnv('CHAINS', 64);
const REVOKE_TOKENS = intEnv('REVOKE_TOKENS', 200000);

const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const ACCOUNTS = 16;

// ---------------------------------------------------------------- adapter
//
// Unbounded in-memory adapter backed by plain Maps. Unlike the bundled
// development adapter (an LRU capped at 1000 entries) nothing is evicted;
// expiry is honoured lazily on find. Payloads are stored by reference
// (no serialization), like the bundled adapter.

const store = new Map(); // `${Model}:${id}` -> { p: payload, e: expiresAtMs }
const grantMembers = new Map(); // grantId -> Set<storeKey>
const sessionUids = new Map(); // Session uid -> Session id
const userCodes = new Map(); // userCode -> id

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

function dropIndexes(model, key, id, payload) {
  if (payload.uid !== undefined && model === 'Session' && sessionUids.get(payload.uid) === id) {
    sessionUids.delete(payload.uid);
  }
  if (payload.userCode !== undefined && userCodes.get(payload.userCode) === id) {
    userCodes.delete(payload.userCode);
  }
  if (payload.grantId !== undefined && GRANTABLE.has(model)) {
    const members = grantMembers.get(payload.grantId);
    if (members) {
      members.delete(key);
      if (members.size === 0) grantMembers.delete(payload.grantId);
    }
  }
}

class MapAdapter {
  constructor(model) {
    this.model = model;
    this.prefix = `${model}:`;
    this.grantable = GRANTABLE.has(model);
  }

  async upsert(id, payload, expiresIn) {
    const key = this.prefix + id;
    const previous = store.get(key);
    if (previous) dropIndexes(this.model, key, id, previous.p);

    const e = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { p: payload, e });

    if (this.model === 'Session') sessionUids.set(payload.uid, id);
    if (payload.userCode !== undefined) userCodes.set(payload.userCode, id);
    if (this.grantable && payload.grantId !== undefined) {
      let members = grantMembers.get(payload.grantId);
      if (!members) {
        members = new Set();
        grantMembers.set(payload.grantId, members);
      }
      members.add(key);
    }
  }

  async find(id) {
    const key = this.prefix + id;
    const entry = store.get(key);
    if (entry === undefined) return undefined;
    if (entry.e <= Date.now()) {
      store.delete(key);
      dropIndexes(this.model, key, id, entry.p);
      return undefined;
    }
    return entry.p;
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = store.get(this.prefix + id);
    if (entry) entry.p.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.prefix + id;
    const entry = store.get(key);
    if (entry === undefined) return;
    store.delete(key);
    dropIndexes(this.model, key, id, entry.p);
  }

  // Called once per grantable model on grant revocation; the first call
  // removes every artifact of the grant (same as the bundled adapter).
  async revokeByGrantId(grantId) {
    const members = grantMembers.get(grantId);
    if (!members) return;
    grantMembers.delete(grantId);
    for (const key of members) {
      const entry = store.get(key);
      store.delete(key);
      if (entry) {
        const model = key.slice(0, key.indexOf(':'));
        const id = key.slice(model.length + 1);
        if (entry.p.userCode !== undefined && userCodes.get(entry.p.userCode) === id) {
          userCodes.delete(entry.p.userCode);
        }
      }
    }
  }
}

// ---------------------------------------------------------------- keys

function signingJwk(type, options, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const rsaJwk = signingJwk('rsa', { modulusLength: 2048 }, 'rs256-1', 'RS256');
const edJwk = signingJwk('ed25519', undefined, 'eddsa-1', 'EdDSA');

// ---------------------------------------------------------------- clients & resources

const secret = () => randomBytes(32).toString('base64url');
const CC_SECRET = secret();
const RT_SECRET = secret();
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

const RS256_API = 'https://api.rs256.bench/';
const EDDSA_API = 'https://api.eddsa.bench/';
const API_SCOPE = 'read:bench';

const RESOURCE_SERVERS = {
  [RS256_API]: {
    scope: API_SCOPE,
    audience: RS256_API,
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  },
  [EDDSA_API]: {
    scope: API_SCOPE,
    audience: EDDSA_API,
    accessTokenTTL: 3600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'EdDSA' } },
  },
};
const RESOURCE_SCOPES = Object.fromEntries(
  Object.entries(RESOURCE_SERVERS).map(([k, v]) => [k, new Set(v.scope.split(' '))]),
);
const CLIENT_RESOURCES = {
  'cc-client': new Set([RS256_API, EDDSA_API]),
  'rt-client': new Set([RS256_API, EDDSA_API]),
};

const clients = [
  {
    client_id: 'cc-client',
    client_secret: CC_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    client_id: 'rt-client',
    client_secret: RT_SECRET,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  },
];

// ---------------------------------------------------------------- provider

let serverErrors = 0;

const provider = new Provider(ISSUER, {
  adapter: MapAdapter,
  clients,
  jwks: { keys: [rsaJwk, edJwk] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub };
      },
    };
  },
  scopes: ['openid', 'offline_access'],
  claims: { openid: ['sub'] },
  pkce: {
    required: () => true,
  },
  rotateRefreshToken: true,
  // offline_access is stripped from authorization requests without
  // prompt=consent; issue refresh tokens to rt-client regardless.
  async issueRefreshToken(ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return client.clientId === 'rt-client' || code.scopes.has('offline_access');
  },
  async expiresWithSession(ctx, code) {
    if (ctx.oidc.client?.clientId === 'rt-client') return false;
    return !code.scopes.has('offline_access');
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: {
      enabled: true,
      async allowedPolicy(ctx, client, token) {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    resourceIndicators: {
      enabled: true,
      // No default at /auth or /token when nothing is requested; when the
      // token's/code's recorded resources are used, pick the (single) one.
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf.length === 1 ? oneOf[0] : oneOf;
        return undefined;
      },
      // Refresh/code exchanges without `resource` get an access token for
      // the resource recorded on the refresh token / code.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resourceIndicator, client) {
        const info = RESOURCE_SERVERS[resourceIndicator];
        if (!info || !CLIENT_RESOURCES[client.clientId]?.has(resourceIndicator)) {
          throw new errors.InvalidTarget();
        }
        return info;
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('server_error', (ctx, err) => {
  serverErrors += 1;
  if (serverErrors <= 5) {
    console.error(`server_error #${serverErrors} on ${ctx.method} ${ctx.path}:`, err);
  }
});

// ---------------------------------------------------------------- interaction
//
// GET /interaction/:uid logs the browser in as `auth-user` and grants what
// was requested (OIDC scopes + offline_access, resource scopes), in one step.

async function handleInteraction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction uid mismatch');

  const { params, session, grantId } = details;
  const accountId = session?.accountId ?? 'auth-user';

  let grant;
  if (grantId) grant = await provider.Grant.find(grantId);
  if (!grant || grant.accountId !== accountId || grant.clientId !== params.client_id) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }

  const requested = new Set((params.scope ?? '').split(' ').filter(Boolean));
  const oidcScopes = new Set(['offline_access']);
  for (const scope of requested) if (scope === 'openid' || scope === 'offline_access') oidcScopes.add(scope);
  grant.addOIDCScope([...oidcScopes].join(' '));

  const resources = params.resource === undefined ? [] : [].concat(params.resource);
  for (const resource of resources) {
    const available = RESOURCE_SCOPES[resource];
    if (!available) continue;
    const granted = [...requested].filter((s) => available.has(s));
    if (granted.length) grant.addResourceScope(resource, granted.join(' '));
  }

  const result = { consent: { grantId: await grant.save() } };
  if (!session?.accountId) result.login = { accountId };

  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------- seeding

async function seedRefreshTokens(client, count, { scope, resource, accountOffset = 0 }) {
  const oidcScope = scope.split(' ').filter((s) => s === 'openid' || s === 'offline_access').join(' ');
  const resourceScope = scope.split(' ').filter((s) => RESOURCE_SCOPES[resource].has(s)).join(' ');
  const authTime = Math.floor(Date.now() / 1000);
  const tokens = new Array(count);
  for (let i = 0; i < count; i += 1) {
    const accountId = `user-${(accountOffset + i) % ACCOUNTS}`;
    // One grant per token, as if each came from its own authorization:
    // revoking/rotating one never affects another.
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    if (oidcScope) grant.addOIDCScope(oidcScope);
    grant.addResourceScope(resource, resourceScope);
    const grantId = await grant.save();

    const rt = new provider.RefreshToken({
      client,
      accountId,
      grantId,
      scope,
      resource,
      gty: 'authorization_code',
      authTime,
      expiresWithSession: false,
      rotations: 0,
    });
    tokens[i] = await rt.save();
  }
  return tokens;
}

const rtClient = await provider.Client.find('rt-client');
if (!rtClient) throw new Error('rt-client not found');

const seedStart = performance.now();
const rs256Tokens = await seedRefreshTokens(rtClient, CHAINS, {
  scope: `openid offline_access ${API_SCOPE}`,
  resource: RS256_API,
});
const eddsaTokens = await seedRefreshTokens(rtClient, CHAINS, {
  scope: `offline_access ${API_SCOPE}`,
  resource: EDDSA_API,
});
const revokeStart = performance.now();
const revokeTokens = await seedRefreshTokens(rtClient, REVOKE_TOKENS, {
  scope: `openid offline_access ${API_SCOPE}`,
  resource: RS256_API,
});
const seedEnd = performance.now();

console.error(
  `seeded ${2 * CHAINS} refresh-chain tokens + ${REVOKE_TOKENS} revoke tokens in `
  + `${((seedEnd - seedStart) / 1000).toFixed(2)}s (revoke: ${((seedEnd - revokeStart) / 1000).toFixed(2)}s); `
  + `rss=${Math.round(process.memoryUsage().rss / 2 ** 20)}MiB`,
);

// ---------------------------------------------------------------- fixture

const fixture = {
  target: `node-oidc-provider ${OP_VERSION}`,
  base_url: ISSUER,
  paths: { token: '/token', revoke: '/token/revocation', authorize: '/auth' },
  client_credentials: {
    RS256: {
      client_id: 'cc-client',
      client_secret: CC_SECRET,
      params: [['resource', RS256_API], ['scope', API_SCOPE]],
    },
    EdDSA: {
      client_id: 'cc-client',
      client_secret: CC_SECRET,
      params: [['resource', EDDSA_API], ['scope', API_SCOPE]],
    },
  },
  refresh: {
    RS256: { client_id: 'rt-client', client_secret: RT_SECRET, params: [], tokens: rs256Tokens },
    EdDSA: { client_id: 'rt-client', client_secret: RT_SECRET, params: [], tokens: eddsaTokens },
  },
  revoke: { client_id: 'rt-client', client_secret: RT_SECRET, tokens: revokeTokens },
  authorization_code: {
    client_id: 'rt-client',
    client_secret: RT_SECRET,
    redirect_uri: REDIRECT_URI,
    authorize_params: [['scope', `openid offline_access ${API_SCOPE}`], ['resource', RS256_API]],
    token_params: [['resource', RS256_API]],
    cookie: null,
  },
};

const tmp = `${FIXTURE}.${process.pid}.tmp`;
writeFileSync(tmp, JSON.stringify(fixture));
renameSync(tmp, FIXTURE);

// ---------------------------------------------------------------- http

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/;
const opCallback = provider.callback();

const server = createServer((req, res) => {
  const m = req.url.startsWith('/interaction/') ? INTERACTION.exec(req.url) : null;
  if (m === null) {
    opCallback(req, res);
    return;
  }
  if (req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET', 'content-length': '0' }).end();
    return;
  }
  handleInteraction(req, res, m[1]).catch((err) => {
    const status = err.statusCode || err.status || 500;
    if (status >= 500) console.error('interaction error:', err);
    if (!res.headersSent) {
      const body = JSON.stringify({ error: err.error || 'server_error', error_description: err.error_description });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.destroy();
    }
  });
});
// Keep idle keep-alive connections of the load generator open between phases.
server.keepAliveTimeout = 75_000;
server.headersTimeout = 80_000;

server.listen(PORT, HOST, () => {
  process.stdout.write('listening\n');
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
