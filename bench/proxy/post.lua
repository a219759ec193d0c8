-- wrk script for the proxy benchmark: POST gzip'd rrweb batches.
--
--   wrk -s post.lua URL -- API_KEY BATCH.json.gz...
--
-- Every request carries what the browser SDK sends: Content-Type,
-- Content-Encoding: gzip and the tenant's Authorization: Bearer key. The
-- batches are sent in turn (each thread starts at a different one), so the
-- proxy never sees one body over and over. The requests are built once in
-- init(), so the script costs wrk nothing per request.
--
-- done() prints one machine-readable line for bench/proxy/run.py; wrk's own
-- "Non-2xx or 3xx responses" count is summary.errors.status.

local reqs = {}
local i = 0
local thread_no = 0

function setup(thread)
   thread:set("thread_no", thread_no)
   thread_no = thread_no + 1
end

function init(args)
   local key = args[1]
   for k = 2, #args do
      local f = assert(io.open(args[k], "rb"))
      local body = f:read("*a")
      f:close()
      reqs[#reqs + 1] = wrk.format("POST", nil, {
         ["Content-Type"] = "application/json",
         ["Content-Encoding"] = "gzip",
         ["Authorization"] = "Bearer " .. key,
      }, body)
   end
   assert(#reqs > 0, "post.lua: no batch files given")
   i = (thread_no or 0) % #reqs
end

function request()
   i = i % #reqs + 1
   return reqs[i]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d "
         .. "status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max))
end
