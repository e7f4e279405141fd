// The dashboard in headless Chromium (Debian's chromium driven by
// playwright-core), against a grantor that scripts/e2e-tests started on an
// empty SQLite database. The steps run in order in one administrator's
// browser; each finds controls by their accessible names (CONTRACT §5) and
// checks the effect through the Management API and the token endpoint.
// Screenshots of the main pages go to docs/screenshots/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { API, CALLBACK, POSTED, USER, callbackServer, env, exchangeCode, mgmt, refresh, seed, token } from './grantor.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const screenshots = process.env.SCREENSHOT_DIR ?? path.join(here, '..', 'docs', 'screenshots');
const artifacts = path.join(here, 'artifacts');

// Debian's Chromium with the flags this machine needs (no sandbox as root,
// no background connections to a network that refuses them).
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
const WINDOWS_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36';

let browser;
let callbacks;
let page;
let data;
/** Ann's web-shop refresh tokens by device name. */
const web = {};

async function shot(name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

/** A step; on failure the page is saved to e2e/artifacts/ before the error is rethrown. */
function step(name, body) {
  test(name, async () => {
    try {
      await body();
    } catch (error) {
      mkdirSync(artifacts, { recursive: true });
      const file = path.join(artifacts, `${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page?.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`failed at ${page?.url()}; screenshot ${file}`);
      throw error;
    }
  });
}

async function expectText(text) {
  await page.getByText(text, { exact: false }).first().waitFor({ state: 'visible', timeout: 5_000 });
}

/** Ann signs in to the web shop in a browser of her own, once per device name. */
async function annSignsInToTheWebShop() {
  const context = await browser.newContext({ userAgent: WINDOWS_CHROME });
  const annPage = await context.newPage();
  for (const device of ['Kitchen tablet', 'Office laptop']) {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: data.web.client_id,
      redirect_uri: CALLBACK,
      scope: 'openid profile offline_access read:orders',
      audience: API,
      state: 'e2e',
      device,
    });
    await annPage.goto(`${env.url}/authorize?${query}`);
    for (let i = 0; i < 3 && !annPage.url().startsWith(CALLBACK); i++) {
      if (await annPage.getByLabel('Password').isVisible()) {
        await annPage.getByLabel('Email address').fill(USER.email);
        await annPage.getByLabel('Password').fill(USER.password);
        await annPage.getByRole('button', { name: 'Continue' }).click();
      } else if (await annPage.getByRole('button', { name: 'Accept' }).isVisible()) {
        await annPage.getByRole('button', { name: 'Accept' }).click();
      }
      await annPage.waitForLoadState();
    }
    await annPage.waitForURL((url) => url.href.startsWith(CALLBACK));
    const code = new URL(annPage.url()).searchParams.get('code');
    assert.ok(code, `a code in ${annPage.url()}`);
    web[device] = (await exchangeCode(data.web, code)).refresh_token;
  }
  await context.close();
}

async function assertRefreshFails(client, refreshToken) {
  const { status, body } = await refresh(client, refreshToken);
  assert.equal(status, 403, JSON.stringify(body));
  assert.equal(body.error, 'invalid_grant');
}

async function assertRefreshWorks(client, refreshToken) {
  const { status, body } = await refresh(client, refreshToken);
  assert.equal(status, 200, JSON.stringify(body));
}

/** Opens Ann's page from the user list and one of its tabs. */
async function openAnnTab(tab) {
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Users', exact: true }).click();
  await page.getByRole('link', { name: USER.email }).click();
  await page.getByRole('link', { name: tab, exact: true }).click();
  await page.getByRole('link', { name: tab, exact: true }).and(page.locator('[aria-current="page"]')).waitFor();
}

before(async () => {
  callbacks = await callbackServer();
  data = await seed();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  await annSignsInToTheWebShop();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  callbacks?.close();
});

step('an administrator signs in', async () => {
  await page.goto(`${env.url}/dashboard`);
  await page.waitForURL(/\/dashboard\/login/);
  await shot('sign-in');
  await page.getByLabel('Email').fill(env.adminEmail);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expectText('Wrong email or password.');
  await page.getByLabel('Password').fill(env.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/dashboard\/users$/);
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  await page.getByRole('heading', { name: 'User Management' }).waitFor();
  const cookies = await page.context().cookies();
  const admin = cookies.find((c) => c.name === 'grantor_admin');
  assert.ok(admin && admin.httpOnly && admin.sameSite === 'Strict' && admin.path === '/dashboard');
});

step('the administrator finds a user by email', async () => {
  await expectText('Showing 1–6 of 6');
  await shot('users');
  await page.getByLabel('Search by email').fill('ANN.');
  await page.getByRole('button', { name: 'Search' }).click();
  await expectText('Showing 1–1 of 1');
  assert.equal(await page.locator('tbody tr').count(), 1);
  await page.getByRole('link', { name: USER.email }).click();
  await page.getByRole('heading', { name: USER.email }).waitFor();
  await page.locator('a[aria-current="page"]', { hasText: 'Details' }).waitFor();
  await expectText(data.user.user_id);
  await shot('user-details');

  await page.getByRole('link', { name: 'Sessions', exact: true }).click();
  await expectText('Chrome on Windows');
  assert.equal(await page.locator('tbody tr').count(), 1);
  await shot('user-sessions');

  await page.getByRole('link', { name: 'Devices', exact: true }).click();
  for (const device of ['Kitchen tablet', 'Office laptop', 'Chrome on Android', 'Safari on iOS']) {
    await expectText(device);
  }
  assert.equal(await page.locator('tbody tr').count(), 4);
  await shot('user-devices');
});

step('revoking an authorized application makes its refresh tokens fail at /oauth/token', async () => {
  await openAnnTab('Authorized Applications');
  await expectText('Orders mobile app');
  await expectText('Orders web shop');
  await shot('user-authorized-applications');
  const row = page.locator('tbody tr', { hasText: 'Orders mobile app' });
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expectText('This will revoke the grant and 2 refresh tokens on 2 devices.');
  await shot('revoke-confirmation');
  await page.getByRole('button', { name: 'Revoke' }).click();
  await expectText('Authorized application revoked: 2 refresh tokens on 2 devices.');
  assert.equal(await page.locator('tbody tr', { hasText: 'Orders mobile app' }).count(), 0);
  await expectText('Orders web shop');
  for (const rt of data.phones) await assertRefreshFails(data.mobile, rt);
  // The other application's grant is untouched.
  await assertRefreshWorks(data.web, web['Kitchen tablet']);

  const { body: logs } = await mgmt('GET', `/logs?q=${encodeURIComponent('type:"srrt"')}`);
  assert.ok(
    logs.some((e) => e.details?.actor?.type === 'admin' && e.details.actor.email === env.adminEmail),
    'the revocation is in the audit log with the administrator as actor',
  );
});

step('flipping the tenant toggle is seen by the Management API', async () => {
  await page.getByRole('link', { name: 'Tenant Settings' }).click();
  await page.locator('a[aria-current="page"]', { hasText: 'Advanced' }).waitFor();
  const toggle = page.getByRole('switch', { name: 'Refresh Token Revocation Deletes Grant' });
  assert.equal(await toggle.isChecked(), false);
  assert.equal((await mgmt('GET', '/tenants/settings')).body.flags.revoke_refresh_token_grant, false);
  await toggle.check();
  await page.getByRole('button', { name: 'Save' }).click();
  await expectText('Tenant settings saved.');
  assert.equal(await page.getByRole('switch', { name: 'Refresh Token Revocation Deletes Grant' }).isChecked(), true);
  assert.equal((await mgmt('GET', '/tenants/settings')).body.flags.revoke_refresh_token_grant, true);
  await shot('tenant-settings-advanced');
});

step('revoking a device makes that refresh token fail and no other', async () => {
  await openAnnTab('Devices');
  const row = page.locator('tbody tr', { hasText: 'Kitchen tablet' });
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expectText('This will revoke 1 refresh token on 1 device.');
  await page.getByRole('button', { name: 'Revoke' }).click();
  await expectText('Device revoked: 1 refresh token on 1 device.');
  assert.equal(await page.locator('tbody tr', { hasText: 'Kitchen tablet' }).count(), 0);
  await assertRefreshFails(data.web, web['Kitchen tablet']);
  await assertRefreshWorks(data.web, web['Office laptop']);
});

step('revoking a session revokes the refresh tokens bound to it', async () => {
  await openAnnTab('Sessions');
  await page.locator('tbody tr').first().getByRole('button', { name: 'Revoke' }).click();
  await expectText('This will revoke 1 session and 1 refresh token on 1 device.');
  await page.getByRole('button', { name: 'Revoke' }).click();
  await expectText('Session revoked: 1 session and 1 refresh token on 1 device.');
  await expectText('This user has no active session.');
  await assertRefreshFails(data.web, web['Office laptop']);
});

step('application refresh-token settings are changed and validated', async () => {
  await page.getByRole('link', { name: 'Applications', exact: true }).click();
  await page.getByRole('heading', { name: 'Applications' }).waitFor();
  await shot('applications');
  await page.getByRole('link', { name: 'Orders mobile app' }).click();
  await page.getByLabel('Rotation Overlap Period (seconds)').fill('999999');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('refresh_token.leeway must be between 0 and 86400');
  await page.getByLabel('Rotation Overlap Period (seconds)').fill('30');
  await page.getByLabel('Idle Lifetime (seconds)').fill('86400');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('Refresh token settings saved.');
  const { body: client } = await mgmt('GET', `/clients/${data.mobile.client_id}`);
  assert.equal(client.refresh_token.leeway, 30);
  assert.equal(client.refresh_token.idle_token_lifetime, 86400);
  await shot('application');
});

step('a POST without the CSRF token is refused', async () => {
  await page.getByRole('link', { name: 'Tenant Settings' }).click();
  const toggle = page.getByRole('switch', { name: 'Refresh Token Revocation Deletes Grant' });
  assert.equal(await toggle.isChecked(), true);
  // The browser submits the real form, minus its hidden token.
  await page.locator('form[action="/dashboard/tenant-settings/advanced"] input[name="csrf"]').evaluate((input) => input.remove());
  await toggle.uncheck();
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Save' }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.getByRole('heading', { name: 'Forbidden' }).waitFor();
  assert.equal((await mgmt('GET', '/tenants/settings')).body.flags.revoke_refresh_token_grant, true);
  // And a request with the administrator's cookies but no form token at all.
  const direct = await page.request.post(`${env.url}/dashboard/tenant-settings/advanced`, {
    form: { revoke_refresh_token_grant: 'true' },
    maxRedirects: 0,
  });
  assert.equal(direct.status(), 403);
  assert.equal((await mgmt('GET', '/tenants/settings')).body.flags.revoke_refresh_token_grant, true);
});

/** The password grant for `email` through the seeded mobile application. */
function passwordGrant(email, password) {
  return token({
    grant_type: 'password',
    client_id: data.mobile.client_id,
    client_secret: data.mobile.client_secret,
    username: email,
    password,
    audience: API,
    scope: 'openid offline_access read:orders',
  });
}

function machineToken(clientId, clientSecret) {
  return token({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience: API });
}

/** The administrator's audit events about `field:value` (GET /api/v2/logs). */
async function adminEvents(field, value) {
  const q = encodeURIComponent(`${field}:"${value}"`);
  const { body } = await mgmt('GET', `/logs?q=${q}`);
  return body.filter((e) => e.details?.actor?.type === 'admin' && e.details.actor.email === env.adminEmail);
}

step('a user is created, edited, blocked, unblocked, given a new password and deleted', async () => {
  const email = 'gina.hall@example.test';
  await page.goto(`${env.url}/dashboard/users`);
  await page.getByRole('link', { name: 'Create user' }).click();
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill('gina first password');
  await page.getByLabel('Name', { exact: true }).fill('Gina Hall');
  await page.getByLabel('User metadata').fill('{"plan": "pro"}');
  await shot('user-create');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expectText('User created.');
  const [user] = (await mgmt('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body;
  assert.equal(user.name, 'Gina Hall');
  assert.deepEqual(user.user_metadata, { plan: 'pro' });
  assert.equal((await passwordGrant(email, 'gina first password')).status, 200);

  await page.getByRole('link', { name: 'Edit', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill('Gina Hall-Lee');
  await page.getByLabel('Phone number').fill('not a phone');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('phone-number');
  await page.getByLabel('Phone number').fill('+14155550123');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('User saved.');
  assert.equal((await mgmt('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.name, 'Gina Hall-Lee');

  await page.getByRole('button', { name: 'Block', exact: true }).click();
  await expectText('This will end every session of the user and revoke 1 refresh token');
  await page.getByRole('button', { name: 'Block user' }).click();
  await expectText('User blocked: revoked 1 refresh token');
  assert.equal((await mgmt('GET', `/users/${encodeURIComponent(user.user_id)}`)).body.blocked, true);
  assert.notEqual((await passwordGrant(email, 'gina first password')).status, 200);
  await page.getByRole('button', { name: 'Unblock' }).click();
  await expectText('User unblocked.');
  const { body: again } = await passwordGrant(email, 'gina first password');
  assert.ok(again.refresh_token, JSON.stringify(again));

  await page.getByRole('link', { name: 'Set password' }).click();
  await page.getByLabel('New password').fill('gina second password');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expectText('Password changed: revoked 1 refresh token');
  assert.notEqual((await refresh(data.mobile, again.refresh_token)).status, 200);
  assert.notEqual((await passwordGrant(email, 'gina first password')).status, 200);
  assert.equal((await passwordGrant(email, 'gina second password')).status, 200);

  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await expectText('The user, their grants and their metadata are deleted');
  await page.getByRole('button', { name: 'Delete user' }).click();
  await expectText('User deleted.');
  assert.deepEqual((await mgmt('GET', `/users-by-email?email=${encodeURIComponent(email)}`)).body, []);
  const descriptions = (await adminEvents('user_id', user.user_id)).map((e) => e.description);
  assert.ok(descriptions.includes(`Create user ${user.user_id}`), JSON.stringify(descriptions));
  assert.ok(descriptions.includes(`Update user ${user.user_id}`), JSON.stringify(descriptions));
  assert.ok(descriptions.some((d) => d.endsWith('the user was deleted')), JSON.stringify(descriptions));
});

step('an application is created (its secret shown once), edited, its secret rotated, and deleted', async () => {
  await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Applications', exact: true }).click();
  await page.getByRole('link', { name: 'Create application' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Nightly reports');
  await page.getByLabel('Application type').selectOption('non_interactive');
  await page.getByLabel('Token endpoint authentication method').selectOption('client_secret_post');
  await page.getByLabel('client_credentials', { exact: true }).check();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expectText('it is shown only this once');
  await shot('application-secret');
  const clientId = (await page.locator('#client-id').textContent()).trim();
  const secret = (await page.locator('#client-secret').textContent()).trim();
  assert.equal((await mgmt('POST', '/client-grants', { client_id: clientId, audience: API, scope: ['read:orders'] })).status, 201);
  assert.equal((await machineToken(clientId, secret)).status, 200);
  await page.getByRole('link', { name: 'Done' }).click();
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');

  await page.getByLabel('Description').fill('Sends the nightly reports');
  await page.getByLabel('Allowed callback URLs').fill('javascript:alert(1)');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expectText("uses the scheme 'javascript:'");
  await page.getByLabel('Allowed callback URLs').fill('https://reports.example.test/callback');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expectText('Settings saved.');
  const { body: saved } = await mgmt('GET', `/clients/${clientId}`);
  assert.equal(saved.description, 'Sends the nightly reports');
  assert.deepEqual(saved.callbacks, ['https://reports.example.test/callback']);

  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await expectText('The current secret stops working at once');
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await expectText('Client secret rotated');
  const rotated = (await page.locator('#client-secret').textContent()).trim();
  assert.notEqual(rotated, secret);
  assert.equal((await machineToken(clientId, secret)).status, 401);
  assert.equal((await machineToken(clientId, rotated)).status, 200);

  await page.getByRole('link', { name: 'Done' }).click();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Delete application' }).click();
  await expectText('Application deleted.');
  assert.equal((await mgmt('GET', `/clients/${clientId}`)).status, 404);
  const descriptions = (await adminEvents('client_id', clientId)).map((e) => e.description);
  for (const d of [`Create client ${clientId}`, `Update client ${clientId}`, `Rotate the secret of client ${clientId}`, `Delete client ${clientId}`]) {
    assert.ok(descriptions.includes(d), `${d}: ${JSON.stringify(descriptions)}`);
  }
});

step('an API is created, edited and deleted', async () => {
  const identifier = 'https://inventory.example.test/';
  await page.getByRole('link', { name: 'APIs', exact: true }).click();
  await page.getByRole('link', { name: 'Create API' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Inventory');
  await page.getByLabel('Identifier').fill(identifier);
  await page.getByLabel('Scopes').fill('read:stock Read the stock\nwrite:stock Change the stock');
  await page.getByLabel('Allow offline access').check();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await expectText('API created.');
  const { body: api } = await mgmt('GET', `/resource-servers/${encodeURIComponent(identifier)}`);
  assert.equal(api.allow_offline_access, true);
  assert.deepEqual(api.scopes, [
    { value: 'read:stock', description: 'Read the stock' },
    { value: 'write:stock', description: 'Change the stock' },
  ]);
  await page.getByLabel('Name', { exact: true }).fill('Inventory v2');
  await page.getByLabel('Token lifetime (seconds)').fill('not a number');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('token_lifetime must be a whole number of seconds');
  await page.getByLabel('Token lifetime (seconds)').fill('3600');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectText('API saved.');
  assert.equal((await mgmt('GET', `/resource-servers/${api.id}`)).body.name, 'Inventory v2');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Delete API' }).click();
  await expectText('API deleted.');
  await shot('apis');
  assert.equal((await mgmt('GET', `/resource-servers/${api.id}`)).status, 404);
  // The Management API is shown read-only.
  await page.getByRole('link', { name: /Management API/ }).first().click();
  await expectText('can be read but not changed or deleted');
});

step('the Logs page filters the audit log and opens an event', async () => {
  await page.getByRole('link', { name: 'Logs', exact: true }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  await page.getByLabel('Event type').selectOption('srrt');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expectText('the user was blocked');
  const rows = page.locator('tbody tr');
  const types = await rows.locator('td:nth-child(2)').allTextContents();
  assert.ok(types.length > 0 && types.every((t) => t.trim() === 'srrt'), JSON.stringify(types));
  await shot('logs');
  await page.getByLabel('Up to (date, UTC)').fill('2000-01-01');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expectText('No event matches these filters.');
  await page.getByLabel('Up to (date, UTC)').fill('');
  await page.getByLabel('User ID').fill(data.user.user_id);
  await page.getByRole('button', { name: 'Filter' }).click();
  await rows.first().getByRole('link').click();
  await expectText('Revocation receipt');
  await expectText('Actor');
  await expectText(env.adminEmail);
  await shot('log-event');
});

step('the administrator signs out', async () => {
  await page.goto(`${env.url}/dashboard/users`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expectText('You have signed out.');
  await page.goto(`${env.url}/dashboard/users`);
  await page.waitForURL(/\/dashboard\/login/);
});

step('the form_post page submits itself in Chromium, its script allowed by the CSP nonce', async () => {
  const context = await browser.newContext({ userAgent: WINDOWS_CHROME });
  const annPage = await context.newPage();
  const blocked = [];
  annPage.on('console', (message) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(message.text())) blocked.push(message.text());
  });
  const query = new URLSearchParams({
    response_type: 'code',
    response_mode: 'form_post',
    client_id: data.web.client_id,
    redirect_uri: CALLBACK,
    scope: 'openid profile offline_access read:orders',
    audience: API,
    state: 'e2e-form-post',
  });
  await annPage.goto(`${env.url}/authorize?${query}`);
  await annPage.getByLabel('Email address').fill(USER.email);
  await annPage.getByLabel('Password').fill(USER.password);
  await annPage.getByRole('button', { name: 'Continue' }).click();
  // The consent page comes if an earlier step revoked Ann's grant; then the
  // auto-submitting form_post page, which lands on the callback.
  const atCallback = (url) => url.href.startsWith(CALLBACK);
  const accept = annPage.getByRole('button', { name: 'Accept' });
  const reached = await Promise.race([
    annPage.waitForURL(atCallback).then(() => 'callback', () => 'none'),
    accept.waitFor().then(() => 'consent', () => 'none'),
  ]);
  if (reached === 'consent' && !atCallback(new URL(annPage.url()))) await accept.click();
  await annPage.waitForURL(atCallback);
  const posted = POSTED.find((form) => form.state === 'e2e-form-post');
  assert.ok(posted?.code, `a code posted to the callback: ${JSON.stringify(POSTED)}`);
  assert.equal(posted.iss, `${env.url}/`);
  assert.deepEqual(blocked, [], 'nothing blocked by the Content-Security-Policy');
  await context.close();
});
