"""Drives grantor with Auth0's own Python SDK (auth0-python, pinned in
requirements.txt) and asserts what comes back.

Run by scripts/sdk-tests, which starts a fresh grantor and sets:

  GRANTOR_URL            http://127.0.0.1:PORT (no trailing slash)
  GRANTOR_ISSUER         the server's issuer, e.g. http://127.0.0.1:PORT/
  GRANTOR_CLIENT_ID      the bootstrap Management API client
  GRANTOR_CLIENT_SECRET  its secret

How the SDK is pointed at http (reference §9): the Management API through the
generated client `Auth0(base_url=".../api/v2", token=...)`, the Authentication
API through the hand-written classes' `protocol="http"`. `ManagementClient`
itself is not used: it always builds `https://{domain}/api/v2`.

Each resource is one function decorated with @resource (sdk_runner.py); add a
resource by adding a function. A check that fails because of a known server
bug is wrapped in `server_issue("ID", ...)`; SDK_TESTS_XFAIL="ID,..." turns
those into expected failures.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.parse
from importlib.metadata import version

import jwt  # PyJWT, a dependency of auth0-python
from cryptography.hazmat.primitives import serialization  # a dependency of PyJWT's crypto
from cryptography.hazmat.primitives.asymmetric import ec
import requests  # a dependency of auth0-python; the browser of `sessions`
from auth0.authentication import GetToken, RevokeToken, Users
from auth0.authentication.exceptions import Auth0Error
from auth0.authentication.token_verifier import (
    AsymmetricSignatureVerifier,
    TokenVerifier,
)
from auth0.management import Auth0
from auth0.management.core.api_error import ApiError
from auth0.management.errors import BadRequestError, ConflictError, NotFoundError

from sdk_runner import browser_sign_in, check, eq, expect_error, resource, run_all, unique

URL = os.environ["GRANTOR_URL"].rstrip("/")
ISSUER = os.environ["GRANTOR_ISSUER"]
DOMAIN = urllib.parse.urlsplit(URL).netloc  # 127.0.0.1:PORT
MGMT_AUDIENCE = f"{ISSUER}api/v2/"
BOOT_ID = os.environ["GRANTOR_CLIENT_ID"]
BOOT_SECRET = os.environ["GRANTOR_CLIENT_SECRET"]
PASSWORD = "correct horse battery staple"
CALLBACK = "https://app.example.test/callback"


def expect_auth_error(fn, status, error, what):
    """An Authentication API call must fail with Auth0Error(status, error)."""
    return expect_error(fn, Auth0Error, status, what, code=error)


def expect_mgmt_error(fn, cls, status, what):
    return expect_error(fn, cls, status, what)


# --- context shared by the resources -----------------------------------------


class Ctx:
    def __init__(self):
        self.auth = GetToken(DOMAIN, BOOT_ID, client_secret=BOOT_SECRET, protocol="http")
        token = self.auth.client_credentials(MGMT_AUDIENCE)
        self.mgmt = Auth0(base_url=f"{URL}/api/v2", token=token["access_token"], max_retries=0)

    def api(self, **extra):
        """A resource server allowing offline access, with two scopes."""
        identifier = f"https://{unique('api')}.example.test/"
        body = {
            "identifier": identifier,
            "name": unique("API"),
            "scopes": [{"value": "read:things", "description": "Read"}, {"value": "write:things"}],
            "allow_offline_access": True,
        }
        body.update(extra)
        return self.mgmt.resource_servers.create(**body)

    def user(self, **extra):
        email = f"{unique('user')}@example.test"
        return self.mgmt.users.create(
            connection="Username-Password-Authentication",
            email=email,
            password=PASSWORD,
            **extra,
        )

    def client(self, **extra):
        body = {"name": unique("app"), "token_endpoint_auth_method": "client_secret_post"}
        body.update(extra)
        return self.mgmt.clients.create(**body)

    def token_client(self, client) -> GetToken:
        return GetToken(DOMAIN, client.client_id, client_secret=client.client_secret, protocol="http")

    def password_app(self, **extra):
        """A client with the password and refresh_token grants (non-rotating
        unless `refresh_token` says otherwise, so a token can be tried twice)."""
        return self.client(grant_types=["password", "refresh_token"], **extra)

    def login(self, app, user, api, scope="offline_access read:things") -> dict:
        """Password grant for `user` at `app`: a new refresh token (a new
        device credential) under the user's grant for `api`."""
        return self.token_client(app).login(
            username=user.email, password=PASSWORD, scope=scope, audience=api.identifier,
            grant_type="password",
        )

    def revoker(self, app) -> RevokeToken:
        return RevokeToken(DOMAIN, app.client_id, client_secret=app.client_secret, protocol="http")


def refresh_fails(ctx: Ctx, app, refresh_token: str, what: str):
    """The effect of a revocation: the refresh token fails at /oauth/token."""
    expect_auth_error(
        lambda: ctx.token_client(app).refresh_token(refresh_token), 403, "invalid_grant", f"{what}: refresh fails",
    )


def refresh_works(ctx: Ctx, app, refresh_token: str, what: str):
    check("access_token" in ctx.token_client(app).refresh_token(refresh_token), f"{what}: refresh works")


def new_browser(user_agent: str) -> requests.Session:
    browser = requests.Session()
    browser.headers["User-Agent"] = user_agent
    return browser


def decode(token: str) -> dict:
    """Claims of a JWT, verified against the server's JWKS (PyJWT)."""
    jwks = jwt.PyJWKClient(f"{URL}/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=[jwt.get_unverified_header(token)["alg"]],
        options={"verify_aud": False}, issuer=ISSUER,
    )


# --- Authentication API ------------------------------------------------------


@resource
def client_credentials(ctx: Ctx):
    token = ctx.auth.client_credentials(MGMT_AUDIENCE)
    eq(token["token_type"], "Bearer", "token_type")
    check(isinstance(token["expires_in"], int) and token["expires_in"] > 0, f"expires_in {token!r}")
    check("refresh_token" not in token and "id_token" not in token, f"machine token only: {token!r}")
    claims = decode(token["access_token"])
    eq(claims["aud"], MGMT_AUDIENCE, "aud")
    eq(claims["gty"], "client-credentials", "gty")
    eq(claims["sub"], f"{BOOT_ID}@clients", "sub")
    check("read:clients" in claims["scope"].split(), f"scope {claims['scope']!r}")
    # Wrong secret: 401 access_denied.
    bad = GetToken(DOMAIN, BOOT_ID, client_secret="not-the-secret", protocol="http")
    expect_auth_error(lambda: bad.client_credentials(MGMT_AUDIENCE), 401, "access_denied", "wrong secret")
    # Unknown audience: 403 access_denied.
    expect_auth_error(
        lambda: ctx.auth.client_credentials("https://nope.example.test/"), 403, "access_denied",
        "unknown audience",
    )


@resource
def password_refresh_revoke_userinfo(ctx: Ctx):
    api = ctx.api()
    user = ctx.user(name="Ann Example")
    app = ctx.client(
        grant_types=["password", "refresh_token"],
        refresh_token={"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0},
    )
    auth = ctx.token_client(app)
    # Password grant (GetToken.login with grant_type=password) for the API and
    # offline_access: access token, ID token and refresh token.
    first = auth.login(
        username=user.email, password=PASSWORD, scope="openid profile email offline_access read:things",
        audience=api.identifier, grant_type="password",
    )
    eq(first["token_type"], "Bearer", "token_type")
    eq(set(first["scope"].split()), {"openid", "profile", "email", "offline_access", "read:things"}, "scope")
    check(len(first["refresh_token"]) >= 43, "refresh token has at least 256 bits")
    access = decode(first["access_token"])
    eq(access["sub"], user.user_id, "access token sub")
    eq(access["azp"], app.client_id, "access token azp")
    check(api.identifier in access["aud"] and f"{ISSUER}userinfo" in access["aud"], f"aud {access['aud']!r}")

    # The ID token, verified with the SDK's own verifier (JWKS over http).
    def verify_id_token():
        verifier = TokenVerifier(
            signature_verifier=AsymmetricSignatureVerifier(f"{URL}/.well-known/jwks.json"),
            issuer=ISSUER, audience=app.client_id,
        )
        claims = verifier.verify(first["id_token"])
        eq(claims["sub"], user.user_id, "id token sub")
        eq(claims["email"], user.email, "id token email")

    # JwksFetcher parses every JWKS key as RSA, so this also checks that the
    # JWKS holds RSA keys only while no API signs with EC or OKP keys.
    verify_id_token()

    # /userinfo with the access token.
    info = Users(DOMAIN, protocol="http").userinfo(first["access_token"])
    eq(info["sub"], user.user_id, "userinfo sub")
    eq(info["email"], user.email, "userinfo email")
    eq(info["name"], "Ann Example", "userinfo name")

    # Refresh (the SDK sends "scope": ""): a rotating client gets a new token.
    second = auth.refresh_token(first["refresh_token"])
    check(second["refresh_token"] != first["refresh_token"], "rotation returns a new refresh token")
    eq(decode(second["access_token"])["sub"], user.user_id, "refreshed sub")
    eq(set(second["scope"].split()), set(first["scope"].split()), "refresh keeps the scope")
    # Narrowing the scope on refresh.
    third = auth.refresh_token(second["refresh_token"], scope="openid read:things")
    eq(set(third["scope"].split()), {"openid", "read:things"}, "narrowed scope")
    # Reuse of a rotated-out token: 403 invalid_grant, and the family is revoked.
    expect_auth_error(
        lambda: auth.refresh_token(first["refresh_token"]), 403, "invalid_grant", "reuse of a rotated token",
    )
    expect_auth_error(
        lambda: auth.refresh_token(third["refresh_token"]), 403, "invalid_grant", "family revoked by reuse",
    )

    # /oauth/revoke: 200 with an empty body (the SDK returns ""), then the
    # token fails at /oauth/token with 403 invalid_grant.
    fresh = auth.login(
        username=user.email, password=PASSWORD, scope="offline_access read:things",
        audience=api.identifier, grant_type="password",
    )
    revoked = RevokeToken(DOMAIN, app.client_id, client_secret=app.client_secret, protocol="http")
    eq(revoked.revoke_refresh_token(fresh["refresh_token"]), "", "revoke answers an empty body")
    e = expect_auth_error(
        lambda: auth.refresh_token(fresh["refresh_token"]), 403, "invalid_grant", "revoked refresh token",
    )
    eq(e.message, "Unknown or invalid refresh token.", "error_description")
    # Revoking an unknown token is 200 too (RFC 7009).
    eq(revoked.revoke_refresh_token("not-a-token"), "", "revoke of an unknown token")
    # Wrong client secret at /oauth/revoke: 401.
    bad = RevokeToken(DOMAIN, app.client_id, client_secret="wrong", protocol="http")
    e = expect_auth_error(lambda: bad.revoke_refresh_token("x"), 401, None, "revoke with a wrong secret")
    check(e.error_code in ("invalid_client", "access_denied"), f"revoke 401 error {e.error_code!r}")
    # A token of another client is refused with 400 and stays valid (CONTRACT §2).
    other = ctx.client(grant_types=["password", "refresh_token"])
    other_rt = ctx.token_client(other).login(
        username=user.email, password=PASSWORD, scope="offline_access", audience=api.identifier,
        grant_type="password",
    )["refresh_token"]
    expect_auth_error(lambda: revoked.revoke_refresh_token(other_rt), 400, "invalid_request", "foreign token")
    check("access_token" in ctx.token_client(other).refresh_token(other_rt), "foreign token still valid")

    # A client without the password grant: 403 unauthorized_client.
    plain = ctx.token_client(ctx.client())
    expect_auth_error(
        lambda: plain.login(username=user.email, password=PASSWORD, audience=api.identifier, grant_type="password"),
        403, "unauthorized_client", "password grant not enabled",
    )
    # Wrong password: 403 invalid_grant.
    expect_auth_error(
        lambda: auth.login(username=user.email, password="wrong", audience=api.identifier, grant_type="password"),
        403, "invalid_grant", "wrong password",
    )


# --- Management API ----------------------------------------------------------


@resource
def clients(ctx: Ctx):
    m = ctx.mgmt.clients
    name = unique("app")
    created = m.create(
        name=name,
        description="made by the SDK suite",
        app_type="regular_web",
        is_first_party=True,
        token_endpoint_auth_method="client_secret_post",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        callbacks=["https://app.example.test/callback"],
        allowed_logout_urls=["https://app.example.test/"],
        refresh_token={
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 3,
            "token_lifetime": 7200, "idle_token_lifetime": 3600,
            "infinite_token_lifetime": False, "infinite_idle_token_lifetime": False,
        },
    )
    check(created.client_id, "client_id")
    check(created.client_secret and len(created.client_secret) >= 32, "secret shown on create")
    eq(created.name, name, "name")
    eq(created.grant_types, ["authorization_code", "refresh_token", "client_credentials"], "grant_types")
    eq(created.callbacks, ["https://app.example.test/callback"], "callbacks")
    eq(created.token_endpoint_auth_method, "client_secret_post", "token_endpoint_auth_method")
    rt = created.refresh_token
    eq((rt.rotation_type, rt.expiration_type, rt.leeway), ("rotating", "expiring", 3), "refresh_token")
    eq((rt.token_lifetime, rt.idle_token_lifetime), (7200, 3600), "refresh_token lifetimes")

    got = m.get(created.client_id)
    eq(got.name, name, "get name")
    eq(got.description, "made by the SDK suite", "get description")
    eq(got.allowed_logout_urls, ["https://app.example.test/"], "get allowed_logout_urls")
    eq(got.client_secret, None, "secret never shown on read (deliberate difference)")
    eq(got.is_first_party, True, "is_first_party")

    # list: the SDK sends page=0&per_page=50&include_totals=true and pages on.
    ids = [c.client_id for c in m.list()]
    check(created.client_id in ids and BOOT_ID in ids, "list has the new and the bootstrap client")
    page = m.list(per_page=1, page=0)
    eq(len(page.items), 1, "per_page=1")
    check(page.response.total >= 2, f"total {page.response.total}")
    eq(len(list(m.list(per_page=1))), len(ids), "paging one by one sees every client")
    fields = m.list(fields="client_id,name", include_fields=True)
    first = next(iter(fields))
    eq(first.callbacks, None, "fields=client_id,name drops other fields")

    updated = m.update(
        created.client_id,
        name=name + "-renamed",
        callbacks=["https://app.example.test/cb2"],
        refresh_token={"rotation_type": "non-rotating", "expiration_type": "non-expiring"},
    )
    eq(updated.name, name + "-renamed", "update name")
    eq(updated.callbacks, ["https://app.example.test/cb2"], "update callbacks")
    eq(updated.refresh_token.rotation_type, "non-rotating", "update rotation_type")
    eq(m.get(created.client_id).name, name + "-renamed", "update persisted")

    # rotate-secret: a new secret; the old one no longer authenticates.
    rotated = m.rotate_secret(created.client_id)
    check(rotated.client_secret and rotated.client_secret != created.client_secret, "new secret")
    old = GetToken(DOMAIN, created.client_id, client_secret=created.client_secret, protocol="http")
    expect_auth_error(lambda: old.client_credentials(MGMT_AUDIENCE), 401, "access_denied", "old secret")
    new = GetToken(DOMAIN, created.client_id, client_secret=rotated.client_secret, protocol="http")
    # Authenticated now, but with no client grant for the Management API: 403.
    expect_auth_error(lambda: new.client_credentials(MGMT_AUDIENCE), 403, "access_denied", "new secret, no grant")

    expect_mgmt_error(
        lambda: m.get("no-such-client"), NotFoundError, 404, "get unknown client",
    )
    m.delete(created.client_id)
    expect_mgmt_error(lambda: m.get(created.client_id), NotFoundError, 404, "deleted client")


@resource
def users(ctx: Ctx):
    m = ctx.mgmt.users
    email = f"{unique('Mixed.Case')}@Example.test"
    created = m.create(
        connection="Username-Password-Authentication",
        email=email,
        password=PASSWORD,
        email_verified=True,
        name="Bea Example",
        given_name="Bea",
        family_name="Example",
        nickname="bea",
        user_metadata={"theme": "dark"},
        app_metadata={"plan": "gold"},
    )
    check(created.user_id.startswith("auth0|"), f"user_id {created.user_id!r}")
    eq(created.email, email.lower(), "email is stored in lower case")
    eq(created.email_verified, True, "email_verified")
    eq(created.name, "Bea Example", "name")
    eq(created.user_metadata, {"theme": "dark"}, "user_metadata")
    eq(created.app_metadata, {"plan": "gold"}, "app_metadata")
    eq(created.identities[0].connection, "Username-Password-Authentication", "identity connection")
    eq(created.identities[0].provider, "auth0", "identity provider")
    check(created.created_at is not None, "created_at")

    got = m.get(created.user_id)  # user ids go URL-encoded in the path
    eq((got.user_id, got.email, got.given_name), (created.user_id, email.lower(), "Bea"), "get")

    # A second user with the same e-mail: 409 (the SDK would retry a 409 twice
    # by default; Ctx sets max_retries=0 so that nothing is masked by retries).
    expect_mgmt_error(
        lambda: m.create(
            connection="Username-Password-Authentication", email=email, password=PASSWORD,
        ),
        ConflictError, 409, "duplicate user",
    )

    found = list(m.list(q=f'email:"{email.lower()}"'))
    eq([u.user_id for u in found], [created.user_id], "list q=email")
    # User search (Auth0's v3 syntax, the subset grantor answers): a prefix,
    # AND, sort and fields; a leading wildcard is a 400, never ignored.
    prefix = email.lower().split("@")[0]
    found = list(m.list(
        q=f"email:{prefix}* AND blocked:false", search_engine="v3", sort="email:1",
        fields="user_id,email", include_fields=True,
    ))
    eq([(u.user_id, u.email) for u in found], [(created.user_id, email.lower())], "search: prefix AND blocked")
    expect_mgmt_error(
        lambda: list(m.list(q="email:*@example.test", search_engine="v3")),
        BadRequestError, 400, "search: a leading wildcard",
    )
    eq([u.user_id for u in m.list_users_by_email(email=email)], [created.user_id], "users-by-email")
    page = m.list(per_page=1, page=0)
    eq(len(page.items), 1, "per_page=1")
    check(page.response.total >= 1, "total")
    check(created.user_id in [u.user_id for u in m.list()], "list all")

    updated = m.update(created.user_id, name="Bea Renamed", user_metadata={"theme": "light"}, blocked=True)
    eq(updated.name, "Bea Renamed", "update name")
    eq(updated.user_metadata, {"theme": "light"}, "update user_metadata")
    eq(updated.blocked, True, "update blocked")
    eq(m.get(created.user_id).blocked, True, "update persisted")

    # The user can sign in with the password given at creation (unblocked).
    m.update(created.user_id, blocked=False, password="a new password 123")
    api = ctx.api()
    app = ctx.client(grant_types=["password"])
    token = ctx.token_client(app).login(
        username=email, password="a new password 123", audience=api.identifier, grant_type="password",
    )
    eq(decode(token["access_token"])["sub"], created.user_id, "password changed through update")

    m.delete(created.user_id)
    expect_mgmt_error(lambda: m.get(created.user_id), NotFoundError, 404, "deleted user")

    # An id of one's own (given without the auth0| prefix), and a phone number.
    own = unique("legacy")
    mine = m.create(
        connection="Username-Password-Authentication", user_id=own, email=f"{own}@example.test",
        password=PASSWORD, phone_number="+14155550123", phone_verified=True,
    )
    eq((mine.user_id, mine.identities[0].user_id), (f"auth0|{own}", own), "user_id given at creation")
    eq((mine.phone_number, mine.phone_verified), ("+14155550123", True), "phone")
    got = m.get(f"auth0|{own}")
    eq((got.phone_number, got.phone_verified), ("+14155550123", True), "phone stored")
    eq(m.update(mine.user_id, phone_verified=False).phone_verified, False, "update phone_verified")
    expect_mgmt_error(
        lambda: m.create(
            connection="Username-Password-Authentication", user_id=own, email=f"other-{own}@example.test",
            password=PASSWORD,
        ),
        ConflictError, 409, "a taken user_id",
    )
    expect_mgmt_error(
        lambda: m.create(
            connection="Username-Password-Authentication", user_id="auth0|x", email=f"bad-{own}@example.test",
            password=PASSWORD,
        ),
        BadRequestError, 400, "a user_id with the prefix",
    )
    m.delete(mine.user_id)


@resource
def resource_servers(ctx: Ctx):
    m = ctx.mgmt.resource_servers
    identifier = f"https://{unique('orders')}.example.test/"
    created = m.create(
        identifier=identifier,
        name="Orders",
        scopes=[{"value": "read:orders", "description": "Read orders"}, {"value": "write:orders"}],
        signing_alg="RS256",
        allow_offline_access=True,
        token_lifetime=3600,
        skip_consent_for_verifiable_first_party_clients=True,
    )
    check(created.id, "id")
    eq(created.identifier, identifier, "identifier")
    eq([s.value for s in created.scopes], ["read:orders", "write:orders"], "scopes")
    eq(created.scopes[0].description, "Read orders", "scope description")
    eq((created.signing_alg, created.allow_offline_access, created.token_lifetime), ("RS256", True, 3600), "settings")
    eq(created.skip_consent_for_verifiable_first_party_clients, True, "skip consent")

    eq(m.get(created.id).identifier, identifier, "get by id")
    eq(m.get(identifier).id, created.id, "get by identifier (audience)")
    listed = list(m.list())
    check(created.id in [r.id for r in listed], "list")
    check(MGMT_AUDIENCE in [r.identifier for r in listed], "list has the Management API")
    page = m.list(per_page=1, page=0)
    eq(len(page.items), 1, "per_page=1")

    updated = m.update(
        created.id, name="Orders v2", token_lifetime=600, scopes=[{"value": "read:orders"}],
        allow_offline_access=False,
    )
    eq((updated.name, updated.token_lifetime, updated.allow_offline_access), ("Orders v2", 600, False), "update")
    eq([s.value for s in updated.scopes], ["read:orders"], "update scopes")
    eq(m.get(created.id).name, "Orders v2", "update persisted")

    # A duplicate identifier: 409.
    expect_mgmt_error(
        lambda: m.create(identifier=identifier, name="dup"),
        ConflictError, 409, "duplicate identifier",
    )
    m.delete(created.id)
    expect_mgmt_error(lambda: m.get(created.id), NotFoundError, 404, "deleted resource server")


@resource
def client_grants(ctx: Ctx):
    m = ctx.mgmt.client_grants
    api = ctx.api()
    app = ctx.client(grant_types=["client_credentials"])
    machine = ctx.token_client(app)
    expect_auth_error(lambda: machine.client_credentials(api.identifier), 403, "access_denied", "no grant yet")

    created = m.create(client_id=app.client_id, audience=api.identifier, scope=["read:things"])
    check(created.id, "id")
    eq((created.client_id, created.audience, created.scope), (app.client_id, api.identifier, ["read:things"]), "create")
    claims = decode(machine.client_credentials(api.identifier)["access_token"])
    eq(claims["scope"], "read:things", "machine token carries the granted scope")
    eq(claims["aud"], api.identifier, "machine token aud")

    eq(m.get(created.id).audience, api.identifier, "get")
    # list is checkpoint-paged in this SDK (from/take): filters and paging.
    by_client = list(m.list(client_id=app.client_id))
    eq([g.id for g in by_client], [created.id], "list client_id=")
    by_audience = list(m.list(audience=api.identifier))
    eq([g.id for g in by_audience], [created.id], "list audience=")
    all_ids = [g.id for g in m.list()]
    eq([g.id for g in m.list(take=1)], all_ids, "checkpoint paging one by one sees every grant")
    check(created.id in all_ids and len(all_ids) >= 2, "list all")

    updated = m.update(created.id, scope=["read:things", "write:things"])
    eq(sorted(updated.scope), ["read:things", "write:things"], "update scope")
    claims = decode(machine.client_credentials(api.identifier)["access_token"])
    eq(set(claims["scope"].split()), {"read:things", "write:things"}, "token follows the update")

    # A second grant for the same pair: 409.
    expect_mgmt_error(
        lambda: m.create(client_id=app.client_id, audience=api.identifier, scope=[]),
        ConflictError, 409, "duplicate client grant",
    )
    m.delete(created.id)
    expect_mgmt_error(lambda: m.get(created.id), NotFoundError, 404, "deleted client grant")
    expect_auth_error(lambda: machine.client_credentials(api.identifier), 403, "access_denied", "grant deleted")


@resource
def tenant_settings(ctx: Ctx):
    s = ctx.mgmt.tenants.settings
    before = s.get()
    eq(before.flags.revoke_refresh_token_grant, False, "flag defaults to false")
    after = s.update(flags={"revoke_refresh_token_grant": True})
    eq(after.flags.revoke_refresh_token_grant, True, "flag on")
    eq(s.get().flags.revoke_refresh_token_grant, True, "flag persisted")
    # default_audience: used by a token request without an audience.
    api = ctx.api()
    app = ctx.client(grant_types=["client_credentials"])
    ctx.mgmt.client_grants.create(client_id=app.client_id, audience=api.identifier, scope=["read:things"])
    eq(s.update(default_audience=api.identifier).default_audience, api.identifier, "default_audience")
    # GetToken.client_credentials sends "audience": "" here; treated as absent.
    token = ctx.token_client(app).client_credentials("")
    eq(decode(token["access_token"])["aud"], api.identifier, "default_audience used")
    s.update(flags={"revoke_refresh_token_grant": False}, default_audience="")
    got = s.get()
    eq((got.flags.revoke_refresh_token_grant, got.default_audience or ""), (False, ""), "settings restored")


@resource
def user_grants(ctx: Ctx):
    m = ctx.mgmt.user_grants
    settings = ctx.mgmt.tenants.settings
    api, user, bystander = ctx.api(), ctx.user(), ctx.user()
    app, other = ctx.password_app(), ctx.password_app()
    rt = ctx.login(app, user, api)["refresh_token"]
    other_rt = ctx.login(other, user, api)["refresh_token"]
    ctx.login(app, bystander, api)

    # list: the wire says `clientID`; the SDK's model reads it into client_id.
    grants = list(m.list(user_id=user.user_id))
    eq(sorted(g.client_id for g in grants), sorted([app.client_id, other.client_id]), "grants, clientID")
    grant = next(g for g in grants if g.client_id == app.client_id)
    eq((grant.user_id, grant.audience), (user.user_id, api.identifier), "grant user_id, audience")
    check("read:things" in grant.scope, f"grant scope {grant.scope!r}")
    eq([g.id for g in m.list(user_id=user.user_id, client_id=app.client_id)], [grant.id], "list client_id=")
    eq(len(list(m.list(user_id=user.user_id, audience=api.identifier))), 2, "list audience=")
    eq(list(m.list(user_id=user.user_id, audience="https://nope.example.test/")), [], "unknown audience")
    page = m.list(user_id=user.user_id, per_page=1, page=0)
    eq((len(page.items), page.response.total), (1, 2), "per_page=1 and total")
    eq(sorted(g.id for g in m.list(user_id=user.user_id, per_page=1)), sorted(g.id for g in grants), "paging")

    # /oauth/revoke and "Refresh Token Revocation Deletes Grant": off keeps
    # the grant, on deletes it (CONTRACT §4 rule 3); the token dies either way.
    try:
        settings.update(flags={"revoke_refresh_token_grant": False})
        ctx.revoker(app).revoke_refresh_token(rt)
        refresh_fails(ctx, app, rt, "/oauth/revoke, flag off")
        eq([g.id for g in m.list(user_id=user.user_id, client_id=app.client_id)], [grant.id], "flag off keeps the grant")
        settings.update(flags={"revoke_refresh_token_grant": True})
        rt = ctx.login(app, user, api)["refresh_token"]
        eq([g.id for g in m.list(user_id=user.user_id, client_id=app.client_id)], [grant.id], "a login reuses it")
        ctx.revoker(app).revoke_refresh_token(rt)
        refresh_fails(ctx, app, rt, "/oauth/revoke, flag on")
        eq(list(m.list(user_id=user.user_id, client_id=app.client_id)), [], "flag on deletes the grant")
    finally:
        settings.update(flags={"revoke_refresh_token_grant": False})

    # delete(id): the grant goes, and its refresh tokens with it.
    rt = ctx.login(app, user, api)["refresh_token"]
    (again,) = m.list(user_id=user.user_id, client_id=app.client_id)
    check(again.id != grant.id, "a new grant after the old one was deleted")
    eq(m.delete(again.id), None, "delete")
    refresh_fails(ctx, app, rt, "deleted grant")
    eq(list(m.list(user_id=user.user_id, client_id=app.client_id)), [], "deleted grant is gone")
    # Auth0 documents no 404 here, so the SDK raises a plain ApiError for grantor's.
    expect_mgmt_error(lambda: m.delete(again.id), ApiError, 404, "deleting it again")
    refresh_works(ctx, other, other_rt, "another grant of the user")

    # delete_by_user_id: every grant of that user, no other user's.
    eq(m.delete_by_user_id(user_id=user.user_id), None, "delete_by_user_id")
    eq(list(m.list(user_id=user.user_id)), [], "the user has no grants left")
    refresh_fails(ctx, other, other_rt, "delete_by_user_id")
    eq(len(list(m.list(user_id=bystander.user_id))), 1, "another user's grant stays")


@resource
def device_credentials(ctx: Ctx):
    m = ctx.mgmt.device_credentials
    api, user = ctx.api(), ctx.user()
    app, other = ctx.password_app(), ctx.password_app()
    rt = ctx.login(app, user, api)["refresh_token"]
    other_rt = ctx.login(other, user, api)["refresh_token"]

    creds = list(m.list(user_id=user.user_id, type="refresh_token"))
    eq(len(creds), 2, "one credential per refresh token")
    for c in creds:
        eq((c.type, c.user_id), ("refresh_token", user.user_id), "type and user_id")
        check(c.device_name, f"device_name {c.device_name!r}")
    eq(sorted(c.client_id for c in creds), sorted([app.client_id, other.client_id]), "client_id")
    (mine,) = m.list(user_id=user.user_id, client_id=app.client_id, type="refresh_token")
    eq(mine.client_id, app.client_id, "list client_id=")
    eq(list(m.list(user_id=user.user_id, type="public_key")), [], "no public keys")
    page = m.list(user_id=user.user_id, per_page=1, page=0)
    eq((len(page.items), page.response.total), (1, 2), "per_page=1 and total")
    eq(sorted(c.id for c in m.list(user_id=user.user_id, per_page=1)), sorted(c.id for c in creds), "paging")
    eq(ctx.mgmt.refresh_tokens.get(mine.id).client_id, app.client_id, "the id is the refresh token's id")

    # create_public_key: a device's public key for a user (grantor's callers
    # are machines, so the user goes in the body) and a client.
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    created = m.create_public_key(
        device_name="sdk-tests phone", type="public_key", value=base64.b64encode(spki).decode(),
        device_id="0a1b2c3d", client_id=app.client_id,
        request_options={"additional_body_parameters": {"user_id": user.user_id}},
    )
    check(created.id.startswith("dcr_"), f"create_public_key id {created.id!r}")
    (pk,) = m.list(user_id=user.user_id, type="public_key")
    eq((pk.id, pk.type, pk.device_id, pk.device_name, pk.client_id), (created.id, "public_key", "0a1b2c3d", "sdk-tests phone", app.client_id), "public key listed")
    private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    expect_mgmt_error(lambda: m.create_public_key(
        device_name="sdk-tests phone", type="public_key", value=base64.b64encode(private).decode(),
        device_id="0a1b2c3e", client_id=app.client_id,
        request_options={"additional_body_parameters": {"user_id": user.user_id}},
    ), BadRequestError, 400, "a private key as value")
    expect_mgmt_error(lambda: m.create_public_key(
        device_name="again", type="public_key", value=base64.b64encode(spki).decode(),
        device_id="0a1b2c3d", client_id=app.client_id,
        request_options={"additional_body_parameters": {"user_id": user.user_id}},
    ), ConflictError, 409, "a second key for the device")
    eq(m.delete(created.id), None, "delete a public key")
    eq(list(m.list(user_id=user.user_id, type="public_key")), [], "public key deleted")

    # delete: "unlink device" revokes that refresh token only.
    eq(m.delete(mine.id), None, "delete")
    refresh_fails(ctx, app, rt, "deleted device credential")
    refresh_works(ctx, other, other_rt, "the other device")
    eq([c.client_id for c in m.list(user_id=user.user_id)], [other.client_id], "deleted credential is gone")
    # As for grants: no 404 in Auth0's spec, so a plain ApiError.
    expect_mgmt_error(lambda: m.delete("dcr_0000000000000000"), ApiError, 404, "unknown credential")


@resource
def refresh_tokens(ctx: Ctx):
    m = ctx.mgmt.refresh_tokens
    api, user = ctx.api(), ctx.user()
    rotating = ctx.password_app(refresh_token={
        "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0,
        "token_lifetime": 86400, "idle_token_lifetime": 3600,
    })
    plain = ctx.password_app()
    first = ctx.login(rotating, user, api)["refresh_token"]
    second = ctx.login(rotating, user, api)["refresh_token"]
    third = ctx.login(plain, user, api)["refresh_token"]

    tokens = list(m.list(user_id=user.user_id))
    ids = [t.id for t in tokens]
    eq(len(ids), 3, "three refresh tokens")
    eq(ids, sorted(ids), "sorted by id")
    for t in tokens:
        eq(t.user_id, user.user_id, "user_id")
        eq([r.audience for r in t.resource_servers], [api.identifier], "resource_servers audience")
        check("read:things" in t.resource_servers[0].scopes.split(), "scopes is one string")
        eq(t.session_id, None, "no session behind a password grant")
    eq(len(list(m.list(user_id=user.user_id, client_id=rotating.client_id))), 2, "list client_id=")
    (plain_token,) = m.list(user_id=user.user_id, client_id=plain.client_id)
    eq(plain_token.rotating, False, "non-rotating")
    # Checkpoint paging: `next` on every page but the last, so the pager stops.
    pages = list(m.list(user_id=user.user_id, take=1).iter_pages())
    eq([p.items[0].id for p in pages], ids, "take=1 walks every token")
    eq(pages[-1].response.next, None, "no next on the last page")
    check(all(p.response.next for p in pages[:-1]), "next on the other pages")
    eq(m.list(user_id=user.user_id, take=3).response.next, None, "one full page has no next")
    eq(len(list(ctx.mgmt.users.refresh_token.list(user.user_id, take=1))), 3, "users.refresh_token.list")

    # A rotation keeps the id; the exchange shows in last_exchanged_at.
    rotated = ctx.token_client(rotating).refresh_token(first)["refresh_token"]
    after = list(m.list(user_id=user.user_id, client_id=rotating.client_id))
    eq(sorted(t.id for t in after), sorted(t.id for t in tokens if t.rotating), "rotation keeps the id")
    (first_id,) = [t.id for t in after if t.last_exchanged_at is not None]
    (second_id,) = [t.id for t in after if t.id != first_id]
    got = m.get(first_id)
    eq((got.id, got.client_id, got.rotating), (first_id, rotating.client_id, True), "get")
    check(got.expires_at is not None and got.idle_expires_at is not None, "expiring token has both expiries")
    check(got.device.initial_ip and got.device.initial_user_agent, f"device {got.device!r}")

    # update: refresh_token_metadata, shown by every read; None clears... as {} does.
    updated = m.update(first_id, refresh_token_metadata={"device": "kitchen tablet"})
    eq(updated.refresh_token_metadata, {"device": "kitchen tablet"}, "update refresh_token_metadata")
    eq(m.get(first_id).refresh_token_metadata, {"device": "kitchen tablet"}, "get shows the metadata")
    (listed,) = [t for t in m.list(user_id=user.user_id) if t.id == first_id]
    eq(listed.refresh_token_metadata, {"device": "kitchen tablet"}, "list shows the metadata")
    expect_mgmt_error(
        lambda: m.update(first_id, refresh_token_metadata={f"k{i}": "v" for i in range(26)}),
        BadRequestError, 400, "26 metadata entries",
    )
    check(not m.update(first_id, refresh_token_metadata={}).refresh_token_metadata, "{} clears the metadata")
    expect_mgmt_error(lambda: m.update("no-such-token", refresh_token_metadata={"a": "b"}), NotFoundError, 404, "update unknown token")
    # A cursor grantor did not issue is a 400, not an empty page.
    expect_mgmt_error(lambda: m.list(user_id=user.user_id, from_="garbage"), BadRequestError, 400, "garbage from")

    # delete(id), revoke(ids=): that token only.
    eq(m.delete(first_id), None, "delete")
    refresh_fails(ctx, rotating, rotated, "deleted refresh token")
    expect_mgmt_error(lambda: m.get(first_id), NotFoundError, 404, "deleted token")
    eq(m.revoke(ids=[second_id]), None, "revoke ids=")
    refresh_fails(ctx, rotating, second, "revoked by id")
    refresh_works(ctx, plain, third, "a token not listed")

    # revoke(user_id, client_id, audience), then (user_id, client_id), then (user_id).
    other_api = ctx.api()
    fourth = ctx.login(plain, user, other_api)["refresh_token"]
    m.revoke(user_id=user.user_id, client_id=plain.client_id, audience=other_api.identifier)
    refresh_fails(ctx, plain, fourth, "revoked for one client and API")
    refresh_works(ctx, plain, third, "the same client's other API")
    fifth = ctx.login(rotating, user, api)["refresh_token"]
    m.revoke(user_id=user.user_id, client_id=plain.client_id)
    refresh_fails(ctx, plain, third, "revoked for one client")
    eq([t.client_id for t in m.list(user_id=user.user_id)], [rotating.client_id], "one token left")
    m.revoke(user_id=user.user_id)
    refresh_fails(ctx, rotating, fifth, "revoked for the user")
    eq(list(m.list(user_id=user.user_id)), [], "none left")

    # users.refresh_token.delete: every token of the user; later ones work.
    sixth = ctx.login(plain, user, api)["refresh_token"]
    refresh_works(ctx, plain, sixth, "a token issued after a user-wide revocation")
    eq(ctx.mgmt.users.refresh_token.delete(user.user_id), None, "users.refresh_token.delete")
    refresh_fails(ctx, plain, sixth, "users.refresh_token.delete")
    eq(list(ctx.mgmt.users.refresh_token.list(user.user_id)), [], "users.refresh_token.list after delete")

    expect_mgmt_error(lambda: m.get("no-such-token"), NotFoundError, 404, "unknown token")
    expect_mgmt_error(lambda: m.list(user_id="auth0|nobody"), NotFoundError, 404, "unknown user")
    expect_mgmt_error(
        lambda: m.revoke(user_id=user.user_id, audience=api.identifier), BadRequestError, 400,
        "audience without client_id",
    )


@resource
def multi_resource_refresh_tokens(ctx: Ctx):
    """refresh_token.policies through clients.create/update/get, a refresh
    exchange for a policy API (GetToken has no audience parameter for
    refresh_token, so its authenticated_post sends the form), and the refresh
    token's resource_servers."""
    api, user = ctx.api(), ctx.user()
    billing = ctx.api(skip_consent_for_verifiable_first_party_clients=True)
    policy = {"audience": billing.identifier, "scope": ["read:things"]}
    app = ctx.password_app(refresh_token={
        "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0, "policies": [policy],
    })
    eq([(p.audience, p.scope) for p in app.refresh_token.policies], [(billing.identifier, ["read:things"])],
       "create with policies")
    got = ctx.mgmt.clients.get(app.client_id)
    eq([p.audience for p in got.refresh_token.policies], [billing.identifier], "get shows policies")

    login = ctx.login(app, user, api, scope="openid offline_access read:things")
    auth = ctx.token_client(app)
    exchanged = auth.authenticated_post(f"{URL}/oauth/token", data={
        "client_id": app.client_id, "grant_type": "refresh_token", "refresh_token": login["refresh_token"],
        "audience": billing.identifier, "scope": "openid read:things write:things",
    })
    aud = decode(exchanged["access_token"])["aud"]
    eq(aud[0] if isinstance(aud, list) else aud, billing.identifier, "access token for the policy API")
    eq(sorted(exchanged["scope"].split()), ["openid", "read:things"], "scope narrowed to the policy")
    (token,) = ctx.mgmt.refresh_tokens.list(user_id=user.user_id)
    eq([r.audience for r in token.resource_servers], [api.identifier, billing.identifier],
       "resource_servers lists both APIs")
    eq(token.resource_servers[1].scopes, "read:things", "policy scopes as one string")
    # Its own API by the SDK's refresh_token (no audience).
    own = auth.refresh_token(exchanged["refresh_token"])
    aud = decode(own["access_token"])["aud"]
    eq(aud[0] if isinstance(aud, list) else aud, api.identifier, "own API without audience")

    # Removing the policies (null) stops the policy API at once.
    updated = ctx.mgmt.clients.update(app.client_id, refresh_token={
        "rotation_type": "rotating", "expiration_type": "expiring", "policies": None,
    })
    check(not updated.refresh_token.policies, "policies cleared")
    (token,) = ctx.mgmt.refresh_tokens.list(user_id=user.user_id)
    eq([r.audience for r in token.resource_servers], [api.identifier], "only its own API left")
    again = auth.authenticated_post(f"{URL}/oauth/token", data={
        "client_id": app.client_id, "grant_type": "refresh_token", "refresh_token": own["refresh_token"],
        "audience": billing.identifier,
    })
    aud = decode(again["access_token"])["aud"]
    eq(aud[0] if isinstance(aud, list) else aud, api.identifier, "no policy: the token's own API")
    expect_mgmt_error(
        lambda: ctx.mgmt.clients.update(app.client_id, refresh_token={
            "rotation_type": "rotating", "expiration_type": "expiring",
            "policies": [{"audience": MGMT_AUDIENCE, "scope": ["read:users"]}],
        }),
        BadRequestError, 400, "a policy for the Management API",
    )


@resource
def sessions(ctx: Ctx):
    m, of_user = ctx.mgmt.sessions, ctx.mgmt.users.sessions
    api, user = ctx.api(), ctx.user()
    web = ctx.client(
        app_type="regular_web", callbacks=[CALLBACK], grant_types=["authorization_code", "refresh_token"],
    )
    auth = ctx.token_client(web)

    def sign_in(browser) -> tuple[str, str]:
        """A browser sign-in, and the SDK's code exchange: (refresh token, sid)."""
        code = browser_sign_in(
            URL, browser, user.email, PASSWORD, client_id=web.client_id, redirect_uri=CALLBACK,
            scope="openid offline_access read:things", audience=api.identifier,
        )
        tokens = auth.authorization_code(code, CALLBACK)
        return tokens["refresh_token"], decode(tokens["id_token"])["sid"]

    browsers = [new_browser(f"sdk-tests browser {n}") for n in (1, 2, 3)]
    (rt1, s1), (rt2, s2), (rt3, s3) = (sign_in(b) for b in browsers)
    listed = list(of_user.list(user.user_id))
    eq(sorted(s.id for s in listed), sorted([s1, s2, s3]), "users.sessions.list")
    got = m.get(s1)
    eq((got.id, got.user_id), (s1, user.user_id), "get")
    eq([c.client_id for c in got.clients], [web.client_id], "clients")
    eq(got.device.initial_user_agent, "sdk-tests browser 1", "device.initial_user_agent")
    eq(got.authentication.methods[0].name, "pwd", "authentication method")
    updated = m.update(s1, session_metadata={"risk": "low"})
    eq(updated.session_metadata, {"risk": "low"}, "update session_metadata")
    eq(m.get(s1).session_metadata, {"risk": "low"}, "get shows the session metadata")
    check(not m.update(s1, session_metadata={}).session_metadata, "{} clears the session metadata")
    expect_mgmt_error(lambda: m.update("no-such-session", session_metadata={"a": "b"}), NotFoundError, 404, "update unknown session")
    # No 400 in Auth0's description of this list: the base ApiError.
    expect_mgmt_error(lambda: of_user.list(user.user_id, from_="garbage"), ApiError, 400, "garbage from (sessions)")
    bound = {t.session_id for t in ctx.mgmt.refresh_tokens.list(user_id=user.user_id)}
    eq(bound, {s1, s2, s3}, "each refresh token names its session")
    pages = list(of_user.list(user.user_id, take=1).iter_pages())
    eq(sorted(p.items[0].id for p in pages), sorted([s1, s2, s3]), "take=1 walks every session")
    eq(pages[-1].response.next, None, "no next on the last page")

    # revoke and delete: the session and its refresh tokens.
    eq(m.revoke(s1), None, "revoke")
    refresh_fails(ctx, web, rt1, "revoked session")
    expect_mgmt_error(lambda: m.get(s1), NotFoundError, 404, "revoked session")
    refresh_works(ctx, web, rt2, "another session's token")
    eq(m.delete(s2), None, "delete")
    refresh_fails(ctx, web, rt2, "deleted session")
    # revoke_access for one session, keeping its refresh tokens.
    eq(ctx.mgmt.users.revoke_access(user.user_id, session_id=s3, preserve_refresh_tokens=True), None, "revoke_access")
    expect_mgmt_error(lambda: m.get(s3), NotFoundError, 404, "session of revoke_access")
    refresh_works(ctx, web, rt3, "preserve_refresh_tokens")
    eq(list(of_user.list(user.user_id)), [], "no sessions left")

    # revoke_access without a session: all sessions, every refresh token.
    rt4, s4 = sign_in(browsers[0])
    eq(ctx.mgmt.users.revoke_access(user.user_id), None, "revoke_access (user)")
    refresh_fails(ctx, web, rt4, "revoke_access")
    refresh_fails(ctx, web, rt3, "revoke_access (the preserved token too)")
    expect_mgmt_error(lambda: m.get(s4), NotFoundError, 404, "revoke_access session")
    # users.sessions.delete: every session and the tokens bound to them.
    rt5, s5 = sign_in(browsers[1])
    rt6, s6 = sign_in(browsers[2])
    eq(of_user.delete(user.user_id), None, "users.sessions.delete")
    refresh_fails(ctx, web, rt5, "users.sessions.delete")
    refresh_fails(ctx, web, rt6, "users.sessions.delete")
    eq(list(of_user.list(user.user_id)), [], "no sessions left")

    expect_mgmt_error(lambda: m.get("no-such-session"), NotFoundError, 404, "unknown session")
    expect_mgmt_error(lambda: m.revoke("no-such-session"), NotFoundError, 404, "revoke unknown session")
    expect_mgmt_error(lambda: of_user.list("auth0|nobody"), NotFoundError, 404, "unknown user")


@resource
def logs(ctx: Ctx):
    api, user = ctx.api(), ctx.user()
    app = ctx.password_app()
    rt = ctx.login(app, user, api)["refresh_token"]
    (token_id,) = [t.id for t in ctx.mgmt.refresh_tokens.list(user_id=user.user_id)]
    ctx.revoker(app).revoke_refresh_token(rt)

    # logs.list sends `search=` (Lucene); grantor reads user_id, client_id and type clauses.
    (event,) = ctx.mgmt.logs.list(search=f'user_id:"{user.user_id}" AND type:srrt')
    eq((event.type, event.user_id, event.client_id), ("srrt", user.user_id, app.client_id), "srrt event")
    receipt = event.details["receipt"]
    eq((receipt["refresh_tokens"], receipt["refresh_token_ids"]), (1, [token_id]), "receipt")
    eq(event.details["actor"], {"type": "client", "client_id": app.client_id}, "actor")
    got = ctx.mgmt.logs.get(event.log_id)
    eq((got.log_id, got.type, got.details["receipt"]), (event.log_id, "srrt", receipt), "get")
    by_client = list(ctx.mgmt.logs.list(search=f'client_id:"{app.client_id}" AND type:srrt'))
    eq([e.log_id for e in by_client], [event.log_id], "client_id clause")

    # Newest first; offset paging one by one sees the same events.
    search = f'user_id:"{user.user_id}"'
    mine = list(ctx.mgmt.logs.list(search=search))
    types = [e.type for e in mine]
    check(types[0] == "srrt" and "sepft" in types, f"the user's events, newest first: {types}")
    eq([e.log_id for e in ctx.mgmt.logs.list(search=search, per_page=1)], [e.log_id for e in mine], "paging")
    eq(ctx.mgmt.logs.list(search=search, per_page=1, page=0).response.total, len(mine), "total")
    eq([e.log_id for e in ctx.mgmt.users.logs.list(user.user_id)], [e.log_id for e in mine], "users.logs.list")
    expect_mgmt_error(lambda: ctx.mgmt.logs.get("no-such-log"), NotFoundError, 404, "unknown log")


def main() -> int:
    print(f"auth0-python {version('auth0-python')} against {URL} (issuer {ISSUER})")
    return run_all("python", Ctx(), set(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
