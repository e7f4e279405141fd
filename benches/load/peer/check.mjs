// Self-test for a running peer server: exercises every workload once.
//
//   FIXTURE=/tmp/peer.json node check.mjs
//
// Starts nothing. DESTRUCTIVE: it consumes refresh.RS256.tokens[0],
// refresh.EdDSA.tokens[0] (their grants end up revoked by the reuse check)
// and revoke.tokens[0]. Run it against a server instance that is not
// about to be benchmarked, or restart the server afterwards.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const FIXTURE = process.env.FIXTURE ?? process.argv[2];
if (!FIXTURE) {
  console.error('usage: FIXTURE=path node check.mjs');
  process.exit(2);
}
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8'));
const base = fx.base_url;

let failures = 0;
let passes = 0;
function check(name, cond, detail) {
  if (cond) {
    passes += 1;
    console.log(`  ok   ${name}`);
  } else {
    failures += 1;
    console.log(`  FAIL ${name}${detail === undefined ? '' : ` -- ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
  }
  return cond;
}
const section = (s) => console.log(`\n== ${s}`);

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}
function decodeJwt(jwt) {
  const [h, p] = String(jwt).split('.');
  return { header: b64json(h), payload: b64json(p) };
}

async function postForm(path, fields) {
  const body = new URLSearchParams();
  for (const [k, v] of fields) body.append(k, v);
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, json, text };
}

function checkJwtAt(label, at, { alg, aud, scope = 'read:bench' }) {
  let decoded;
  try { decoded = decodeJwt(at); } catch { decoded = undefined; }
  if (!check(`${label}: access_token is a JWT`, decoded !== undefined, at)) return;
  const { header, payload } = decoded;
  check(`${label}: alg=${alg}`, header.alg === alg, header);
  check(`${label}: typ=at+jwt`, header.typ === 'at+jwt', header);
  check(`${label}: aud=${aud}`, payload.aud === aud, payload);
  check(`${label}: scope=${scope}`, payload.scope === scope, payload);
  check(`${label}: iss=base_url`, payload.iss === base, payload);
}

// ------------------------------------------------------------- client_credentials

async function clientCredentials() {
  const want = {
    RS256: 'https://api.rs256.bench/',
    EdDSA: 'https://api.eddsa.bench/',
  };
  for (const [alg, wl] of Object.entries(fx.client_credentials)) {
    section(`client_credentials ${alg}`);
    const r = await postForm(fx.paths.token, [
      ['grant_type', 'client_credentials'],
      ['client_id', wl.client_id],
      ['client_secret', wl.client_secret],
      ...wl.params,
    ]);
    if (!check('status 200', r.status === 200, r.text)) continue;
    check('token_type Bearer', r.json.token_type === 'Bearer', r.json);
    check('expires_in 3600', r.json.expires_in === 3600, r.json);
    checkJwtAt('cc', r.json.access_token, { alg, aud: want[alg] });
  }
}

// ------------------------------------------------------------- refresh

function refreshReq(wl, token, extra = []) {
  return postForm(fx.paths.token, [
    ['grant_type', 'refresh_token'],
    ['refresh_token', token],
    ['client_id', wl.client_id],
    ['client_secret', wl.client_secret],
    ...wl.params,
    ...extra,
  ]);
}

async function refresh() {
  const cfg = {
    RS256: { aud: 'https://api.rs256.bench/', idToken: true },
    EdDSA: { aud: 'https://api.eddsa.bench/', idToken: false },
  };
  for (const [alg, wl] of Object.entries(fx.refresh)) {
    section(`refresh ${alg} (${wl.tokens.length} chains)`);
    const t0 = wl.tokens[0];
    const r1 = await refreshReq(wl, t0);
    if (!check('exchange #1 status 200', r1.status === 200, r1.text)) continue;
    const t1 = r1.json.refresh_token;
    check('rotation: new refresh_token returned', typeof t1 === 'string' && t1 !== t0, r1.json);
    checkJwtAt('refresh #1', r1.json.access_token, { alg, aud: cfg[alg].aud });
    if (cfg[alg].idToken) {
      if (check('id_token present', typeof r1.json.id_token === 'string', r1.json)) {
        const { header, payload } = decodeJwt(r1.json.id_token);
        check('id_token alg RS256', header.alg === 'RS256', header);
        check('id_token aud=rt-client', payload.aud === wl.client_id, payload);
        check('id_token sub=user-*', /^user-\d+$/.test(payload.sub), payload);
      }
    } else {
      check('no id_token (no openid scope)', r1.json.id_token === undefined, r1.json);
    }

    const r2 = await refreshReq(wl, t1);
    check('exchange #2 with rotated token: 200', r2.status === 200, r2.text);
    check('exchange #2 rotates again', r2.json?.refresh_token && r2.json.refresh_token !== t1, r2.json);

    const replay = await refreshReq(wl, t0);
    check('replay of consumed token: 400 invalid_grant', replay.status === 400 && replay.json?.error === 'invalid_grant', replay.text);
  }
}

// ------------------------------------------------------------- revoke

async function revoke() {
  section(`revoke (${fx.revoke.tokens.length} tokens)`);
  const wl = fx.revoke;
  const token = wl.tokens[0];
  const req = () => postForm(fx.paths.revoke, [
    ['token', token],
    ['token_type_hint', 'refresh_token'],
    ['client_id', wl.client_id],
    ['client_secret', wl.client_secret],
  ]);
  const r = await req();
  check('revocation status 200', r.status === 200, r.text);
  const after = await refreshReq({ ...wl, params: [] }, token);
  check('revoked token rejected at /token (400 invalid_grant)', after.status === 400 && after.json?.error === 'invalid_grant', after.text);
  const again = await req();
  check('second revocation is still 200 (RFC 7009)', again.status === 200, again.text);
  const other = await refreshReq({ ...wl, params: [] }, wl.tokens[wl.tokens.length - 1]);
  check('an unrelated revoke token is still usable', other.status === 200, other.text);
}

// ------------------------------------------------------------- authorization_code

class CookieJar {
  #cookies = new Map(); // `${name}\0${path}` -> { name, value, path }

  store(url, res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim();
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${name}\0${path}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

async function authorizeRound(jar, label) {
  const wl = fx.authorization_code;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('hex');
  const url = new URL(fx.paths.authorize, base);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', wl.client_id);
  url.searchParams.set('redirect_uri', wl.redirect_uri);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  for (const [k, v] of wl.authorize_params) url.searchParams.append(k, v);

  const hops = [];
  let next = url.href;
  let code;
  for (let i = 0; i < 10; i += 1) {
    const cookie = jar.header(next);
    const res = await fetch(next, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    jar.store(next, res);
    const location = res.headers.get('location');
    hops.push(`${res.status} ${new URL(next).pathname}${location ? ` -> ${location.slice(0, 60)}` : ''}`);
    await res.arrayBuffer();
    if (res.status < 300 || res.status >= 400 || !location) {
      check(`${label}: redirect chain ends at redirect_uri`, false, hops);
      return undefined;
    }
    if (location.startsWith(wl.redirect_uri)) {
      const cb = new URL(location);
      check(`${label}: state echoed`, cb.searchParams.get('state') === state, location);
      check(`${label}: no error in callback`, !cb.searchParams.get('error'), location);
      code = cb.searchParams.get('code');
      break;
    }
    const target = new URL(location, next);
    if (target.origin !== new URL(base).origin) {
      check(`${label}: redirect stays on origin`, false, location);
      return undefined;
    }
    next = target.href;
  }
  console.log(`  hops: ${hops.join(' | ')}`);
  if (!check(`${label}: got code`, typeof code === 'string' && code.length > 0, hops)) return undefined;
  return { code, verifier, hops };
}

async function exchangeCode(label, { code, verifier }, tokenParams) {
  const wl = fx.authorization_code;
  const r = await postForm(fx.paths.token, [
    ['grant_type', 'authorization_code'],
    ['code', code],
    ['redirect_uri', wl.redirect_uri],
    ['code_verifier', verifier],
    ['client_id', wl.client_id],
    ['client_secret', wl.client_secret],
    ...tokenParams,
  ]);
  if (!check(`${label}: code exchange 200`, r.status === 200, r.text)) return undefined;
  checkJwtAt(label, r.json.access_token, { alg: 'RS256', aud: 'https://api.rs256.bench/' });
  if (check(`${label}: id_token present`, typeof r.json.id_token === 'string', r.json)) {
    const { header, payload } = decodeJwt(r.json.id_token);
    check(`${label}: id_token RS256, sub=auth-user`, header.alg === 'RS256' && payload.sub === 'auth-user', { header, payload });
  }
  check(`${label}: refresh_token issued without prompt=consent`, typeof r.json.refresh_token === 'string', r.json);
  return r.json;
}

async function authorizationCode() {
  section('authorization_code');
  const jar = new CookieJar();
  const wl = fx.authorization_code;

  const first = await authorizeRound(jar, 'round 1');
  if (first) {
    check('round 1: went through /interaction/<uid>', first.hops.some((h) => h.includes(' /interaction/')), first.hops);
    await exchangeCode('round 1', first, wl.token_params);
  }

  const second = await authorizeRound(jar, 'round 2');
  if (second) {
    check('round 2: no interaction (single redirect to redirect_uri)', second.hops.length === 1 && !second.hops.some((h) => h.includes('/interaction/')), second.hops);
    const tokens = await exchangeCode('round 2', second, wl.token_params);
    if (tokens?.refresh_token) {
      const r = await refreshReq({ ...wl, params: [] }, tokens.refresh_token);
      check('code-flow refresh token works (no resource param)', r.status === 200, r.text);
      if (r.status === 200) {
        checkJwtAt('code-flow refresh', r.json.access_token, { alg: 'RS256', aud: 'https://api.rs256.bench/' });
        check('code-flow refresh rotates', r.json.refresh_token && r.json.refresh_token !== tokens.refresh_token, r.json);
      }
    }
  }

  const third = await authorizeRound(jar, 'round 3');
  if (third) {
    check('round 3: no interaction', third.hops.length === 1, third.hops);
    await exchangeCode('round 3 (token request without resource)', third, []);
    // Last, because code reuse revokes the whole grant (session consent).
    const reuse = await postForm(fx.paths.token, [
      ['grant_type', 'authorization_code'], ['code', third.code], ['redirect_uri', wl.redirect_uri],
      ['code_verifier', third.verifier], ['client_id', wl.client_id], ['client_secret', wl.client_secret],
    ]);
    check('code is single-use (400 invalid_grant)', reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.text);
  }
}

// -------------------------------------------------------------

const started = Date.now();
console.log(`target: ${fx.target} at ${base}`);
try {
  await clientCredentials();
  await refresh();
  await revoke();
  await authorizationCode();
} catch (err) {
  failures += 1;
  console.log(`  FAIL unexpected exception: ${err.stack || err}`);
}
console.log(`\n${failures === 0 ? 'PASS' : 'FAIL'}: ${passes} checks passed, ${failures} failed (${Date.now() - started} ms)`);
process.exit(failures === 0 ? 0 : 1);
