"""schemathesis hooks for scripts/openapi-fuzz.

The fuzzer finds ids in the answers it reads (GET /client-grants lists the
bootstrap client's grant, GET /keys/signing the key that signed its token) and
uses them as path parameters. Patching that grant's scopes, deleting that
client or revoking that key would turn every later call into 401 or 403, and
the rest of the run would test nothing else. So a request whose path names one
of the resources the fuzzer's own token depends on (OPENAPI_FUZZ_PROTECTED,
comma-separated, set by the script) is sent with that id replaced by one that
does not exist: the request is still made and checked, and answers 404.
"""

import os

import schemathesis

PROTECTED = {v for v in os.environ.get("OPENAPI_FUZZ_PROTECTED", "").split(",") if v}
STAND_IN = "openapi-fuzz-protected-id"


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if not params:
        return
    for name, value in list(params.items()):
        if isinstance(value, str) and value in PROTECTED:
            params[name] = STAND_IN
