-- wrk script of bench/oidc.sh: the whole code flow of a signed-in browser. Each flow is two
-- requests: the authorization request with the SSO session cookie (a redirect carrying the
-- code) and the code's exchange at the token endpoint (client_secret_basic, PKCE). A code is
-- queued and exchanged by whichever connection asks next. Counts exchanged codes.
local authz = os.getenv("BENCH_AUTHZ")
local cookie = os.getenv("BENCH_SESSION_COOKIE")
local basic = os.getenv("BENCH_BASIC")
local redirect = os.getenv("BENCH_REDIRECT")
local verifier = os.getenv("BENCH_VERIFIER")

local threads = {}
function setup(thread) table.insert(threads, thread) end

local function enc(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  ok, bad, queue = 0, 0, {}
end

function request()
  local code = table.remove(queue, 1)
  if code then
    local body = "grant_type=authorization_code&code=" .. enc(code) .. "&redirect_uri=" .. enc(redirect)
      .. "&code_verifier=" .. verifier
    return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. basic }, body)
  end
  return wrk.format("GET", authz, { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local code = string.match(headers["Location"] or headers["location"] or "", "[?&]code=([^&]+)")
    if code then table.insert(queue, code) else bad = bad + 1 end
  elseif status == 200 and string.find(body, "access_token", 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local n, b = 0, 0
  for _, t in ipairs(threads) do n = n + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("RESULT done=%d bad=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f\n",
    n, b, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
