// Talking to a running grantor from the test: the Management API and the
// token endpoint (plain fetch), and the seed data the dashboard scenarios use.

import assert from 'node:assert/strict';

export const env = {
  url: required('GRANTOR_URL').replace(/\/$/, ''),
  clientId: required('GRANTOR_BOOTSTRAP_CLIENT_ID'),
  clientSecret: required('GRANTOR_BOOTSTRAP_CLIENT_SECRET'),
  adminEmail: required('GRANTOR_ADMIN_EMAIL'),
  adminPassword: required('GRANTOR_ADMIN_PASSWORD'),
};

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through scripts/e2e-tests)`);
  return value;
}

export const API = 'https://orders.example.test/';
/** The web shop's redirect URI: a local page (see `callbackServer`). */
export let CALLBACK = '';

/**
 * Starts the web shop's callback page on 127.0.0.1 (this machine reaches no
 * other host), and sets CALLBACK to its address; returns the server.
 */
export async function callbackServer() {
  const http = await import('node:http');
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (request.method === 'POST') POSTED.push(Object.fromEntries(new URLSearchParams(body)));
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!DOCTYPE html><title>Web shop</title><p>Signed in to the web shop.</p>');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  CALLBACK = `http://127.0.0.1:${server.address().port}/callback`;
  return server;
}
/** The forms posted to the callback page (`response_mode=form_post`). */
export const POSTED = [];
export const USER = { email: 'ann.lee@example.test', password: 'correct horse battery staple', name: 'Ann Lee' };

// User agents of the "phones" that get refresh tokens through the password grant.
export const ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Mobile Safari/537.36';
export const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1';

/** POST /oauth/token with a form body; returns { status, body }. */
export async function token(form, userAgent = 'grantor-e2e') {
  const response = await fetch(`${env.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: await response.json() };
}

let managementToken;

async function mgmtToken() {
  if (!managementToken) {
    const { status, body } = await token({
      grant_type: 'client_credentials',
      client_id: env.clientId,
      client_secret: env.clientSecret,
      audience: `${env.url}/api/v2/`,
    });
    assert.equal(status, 200, JSON.stringify(body));
    managementToken = body.access_token;
  }
  return managementToken;
}

/** A Management API call; returns { status, body }. */
export async function mgmt(method, path, body) {
  const response = await fetch(`${env.url}/api/v2${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await mgmtToken()}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function created(method, path, body) {
  const result = await mgmt(method, path, body);
  assert.equal(result.status, 201, `${method} ${path}: ${JSON.stringify(result.body)}`);
  return result.body;
}

/** A refresh-token exchange; returns { status, body }. */
export function refresh(client, refreshToken) {
  return token({
    grant_type: 'refresh_token',
    client_id: client.client_id,
    client_secret: client.client_secret,
    refresh_token: refreshToken,
  });
}

/**
 * The tenant the scenarios work on: an API, a handful of users, a mobile
 * application with two refresh tokens of Ann's (one grant, two phones) and a
 * web application for the browser sign-in that makes a session.
 */
export async function seed() {
  await created('POST', '/resource-servers', {
    identifier: API,
    name: 'Orders API',
    allow_offline_access: true,
    scopes: [
      { value: 'read:orders', description: 'Read orders' },
      { value: 'write:orders', description: 'Place orders' },
    ],
  });
  const people = [
    ['bob.smith@example.test', 'Bob Smith'],
    ['carol.jones@example.test', 'Carol Jones'],
    ['dave.brown@example.test', 'Dave Brown'],
    ['erin.wilson@example.test', 'Erin Wilson'],
    ['frank.moore@example.test', 'Frank Moore'],
  ];
  const user = await created('POST', '/users', {
    connection: 'Username-Password-Authentication',
    email: USER.email,
    password: USER.password,
    name: USER.name,
  });
  for (const [email, name] of people) {
    await created('POST', '/users', {
      connection: 'Username-Password-Authentication',
      email,
      name,
      password: `${email}-password`,
    });
  }
  const mobile = await created('POST', '/clients', {
    name: 'Orders mobile app',
    app_type: 'native',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['password', 'refresh_token'],
    refresh_token: { rotation_type: 'rotating', expiration_type: 'expiring', leeway: 0 },
  });
  const web = await created('POST', '/clients', {
    name: 'Orders web shop',
    app_type: 'regular_web',
    callbacks: [CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_post',
  });
  const phones = [];
  for (const userAgent of [ANDROID, IPHONE]) {
    const { status, body } = await token(
      {
        grant_type: 'password',
        client_id: mobile.client_id,
        client_secret: mobile.client_secret,
        username: USER.email,
        password: USER.password,
        audience: API,
        scope: 'openid profile read:orders offline_access',
      },
      userAgent,
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(body.refresh_token, 'a refresh token');
    phones.push(body.refresh_token);
  }
  return { user, mobile, web, phones };
}

/** Exchanges an authorization code of the web application. */
export async function exchangeCode(web, code) {
  const { status, body } = await token({
    grant_type: 'authorization_code',
    client_id: web.client_id,
    client_secret: web.client_secret,
    code,
    redirect_uri: CALLBACK,
  });
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(body.refresh_token, 'a refresh token');
  return body;
}
