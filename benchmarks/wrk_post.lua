-- POST pre-signed Wrenn deliveries, each once, and count the answers per worker.
--
--   wrk -t1 -c64 -d5s -s benchmarks/wrk_post.lua URL -- FILE THREADS
--
-- FILE (written by benchmarks/bench_http.py): a first line of header names,
-- then one delivery a line: those headers' values, then the body, tab-separated.
-- Thread i (from 0) sends deliveries i, i + THREADS, ... and stops when its share
-- runs out, so that no body is sent twice; `exhausted` says so in the report.
-- The report is one line on stdout: "WRK_JSON {...}".

local threads = {}
local created = 0

function setup(thread)
   thread:set("index", created)
   created = created + 1
   table.insert(threads, thread)
end

local requests = {}
local cursor = 0
consumed = 0     -- globals below are read back by done() through thread:get
exhausted = 0
workers = {}
statuses = {}
duplicates = 0

local function split(line)
   local fields = {}
   for field in string.gmatch(line, "[^\t]+") do
      table.insert(fields, field)
   end
   return fields
end

function init(args)
   local path, stride = args[1], tonumber(args[2] or "1")
   local file = assert(io.open(path, "r"))
   local names = split(file:read("*l"))
   local number = 0
   for line in file:lines() do
      if number % stride == index then
         local values = split(line)
         local headers = {}
         for name, value in pairs(wrk.headers) do
            headers[name] = value
         end
         for i = 1, #names - 1 do
            headers[names[i]] = values[i]
         end
         table.insert(requests, wrk.format("POST", nil, headers, values[#names]))
      end
      number = number + 1
   end
   file:close()
   assert(#requests > 1, "no deliveries for this thread in " .. path)
end

function request()
   cursor = cursor + 1
   consumed = cursor
   if cursor >= #requests then
      exhausted = 1
      wrk.thread:stop()
      cursor = #requests
   end
   return requests[cursor]
end

function response(status, headers, body)
   local pid = headers["X-Bench-Worker"] or "?"
   workers[pid] = (workers[pid] or 0) + 1
   statuses[status] = (statuses[status] or 0) + 1
   if body and string.find(body, '"duplicate"', 1, true) then
      duplicates = duplicates + 1
   end
end

local function encode(value)
   if type(value) == "table" then
      local parts = {}
      for key, item in pairs(value) do
         table.insert(parts, string.format("%q:%s", tostring(key), encode(item)))
      end
      return "{" .. table.concat(parts, ",") .. "}"
   end
   return tostring(value)
end

local function merge(into, from)
   for key, count in pairs(from or {}) do
      into[tostring(key)] = (into[tostring(key)] or 0) + count
   end
end

function done(summary, latency, requests_made)
   local all_workers, all_statuses = {}, {}
   local most_consumed, any_exhausted, all_duplicates = 0, 0, 0
   for _, thread in ipairs(threads) do
      merge(all_workers, thread:get("workers"))
      merge(all_statuses, thread:get("statuses"))
      most_consumed = math.max(most_consumed, thread:get("consumed"))
      any_exhausted = math.max(any_exhausted, thread:get("exhausted"))
      all_duplicates = all_duplicates + thread:get("duplicates")
   end
   local errors = summary.errors
   local report = {
      duration_us = summary.duration,
      requests = summary.requests,
      errors = errors.connect + errors.read + errors.write + errors.timeout,
      non_2xx_3xx = errors.status,
      p50_us = latency:percentile(50),
      p99_us = latency:percentile(99),
      mean_us = latency.mean,
      consumed_per_thread = most_consumed,
      exhausted = any_exhausted,
      duplicates = all_duplicates,
      workers = all_workers,
      statuses = all_statuses,
   }
   io.write("WRK_JSON " .. encode(report) .. "\n")
end
