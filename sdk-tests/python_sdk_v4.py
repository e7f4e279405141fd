"""Drives grantor with auth0-python v4 (4.13.0, requirements-v4.txt), the last
hand-written major, still widely deployed. Its Management classes take
`protocol="http"` and default to the bare-array list form
(`include_totals=false`), which the generated v5+ SDKs never ask for.

Same environment as python_sdk.py (GRANTOR_URL, GRANTOR_ISSUER,
GRANTOR_CLIENT_ID, GRANTOR_CLIENT_SECRET); same runner (sdk_runner.py).
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from importlib.metadata import version

from auth0.authentication import GetToken, RevokeToken, Users
from auth0.exceptions import Auth0Error
from auth0.management import (
    ClientGrants,
    Clients,
    DeviceCredentials,
    Grants,
    Logs,
    ResourceServers,
    Tenants,
    UsersByEmail,
)
from auth0.management import Users as MgmtUsers

from sdk_runner import check, eq, expect_error, resource, run_all, unique

URL = os.environ["GRANTOR_URL"].rstrip("/")
ISSUER = os.environ["GRANTOR_ISSUER"]
DOMAIN = urllib.parse.urlsplit(URL).netloc
MGMT_AUDIENCE = f"{ISSUER}api/v2/"
BOOT_ID = os.environ["GRANTOR_CLIENT_ID"]
BOOT_SECRET = os.environ["GRANTOR_CLIENT_SECRET"]
PASSWORD = "correct horse battery staple"
DB = "Username-Password-Authentication"


class Ctx:
    def __init__(self):
        token = GetToken(DOMAIN, BOOT_ID, client_secret=BOOT_SECRET, protocol="http").client_credentials(
            MGMT_AUDIENCE
        )["access_token"]
        kw = {"protocol": "http"}
        self.clients = Clients(DOMAIN, token, **kw)
        self.users = MgmtUsers(DOMAIN, token, **kw)
        self.users_by_email = UsersByEmail(DOMAIN, token, **kw)
        self.resource_servers = ResourceServers(DOMAIN, token, **kw)
        self.client_grants = ClientGrants(DOMAIN, token, **kw)
        self.tenants = Tenants(DOMAIN, token, **kw)
        self.grants = Grants(DOMAIN, token, **kw)
        self.device_credentials = DeviceCredentials(DOMAIN, token, **kw)
        self.logs = Logs(DOMAIN, token, **kw)

    def api(self):
        return self.resource_servers.create({
            "identifier": f"https://{unique('api')}.example.test/", "name": unique("API"),
            "scopes": [{"value": "read:things"}, {"value": "write:things"}], "allow_offline_access": True,
        })

    def token_client(self, client) -> GetToken:
        return GetToken(DOMAIN, client["client_id"], client_secret=client["client_secret"], protocol="http")

    def user(self):
        return self.users.create({"connection": DB, "email": f"{unique('user')}@example.test", "password": PASSWORD})

    def password_app(self):
        """Password and refresh_token grants, non-rotating (a token can be tried twice)."""
        return self.clients.create({
            "name": unique("app"), "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["password", "refresh_token"],
        })

    def login(self, app, user, api) -> str:
        """Password grant with offline_access: a new refresh token."""
        return self.token_client(app).login(
            username=user["email"], password=PASSWORD, scope="offline_access read:things",
            audience=api["identifier"], grant_type="password",
        )["refresh_token"]

    def revoker(self, app) -> RevokeToken:
        return RevokeToken(DOMAIN, app["client_id"], client_secret=app["client_secret"], protocol="http")


def refresh_fails(ctx: Ctx, app, refresh_token: str, what: str):
    expect_error(
        lambda: ctx.token_client(app).refresh_token(refresh_token), Auth0Error, 403, f"{what}: refresh fails",
        code="invalid_grant",
    )


def refresh_works(ctx: Ctx, app, refresh_token: str, what: str):
    check("access_token" in ctx.token_client(app).refresh_token(refresh_token), f"{what}: refresh works")


@resource
def password_refresh_revoke_userinfo(ctx: Ctx):
    api = ctx.api()
    email = f"{unique('user')}@example.test"
    user = ctx.users.create({"connection": DB, "email": email, "password": PASSWORD, "name": "Cy"})
    app = ctx.clients.create({
        "name": unique("app"), "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["password", "refresh_token"],
        "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring"},
    })
    auth = ctx.token_client(app)
    first = auth.login(
        username=email, password=PASSWORD, scope="openid email offline_access read:things",
        audience=api["identifier"], grant_type="password",
    )
    check(first["refresh_token"] and first["id_token"], "refresh and ID tokens")
    info = Users(DOMAIN, protocol="http").userinfo(first["access_token"])
    eq((info["sub"], info["email"]), (user["user_id"], email), "userinfo")
    second = auth.refresh_token(first["refresh_token"])
    check(second["refresh_token"] != first["refresh_token"], "rotated")
    revoke = RevokeToken(DOMAIN, app["client_id"], client_secret=app["client_secret"], protocol="http")
    eq(revoke.revoke_refresh_token(second["refresh_token"]), "", "revoke answers an empty body")
    expect_error(lambda: auth.refresh_token(second["refresh_token"]), Auth0Error, 403, "revoked", code="invalid_grant")


@resource
def clients(ctx: Ctx):
    m = ctx.clients
    created = m.create({
        "name": unique("app"), "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"], "callbacks": ["https://app.example.test/cb"],
    })
    check(created["client_id"] and created["client_secret"], "id and secret on create")
    got = m.get(created["client_id"])
    eq(got["callbacks"], ["https://app.example.test/cb"], "get")
    check("client_secret" not in got, "secret never shown on read (deliberate difference)")
    # Clients.all() sends no include_totals: the bare-array form.
    listed = m.all()
    check(isinstance(listed, list), f"bare array: {type(listed).__name__}")
    check(created["client_id"] in [c["client_id"] for c in listed], "list")
    partial = m.all(fields=["client_id", "name"], include_fields=True, page=0, per_page=1)
    check(isinstance(partial, list) and len(partial) == 1, "page of one")
    eq(set(partial[0]), {"client_id", "name"}, "fields")
    eq(m.update(created["client_id"], {"name": "renamed"})["name"], "renamed", "update")
    rotated = m.rotate_secret(created["client_id"])
    check(rotated["client_secret"] != created["client_secret"], "new secret")
    expect_error(
        lambda: ctx.token_client(created).client_credentials(MGMT_AUDIENCE), Auth0Error, 401, "old secret",
        code="access_denied",
    )
    m.delete(created["client_id"])
    e = expect_error(lambda: m.get(created["client_id"]), Auth0Error, 404, "deleted client")
    check(e.message, "404 message")


@resource
def users(ctx: Ctx):
    m = ctx.users
    email = f"{unique('user')}@example.test"
    created = m.create({"connection": DB, "email": email, "password": PASSWORD, "user_metadata": {"a": 1}})
    check(created["user_id"].startswith("auth0|"), "user_id")
    eq(m.get(created["user_id"])["user_metadata"], {"a": 1}, "get")
    # Users.list sends include_totals=true: the object form with `users`, `total`, `length`.
    page = m.list(q=f'email:"{email}"', search_engine="v3")
    eq([u["user_id"] for u in page["users"]], [created["user_id"]], "list q=email")
    eq((page["total"], page["start"]), (1, 0), "totals")
    found = m.list(q=f"email:{email.split('@')[0]}* AND NOT blocked:true", search_engine="v3", sort="email:-1")
    eq([u["user_id"] for u in found["users"]], [created["user_id"]], "search: prefix AND NOT blocked")
    expect_error(lambda: m.list(q="name:jon~", search_engine="v3"), Auth0Error, 400, "search: fuzzy")
    eq([u["user_id"] for u in ctx.users_by_email.search_users_by_email(email)], [created["user_id"]], "by email")
    bare = m.list(include_totals=False)
    check(isinstance(bare, list), "include_totals=false: bare array")
    e = expect_error(
        lambda: m.create({"connection": DB, "email": email, "password": PASSWORD}), Auth0Error, 409, "duplicate",
    )
    check(e.message, "409 message")
    eq(m.update(created["user_id"], {"name": "Dee"})["name"], "Dee", "update")
    m.delete(created["user_id"])
    expect_error(lambda: m.get(created["user_id"]), Auth0Error, 404, "deleted user", code="inexistent_user")
    # An id of one's own (without the auth0| prefix) and a phone number.
    own = unique("legacy")
    mine = m.create({
        "connection": DB, "user_id": own, "email": f"{own}@example.test", "password": PASSWORD,
        "phone_number": "+14155550123", "phone_verified": True,
    })
    eq((mine["user_id"], mine["phone_number"], mine["phone_verified"]), (f"auth0|{own}", "+14155550123", True), "create")
    eq(m.get(mine["user_id"])["phone_number"], "+14155550123", "phone stored")
    expect_error(
        lambda: m.create({"connection": DB, "user_id": own, "email": f"x-{own}@example.test", "password": PASSWORD}),
        Auth0Error, 409, "a taken user_id",
    )
    m.delete(mine["user_id"])


@resource
def resource_servers(ctx: Ctx):
    m = ctx.resource_servers
    created = ctx.api()
    eq(m.get(created["id"])["identifier"], created["identifier"], "get")
    listed = m.get_all()
    check(isinstance(listed, list) and created["id"] in [r["id"] for r in listed], "bare-array list")
    totals = m.get_all(include_totals=True, page=0, per_page=1)
    eq(len(totals["resource_servers"]), 1, "object form")
    eq(m.update(created["id"], {"name": "renamed"})["name"], "renamed", "update")
    m.delete(created["id"])
    expect_error(lambda: m.get(created["id"]), Auth0Error, 404, "deleted resource server")


@resource
def client_grants(ctx: Ctx):
    m = ctx.client_grants
    api = ctx.api()
    app = ctx.clients.create({"name": unique("m2m"), "grant_types": ["client_credentials"],
                              "token_endpoint_auth_method": "client_secret_post"})
    grant = m.create({"client_id": app["client_id"], "audience": api["identifier"], "scope": ["read:things"]})
    eq(grant["scope"], ["read:things"], "create")
    token = ctx.token_client(app).client_credentials(api["identifier"])
    check(token["access_token"], "machine token")
    # ClientGrants.all() is offset-paged in v4 (include_totals=false: bare array).
    listed = m.all(client_id=app["client_id"])
    eq([g["id"] for g in listed], [grant["id"]], "list client_id=")
    totals = m.all(audience=api["identifier"], include_totals=True, page=0, per_page=10)
    eq([g["id"] for g in totals["client_grants"]], [grant["id"]], "object form")
    eq(m.update(grant["id"], {"scope": ["write:things"]})["scope"], ["write:things"], "update")
    m.delete(grant["id"])
    expect_error(
        lambda: ctx.token_client(app).client_credentials(api["identifier"]), Auth0Error, 403, "grant deleted",
        code="access_denied",
    )


@resource
def tenant_settings(ctx: Ctx):
    t = ctx.tenants
    eq(t.get()["flags"]["revoke_refresh_token_grant"], False, "default")
    eq(t.update({"flags": {"revoke_refresh_token_grant": True}})["flags"]["revoke_refresh_token_grant"], True, "on")
    eq(t.get(fields=["flags"], include_fields=True)["flags"]["revoke_refresh_token_grant"], True, "persisted")
    eq(t.update({"flags": {"revoke_refresh_token_grant": False}})["flags"]["revoke_refresh_token_grant"], False, "off")


@resource
def grants(ctx: Ctx):
    m = ctx.grants
    api, user = ctx.api(), ctx.user()
    app, other = ctx.password_app(), ctx.password_app()
    rt = ctx.login(app, user, api)
    other_rt = ctx.login(other, user, api)
    # Grants.all: bare array by default (include_totals=false), `clientID` on the wire.
    listed = m.all(extra_params={"user_id": user["user_id"]})
    check(isinstance(listed, list), f"bare array: {type(listed).__name__}")
    eq(sorted(g["clientID"] for g in listed), sorted([app["client_id"], other["client_id"]]), "clientID")
    check(all("client_id" not in g for g in listed), "no client_id member")
    grant = next(g for g in listed if g["clientID"] == app["client_id"])
    eq((grant["user_id"], grant["audience"]), (user["user_id"], api["identifier"]), "grant")
    page = m.all(page=0, per_page=1, include_totals=True, extra_params={"user_id": user["user_id"]})
    eq((len(page["grants"]), page["total"]), (1, 2), "object form")
    one = m.all(extra_params={"user_id": user["user_id"], "client_id": app["client_id"]})
    eq([g["id"] for g in one], [grant["id"]], "client_id filter")

    # /oauth/revoke with the tenant flag off keeps the grant, on deletes it.
    try:
        ctx.tenants.update({"flags": {"revoke_refresh_token_grant": False}})
        ctx.revoker(app).revoke_refresh_token(rt)
        refresh_fails(ctx, app, rt, "/oauth/revoke, flag off")
        eq([g["id"] for g in m.all(extra_params={"user_id": user["user_id"], "client_id": app["client_id"]})],
           [grant["id"]], "flag off keeps the grant")
        ctx.tenants.update({"flags": {"revoke_refresh_token_grant": True}})
        rt = ctx.login(app, user, api)
        ctx.revoker(app).revoke_refresh_token(rt)
        refresh_fails(ctx, app, rt, "/oauth/revoke, flag on")
        eq(m.all(extra_params={"user_id": user["user_id"], "client_id": app["client_id"]}), [], "flag on deletes it")
    finally:
        ctx.tenants.update({"flags": {"revoke_refresh_token_grant": False}})

    # Grants.delete: 204 (the SDK returns ""), and the grant's tokens die.
    (other_grant,) = m.all(extra_params={"user_id": user["user_id"], "client_id": other["client_id"]})
    eq(m.delete(other_grant["id"]), "", "delete answers an empty body")
    refresh_fails(ctx, other, other_rt, "deleted grant")
    eq(m.all(extra_params={"user_id": user["user_id"]}), [], "no grants left")
    expect_error(lambda: m.delete(other_grant["id"]), Auth0Error, 404, "deleting it again")


@resource
def device_credentials(ctx: Ctx):
    m = ctx.device_credentials
    api, user = ctx.api(), ctx.user()
    app, other = ctx.password_app(), ctx.password_app()
    rt = ctx.login(app, user, api)
    other_rt = ctx.login(other, user, api)
    # DeviceCredentials.get(user_id, client_id, type): bare array by default.
    (mine,) = m.get(user["user_id"], app["client_id"], "refresh_token")
    eq((mine["type"], mine["user_id"], mine["client_id"]), ("refresh_token", user["user_id"], app["client_id"]), "get")
    check(mine["device_name"], "device_name")
    eq(m.get(user["user_id"], app["client_id"], "public_key"), [], "no public keys")
    totals = m.get(user["user_id"], None, "refresh_token", page=0, per_page=1, include_totals=True)
    eq((len(totals["device_credentials"]), totals["total"]), (1, 2), "object form")
    partial = m.get(user["user_id"], app["client_id"], "refresh_token", fields=["id", "type"])
    eq(partial, [{"id": mine["id"], "type": "refresh_token"}], "fields")
    eq(m.delete(mine["id"]), "", "delete answers an empty body")
    refresh_fails(ctx, app, rt, "deleted device credential")
    refresh_works(ctx, other, other_rt, "the other device")
    eq([c["client_id"] for c in m.get(user["user_id"], None, "refresh_token")], [other["client_id"]], "left")
    expect_error(lambda: m.delete("dcr_0000000000000000"), Auth0Error, 404, "unknown credential")


@resource
def logs(ctx: Ctx):
    api, user = ctx.api(), ctx.user()
    app = ctx.password_app()
    rt = ctx.login(app, user, api)
    ctx.revoker(app).revoke_refresh_token(rt)
    # Logs.search sends q= (and include_totals=true: the object form).
    found = ctx.logs.search(q=f'user_id:"{user["user_id"]}" AND type:srrt')
    eq(found["total"], 1, "one revocation")
    (event,) = found["logs"]
    eq((event["type"], event["user_id"], event["client_id"]), ("srrt", user["user_id"], app["client_id"]), "srrt")
    eq(event["details"]["receipt"]["refresh_tokens"], 1, "receipt")
    eq(ctx.logs.get(event["log_id"])["details"], event["details"], "Logs.get")
    mine = ctx.logs.search(q=f'user_id:"{user["user_id"]}"', per_page=100)["logs"]
    check(mine[0]["log_id"] == event["log_id"] and len(mine) >= 2, "newest first")
    # Checkpoint: from= a log id, take=: oldest first after it, a bare array.
    oldest = mine[-1]["log_id"]
    after = ctx.logs.search(q=f'user_id:"{user["user_id"]}"', from_param=oldest, take=100)
    check(isinstance(after, list), "from/take: bare array")
    eq([e["log_id"] for e in after], [e["log_id"] for e in reversed(mine[:-1])], "from/take")
    # Users.get_log_events: the same events (bare array by default).
    eq([e["log_id"] for e in ctx.users.get_log_events(user["user_id"], per_page=100)], [e["log_id"] for e in mine],
       "Users.get_log_events")
    expect_error(lambda: ctx.logs.get("no-such-log"), Auth0Error, 404, "unknown log")


# auth0-python 4 has no classes for refresh tokens or sessions (python_sdk.py
# covers those through v6).


def main() -> int:
    print(f"auth0-python {version('auth0-python')} against {URL} (issuer {ISSUER})")
    return run_all("python-v4", Ctx(), set(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
