-- wrk script: POST /oauth/token, grant_type=client_credentials, for the
-- bootstrap client. Set the same values as the server's environment:
--   GRANTOR_BOOTSTRAP_CLIENT_ID, GRANTOR_BOOTSTRAP_CLIENT_SECRET, and
--   BENCH_AUDIENCE (the Management API audience, <issuer>api/v2/).
-- See docs/benchmarks.md for the full command.

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local id = os.getenv("GRANTOR_BOOTSTRAP_CLIENT_ID")
local secret = os.getenv("GRANTOR_BOOTSTRAP_CLIENT_SECRET")
local audience = os.getenv("BENCH_AUDIENCE")
assert(id and secret and audience, "set GRANTOR_BOOTSTRAP_CLIENT_ID, GRANTOR_BOOTSTRAP_CLIENT_SECRET and BENCH_AUDIENCE")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials"
  .. "&client_id=" .. urlencode(id)
  .. "&client_secret=" .. urlencode(secret)
  .. "&audience=" .. urlencode(audience)

local failures = 0
function response(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures == 1 then
      io.stderr:write("first non-200 answer: " .. status .. " " .. body .. "\n")
    end
  end
end
