-- GET /users/{id} for a random seeded id. Args: lowest-id highest-id
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local lo, hi

function init(args)
  common.init()
  lo, hi = tonumber(args[1]), tonumber(args[2])
end

function request()
  return wrk.format("GET", "/users/" .. math.random(lo, hi))
end
