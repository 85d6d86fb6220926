-- wrk script: POST /api/v1/claims with a 4-line JSON claim, spread over 300 providers.
--
-- BENCH_CLAIMS chooses what screening sees:
--   fresh (default)  each claim has its own subscriber and a service date in the last 300 days,
--                    the fees vary around one average: screening flags none of them, as it
--                    flags few claims of a real stream;
--   flagged          every claim has the same subscriber, procedures and 2018 service date: from
--                    the second claim on each line is a duplicate and stale, the most screening
--                    ever writes (benchmarks/screening.sh's worst case).
local counter = 0
local thread_id = 0
local flagged = os.getenv("BENCH_CLAIMS") == "flagged"
local today = os.time()
-- Seconds of the clock at start, in the subscriber ids: a warm-up run and the measured run after
-- it (each counting from 1) send different subscribers.
local run = today % 1000

-- The 300 providers' NPIs: ten digits whose last is the Luhn check digit over "80840" and the
-- first nine, as real NPIs have, so the claims carry no npi_check_digit warning.
local npis = {}
for k = 0, 299 do
  local base = string.format("1%08d", k)
  local digits = "80840" .. base
  local sum = 0
  for i = #digits, 1, -1 do
    local d = tonumber(digits:sub(i, i))
    if (#digits - i) % 2 == 0 then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
  end
  npis[k] = base .. tostring((10 - sum % 10) % 10)
end

function setup(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
end

local function line(npi, n, cents, subscriber, date)
  return string.format(
    '{"service date":"%s","submitted procedure":"D%04d","quadrant":"UR","Plan/Group #":"GRP-1000",'
      .. '"Subscriber#":"%s","Provider NPI":"%s","provider fees":"$%d.%02d","Allowed fees":"%d.00",'
      .. '"member coinsurance":"16.25","member copay":0}',
    date, 4340 + n, subscriber, npi, math.floor(cents / 100), cents % 100, math.floor(cents / 200))
end

-- The credential benchmarks/lib.sh made (an API key), or an access token (benchmarks/auth.sh).
local headers = { ["Content-Type"] = "application/json" }
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then headers["Authorization"] = "Bearer " .. bearer end

function request()
  counter = counter + 1
  local npi = npis[(counter * 7 + (id or 0)) % 300]
  local subscriber, date = "3730189502", "2018-03-28"
  if not flagged then
    -- Thread, run and counter make the subscriber unique to the claim.
    subscriber = string.format("%d%03d%06d", id or 0, run, counter % 1000000)
    date = os.date("!%Y-%m-%d", today - (counter % 300 + 1) * 86400)
  end
  local lines = {}
  for n = 1, 4 do lines[n] = line(npi, n, 10000 + (counter % 97) * 101 + n, subscriber, date) end
  local body = string.format('{"claim_number":"B%d-%d","lines":[%s]}', id or 0, counter, table.concat(lines, ","))
  return wrk.format("POST", "/api/v1/claims", headers, body)
end
