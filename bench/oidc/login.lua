-- wrk script of bench/oidc.sh: whole password logins. Each login is two requests: the
-- authorization request (no session: the login page, with a fresh signed `req`) and the
-- password form (303 on success). A login page's `req` is queued and posted by whichever
-- connection asks next. Counts successes (303) and anything else.
local authz = os.getenv("BENCH_AUTHZ")
local cookie = os.getenv("BENCH_CSRF_COOKIE")
local csrf = os.getenv("BENCH_CSRF")
local password = os.getenv("BENCH_PASSWORD")
local users = {}
for u in string.gmatch(os.getenv("BENCH_USERS"), "[^,]+") do table.insert(users, u) end

local threads = {}
function setup(thread) table.insert(threads, thread) end

local function enc(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  ok, bad, queue, next_user = 0, 0, {}, 1
end

function request()
  local req = table.remove(queue, 1)
  if req then
    local user = users[next_user]
    next_user = next_user % #users + 1
    local body = "csrf=" .. enc(csrf) .. "&req=" .. enc(req) .. "&login=" .. enc(user) .. "&password=" .. enc(password)
    return wrk.format("POST", "/login",
      { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie }, body)
  end
  return wrk.format("GET", authz, { ["Cookie"] = cookie })
end

function response(status, headers, body)
  if status == 200 then
    local req = string.match(body, 'name="req" value="([^"]*)"')
    if req then table.insert(queue, req) else bad = bad + 1 end
  elseif status == 303 then
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
