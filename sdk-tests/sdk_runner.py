"""The small runner the Python drivers share (python_sdk.py for auth0-python
v6, python_sdk_v4.py for v4): one function per resource, plain checks, and a
closing `<label>: N passed, N failed` line.

A check that fails because of a known server bug is wrapped in
`server_issue("ID", ...)` so it stays visible and counts on its own;
SDK_TESTS_XFAIL="ID,..." turns those into expected failures.
"""

from __future__ import annotations

import html
import json
import os
import re
import traceback
import urllib.parse
import uuid
from typing import Callable

XFAIL = {s for s in os.environ.get("SDK_TESTS_XFAIL", "").split(",") if s}
RESOURCES: list[Callable] = []
RESULTS = {"passed": 0, "failed": 0, "xfailed": 0}
LABEL = ["python"]


def resource(fn):
    RESOURCES.append(fn)
    return fn


class Check(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Check(what)


def eq(actual, expected, what):
    if actual != expected:
        raise Check(f"{what}: expected {expected!r}, got {actual!r}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def expect_error(fn, cls, status, what, code=None):
    """fn() must raise cls with this status_code (and error_code, if given)."""
    try:
        got = fn()
    except cls as e:
        detail = getattr(e, "error_code", None), getattr(e, "message", None) or getattr(e, "body", None)
        eq(e.status_code, status, f"{what} (status; got {detail!r})")
        if code is not None:
            eq(e.error_code, code, f"{what} (error code)")
        return e
    raise Check(f"{what}: expected {cls.__name__} {status}, call succeeded with {got!r}")


def _input_value(page: str, name: str) -> str:
    """The value of the hidden <input name=NAME> of a grantor page."""
    for tag in re.findall(r"<input\b[^>]*>", page):
        if f'name="{name}"' in tag:
            found = re.search(r'value="([^"]*)"', tag)
            if found:
                return html.unescape(found.group(1))
    raise Check(f"no <input name={name!r}> on the page: {page[:300]!r}")


def browser_sign_in(base_url: str, browser, email: str, password: str, **authorize) -> str:
    """A browser's sign-in: GET /authorize (response_type=code and the given
    parameters), then the login form and the consent form as a person would
    submit them (each carries a hidden `csrf` input matching the
    `grantor_csrf` cookie, and the pending request's id), following redirects
    by hand until the one to `redirect_uri`. grantor has no SDK method for
    this; the SDKs only take over at the code exchange. `browser` is a
    requests.Session (its cookie jar is the browser's; a second Session is a
    second device). Returns the authorization code."""
    redirect_uri = authorize["redirect_uri"]
    query = urllib.parse.urlencode({"response_type": "code", **authorize})
    response = browser.get(f"{base_url}/authorize?{query}", allow_redirects=False)
    signed_in = False
    for _ in range(6):
        page = response.text
        if response.status_code == 200 and 'action="/u/login"' in page:
            check(not signed_in, "the login page came back after signing in (wrong password?)")
            signed_in = True
            response = browser.post(f"{base_url}/u/login", allow_redirects=False, data={
                "csrf": _input_value(page, "csrf"), "request": _input_value(page, "request"),
                "username": email, "password": password,
            })
        elif response.status_code == 200 and 'action="/u/consent"' in page:
            response = browser.post(f"{base_url}/u/consent", allow_redirects=False, data={
                "csrf": _input_value(page, "csrf"), "request": _input_value(page, "request"),
                "decision": "accept",
            })
        elif response.status_code in (302, 303) and "Location" in response.headers:
            location = urllib.parse.urljoin(f"{base_url}/", response.headers["Location"])
            if location.startswith(redirect_uri):
                params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                check("code" in params, f"no code in the redirect: {location}")
                return params["code"][0]
            response = browser.get(location, allow_redirects=False)
        else:
            raise Check(f"sign-in stopped at {response.status_code}: {page[:300]!r}")
    raise Check("sign-in: too many pages")


def server_issue(issue_id: str, description: str, fn):
    """Runs one check that currently fails because of a server bug (listed in
    the README), counted on its own so the rest of the resource still runs.
    It fails the run unless issue_id is in SDK_TESTS_XFAIL."""
    label = LABEL[0]
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any failure of the check
        x = issue_id in XFAIL
        RESULTS["xfailed" if x else "failed"] += 1
        print(f"{'XFAIL' if x else 'FAIL'} {label} [server issue {issue_id}] {description}: {type(e).__name__}: {e}")
        return
    RESULTS["passed"] += 1
    hint = " (drop it from SDK_TESTS_XFAIL)" if issue_id in XFAIL else ""
    print(f"ok   {label} [server issue {issue_id}] passes now{hint}")


def run_all(label: str, ctx, only: set[str]) -> int:
    LABEL[0] = label
    for fn in RESOURCES:
        if only and fn.__name__ not in only:
            continue
        try:
            fn(ctx)
        except Exception as e:  # noqa: BLE001
            RESULTS["failed"] += 1
            print(f"FAIL {label} {fn.__name__}: {type(e).__name__}: {e}")
            if not isinstance(e, Check):
                traceback.print_exc()
            body = getattr(e, "body", None)
            if body is not None:
                print(f"    body: {body if isinstance(body, str) else json.dumps(body)}")
        else:
            RESULTS["passed"] += 1
            print(f"ok   {label} {fn.__name__}")
    extra = f", {RESULTS['xfailed']} xfailed" if RESULTS["xfailed"] else ""
    print(f"{label}: {RESULTS['passed']} passed, {RESULTS['failed']} failed{extra}")
    return 1 if RESULTS["failed"] else 0
