/** Lua installed into every process state before its modules load (see `LuaVm.create`). */
export const PRELUDE = `
-- Installed into every process's Lua state before its modules load. Returns the host's private
-- helpers, which the host keeps in the registry (Lua code cannot reach or replace them).
local yield, randomseed, floor = coroutine.yield, math.randomseed, math.floor
local os_date, os_time = os.date, os.time
local sentinel = {}
local now = 0

-- Determinism: the host sets 'now' from the assignment before every call.
os.time = function(t) if t ~= nil then return os_time(t) end return now end
os.clock = function() return 0.0 end
os.date = function(format, t) return os_date(format, t or now) end
-- The host's safety, whatever the sandbox: emscripten's exit would set the node's exit code, and
-- precompiled bytecode can corrupt the VM, so load accepts text chunks only.
os.exit = function() error('os.exit is not available to AO processes', 2) end
local raw_load = load
load = function(chunk, name, _, env) return raw_load(chunk, name, 't', env) end
-- print goes nowhere by default (modules print banners at load); processes that want output return it.
print = function() end

-- Lua 5.3's bit32 (aos's crypto modules need it; Lua 5.4 dropped it).
package.preload.bit32 = function()
  local M, mask = {}, 0xFFFFFFFF
  local function norm(x) return floor(x) & mask end
  function M.band(...) local r = mask for _, v in ipairs({...}) do r = r & norm(v) end return r end
  function M.bor(...) local r = 0 for _, v in ipairs({...}) do r = r | norm(v) end return r end
  function M.bxor(...) local r = 0 for _, v in ipairs({...}) do r = r ~ norm(v) end return r end
  function M.bnot(x) return (~norm(x)) & mask end
  function M.btest(...) return M.band(...) ~= 0 end
  function M.lshift(x, n) if n < 0 then return M.rshift(x, -n) end return (norm(x) << n) & mask end
  function M.rshift(x, n) if n < 0 then return M.lshift(x, -n) end return norm(x) >> n end
  function M.arshift(x, n)
    x = norm(x)
    if n <= 0 then return M.lshift(x, -n) end
    if x & 0x80000000 == 0 then return x >> n end
    return ((x >> n) | ~(mask >> n)) & mask
  end
  function M.lrotate(x, n) n = n % 32 x = norm(x) return ((x << n) | (x >> (32 - n))) & mask end
  function M.rrotate(x, n) return M.lrotate(x, -n) end
  function M.extract(x, f, w) w = w or 1 return (norm(x) >> f) & ((1 << w) - 1) end
  function M.replace(x, v, f, w)
    w = w or 1
    local m = ((1 << w) - 1) << f
    return (norm(x) & ~m | ((norm(v) << f) & m)) & mask
  end
  return M
end

local host = { sentinel = sentinel }

-- Runs a process function with the deterministic environment of one call.
function host.call(fn, seed1, seed2, time, ...)
  randomseed(seed1, seed2)
  now = time
  return fn(...)
end

-- 'sandbox: true' (HyperBEAM dev_lua): these become the string "sandboxed".
function host.sandbox(paths)
  for _, path in ipairs(paths) do
    local parent, key = _G, nil
    for part in path:gmatch('[^.]+') do
      if key ~= nil then
        parent = type(parent) == 'table' and parent[key] or nil
      end
      key = part
    end
    if type(parent) == 'table' then parent[key] = 'sandboxed' end
  end
end

-- The AO library (HyperBEAM dev_lua_lib), merged into the modules' own 'ao' table if they made one.
function host.install()
  local ao = type(_G.ao) == 'table' and _G.ao or {}
  function ao.resolve(...) return yield(sentinel, 'resolve', ...) end
  function ao.get(key, base) return yield(sentinel, 'get', key, base) end
  function ao.set(base, key, value)
    local out = {}
    for k, v in pairs(base) do out[k] = v end
    if type(key) == 'table' then
      for k, v in pairs(key) do out[k] = v end
    else
      out[key] = value
    end
    return out
  end
  function ao.event() end
  _G.ao = ao
end

-- Names of the global functions (the 'functions' key).
function host.functions()
  local names = {}
  for k, v in pairs(_G) do
    if type(v) == 'function' and type(k) == 'string' then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

return host
`
