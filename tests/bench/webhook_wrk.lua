-- webhook_wrk.lua: wrk script of bench_webhook.py.  Each wrk thread sends
-- its own slice of pre-signed GitHub `push` deliveries, one after the other,
-- and counts the answers by status.
--
--   wrk -t T -c C -d D -s webhook_wrk.lua URL -- PREFIX SIGNATURE
--
-- PREFIX.<SIGNATURE>.<n>.raw (n = 0 .. T-1, written by
-- bench_webhook_lib.write_bodies) holds thread n's requests, whole (request
-- line, headers, body), each followed by a NUL byte; SIGNATURE is "good"
-- (signed with the webhook secret) or "bad" (signed with another key).
-- wrk's Lua cannot compute an HMAC, hence the files.
-- A thread that has sent all its requests starts again from its first (the
-- harness makes enough of them that this does not happen; `wrapped` in the
-- summary says if it did).
--
-- Counting answers needs a response() callback, which makes wrk parse every
-- answer's headers and body in Lua.  WRK_COUNT_STATUS=0 in the environment
-- leaves it out (for the flood of bad signatures: wrk then counts only
-- "non-2xx", the harness learns the status from a probe).
--
-- WRK_DELAY_MS=D paces each connection: before each request it waits a
-- random 0.5*D to 1.5*D ms (mean D), so C connections send about
-- C * 1000 / (D + latency) requests per second; wrk's latencies do not
-- include the wait.
--
-- done() prints one line "WRKJSON {...}": requests, duration, errors,
-- latency percentiles (microseconds) and the status counts of all threads.

local threads = {}
local counter = 0

function setup(thread)
	thread:set("tid", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

local file = nil -- this thread's requests, read 1 MiB at a time
local buf, bpos = "", 1
wrapped = 0
n200, n202, n401, n4xx, n5xx, nother = 0, 0, 0, 0, 0, 0

function init(args)
	local prefix, which = args[1], args[2] or "good"
	if prefix == nil then
		error("usage: wrk ... -s webhook_wrk.lua URL -- PREFIX good|bad")
	end
	local name = prefix .. "." .. which .. "." .. tid .. ".raw"
	file = assert(io.open(name, "rb"))
	if not file:read(0) then
		error("no requests in " .. name)
	end
	math.randomseed(os.time() + 7919 * tid)
end

-- The file is read as the requests go, not loaded in init(): wrk runs each
-- thread's init() after starting the threads before it and before its
-- clock starts, so a long init() would give the first threads unmeasured
-- time.  Reading a chunk costs wrk about a millisecond per 450 requests.
function request()
	while true do
		local z = buf:find("\0", bpos, true)
		if z then
			local r = buf:sub(bpos, z - 1)
			bpos = z + 1
			return r
		end
		local chunk = file:read(1048576)
		if chunk == nil then
			file:seek("set", 0)
			wrapped = wrapped + 1
			chunk = file:read(1048576)
		end
		buf, bpos = buf:sub(bpos) .. chunk, 1
	end
end

if os.getenv("WRK_COUNT_STATUS") ~= "0" then
	function response(status, headers, body)
		if status == 202 then
			n202 = n202 + 1
		elseif status == 200 then
			n200 = n200 + 1
		elseif status == 401 then
			n401 = n401 + 1
		elseif status >= 500 then
			n5xx = n5xx + 1
		elseif status >= 400 then
			n4xx = n4xx + 1
		else
			nother = nother + 1
		end
	end
end

local pace = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pace and pace > 0 then
	function delay()
		return pace * (0.5 + math.random())
	end
end

function done(summary, latency, requests)
	local sum = {}
	for _, k in ipairs({"n200", "n202", "n401", "n4xx", "n5xx", "nother", "wrapped"}) do
		sum[k] = 0
	end
	for _, t in ipairs(threads) do
		for k, _ in pairs(sum) do
			sum[k] = sum[k] + (t:get(k) or 0)
		end
	end
	local out = {}
	local function add(k, v)
		table.insert(out, string.format('"%s": %s', k, v))
	end
	add("requests", summary.requests)
	add("duration_us", summary.duration)
	add("bytes", summary.bytes)
	add("errors_connect", summary.errors.connect)
	add("errors_read", summary.errors.read)
	add("errors_write", summary.errors.write)
	add("errors_status", summary.errors.status)
	add("errors_timeout", summary.errors.timeout)
	add("lat_min_us", latency.min)
	add("lat_max_us", latency.max)
	add("lat_mean_us", string.format("%.1f", latency.mean))
	add("lat_stdev_us", string.format("%.1f", latency.stdev))
	for _, p in ipairs({50, 90, 99, 99.9}) do
		add(string.format("lat_p%s_us", tostring(p)), latency:percentile(p))
	end
	add("counted", (os.getenv("WRK_COUNT_STATUS") ~= "0") and "true" or "false")
	for k, v in pairs(sum) do
		add(k, v)
	end
	io.write("WRKJSON {" .. table.concat(out, ", ") .. "}\n")
end
