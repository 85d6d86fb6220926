-- wrk script: GET /api/v1/claims/{id}, cycling through the ids in BENCH_IDS_FILE (one per line).
local ids = {}
local next_index = 0

local file = assert(io.open(os.getenv("BENCH_IDS_FILE"), "r"))
for line in file:lines() do
  if line ~= "" then ids[#ids + 1] = line end
end
file:close()

local headers = {}
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then headers["Authorization"] = "Bearer " .. bearer end

function request()
  next_index = next_index % #ids + 1
  return wrk.format("GET", "/api/v1/claims/" .. ids[next_index], headers)
end
