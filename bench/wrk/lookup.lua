-- wrk load for GridWatch's point lookup: GET /api/v1/lookup at random points in a box.
--
--   wrk -t1 -c8 -d30s -s bench/wrk/lookup.lua http://127.0.0.1:8000 -- TOKEN SEED [W S E N] [PATH]
--
-- TOKEN: an API token sent as "Authorization: Bearer TOKEN" ("-" or empty: none; the
-- environment variable GRIDWATCH_BENCH_TOKEN is used when the argument is absent). SEED makes
-- the point sequence repeatable (each wrk thread draws from SEED * 1000 + its number). The box
-- defaults to bench/lookup.py's cells. Every response's "Server-Timing: app;dur=<ms>" is kept;
-- done() prints one "GW_RESULT key=value ..." line that bench/lookup.py parses, and a
-- human-readable summary.

local threads = {}
local created = 0

function setup(thread)
   created = created + 1
   thread:set("id", created)
   table.insert(threads, thread)
end

function init(args)
   token = args[1]
   if token == nil then token = os.getenv("GRIDWATCH_BENCH_TOKEN") end
   seed = tonumber(args[2] or "1")
   west = tonumber(args[3] or "115.9")
   south = tonumber(args[4] or "38.25")
   east = tonumber(args[5] or "116.35")
   north = tonumber(args[6] or "38.65")
   path = args[7] or "/api/v1/lookup"
   math.randomseed(seed * 1000 + id)
   local headers = {}
   if token ~= nil and token ~= "" and token ~= "-" then
      headers["Authorization"] = "Bearer " .. token
   end
   req_headers = headers
   durs = {}       -- Server-Timing dur of each response, in ms
   n_durs = 0
   non2xx = 0
   no_timing = 0   -- responses without a parsable Server-Timing
   statuses = {}   -- non-2xx status -> count
end

function request()
   local lon = west + (east - west) * math.random()
   local lat = south + (north - south) * math.random()
   return wrk.format("GET", string.format("%s?lon=%.7f&lat=%.7f", path, lon, lat),
                     req_headers)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
   local timing = headers["Server-Timing"] or headers["server-timing"]
   local dur = timing and tonumber(string.match(timing, "dur=([%d%.]+)"))
   if dur then
      n_durs = n_durs + 1
      durs[n_durs] = dur
   else
      no_timing = no_timing + 1
   end
end

local function percentile(sorted, p)
   local n = #sorted
   if n == 0 then return -1 end
   local rank = math.ceil(p / 100 * n)
   if rank < 1 then rank = 1 end
   return sorted[rank]
end

function done(summary, latency, requests)
   local all = {}
   local bad, untimed = 0, 0
   local codes = {}
   for _, thread in ipairs(threads) do
      local d = thread:get("durs")
      for i = 1, thread:get("n_durs") do all[#all + 1] = d[i] end
      bad = bad + thread:get("non2xx")
      untimed = untimed + thread:get("no_timing")
      for status, count in pairs(thread:get("statuses")) do
         codes[status] = (codes[status] or 0) + count
      end
   end
   table.sort(all)
   local status_list = {}
   for status, count in pairs(codes) do
      status_list[#status_list + 1] = string.format("%d:%d", status, count)
   end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "GW_RESULT requests=%d seconds=%.3f rps=%.1f client_p50_ms=%.3f client_p99_ms=%.3f "
      .. "client_max_ms=%.3f server_n=%d server_p50_ms=%.3f server_p90_ms=%.3f "
      .. "server_p99_ms=%.3f server_max_ms=%.3f non2xx=%d no_timing=%d connect=%d read=%d "
      .. "write=%d timeout=%d statuses=%s\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      #all, percentile(all, 50), percentile(all, 90), percentile(all, 99),
      all[#all] or -1, bad, untimed, e.connect, e.read, e.write, e.timeout,
      (#status_list > 0) and table.concat(status_list, ",") or "-"))
   io.write(string.format(
      "  Server-Timing over %d responses: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms;"
      .. " non-2xx %d\n", #all, percentile(all, 50), percentile(all, 90),
      percentile(all, 99), all[#all] or -1, bad))
end
