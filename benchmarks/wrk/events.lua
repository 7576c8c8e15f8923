-- wrk script: unique tracking calls against clm serve.
-- Arguments (after --): AUTH_HEADER MODE CUSTOMERS TAG
--   TAG: a prefix unique to the run (LuaJIT's math.random is not seeded, so a tag drawn
--   here was the same in every run: the single-event run repeated the batch run's ids)
--   MODE "batch": POST /v1/batch with 100 purchase events per request
--   MODE "single": POST /v1/track with one purchase event per request
local counter = 0
local auth, mode, customers, tag

function init(args)
  auth = args[1]
  mode = args[2] or "batch"
  customers = tonumber(args[3] or "50000")
  tag = args[4] or tostring(math.random(1, 1000000000))
end

local function event(i)
  counter = counter + 1
  local c = math.random(0, customers - 1)
  return string.format(
    '{"type":"track","event":"purchase","messageId":"w-%s-%d","userId":"C%08d",' ..
    '"properties":{"revenue":%d.5,"category":"beauty","order_id":"wo-%s-%d"}}',
    tag, counter, c, math.random(1, 200), tag, counter)
end

request = function()
  local headers = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
  if mode == "single" then
    return wrk.format("POST", "/v1/track", headers, event(1))
  end
  local parts = {}
  for i = 1, 100 do parts[i] = event(i) end
  return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
