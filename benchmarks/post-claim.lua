-- wrk script: POST /api/v1/claims with a 4-line JSON claim, spread over 300 providers.
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end

local function line(npi, n, cents)
  return string.format(
    '{"service date":"2018-03-28","submitted procedure":"D%04d","quadrant":"UR","Plan/Group #":"GRP-1000",'
      .. '"Subscriber#":"3730189502","Provider NPI":"%s","provider fees":"$%d.%02d","Allowed fees":"%d.00",'
      .. '"member coinsurance":"16.25","member copay":0}',
    4340 + n, npi, math.floor(cents / 100), cents % 100, math.floor(cents / 200))
end

-- The credential benchmarks/lib.sh made (an API key), or an access token (benchmarks/auth.sh).
local headers = { ["Content-Type"] = "application/json" }
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then headers["Authorization"] = "Bearer " .. bearer end

function request()
  counter = counter + 1
  local npi = string.format("1%09d", (counter * 7 + (id or 0)) % 300)
  local lines = {}
  for n = 1, 4 do lines[n] = line(npi, n, 10000 + (counter % 97) * 101 + n) end
  local body = string.format('{"claim_number":"B%d-%d","lines":[%s]}', id or 0, counter, table.concat(lines, ","))
  return wrk.format("POST", "/api/v1/claims", headers, body)
end
