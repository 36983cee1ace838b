-- PUT /groups/{id}/members/{user_id} for a random user of a range. Args: group lo hi
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local prefix, lo, hi

function init(args)
  common.init()
  prefix = "/groups/" .. args[1] .. "/members/"
  lo, hi = tonumber(args[2]), tonumber(args[3])
end

function request()
  return wrk.format("PUT", prefix .. math.random(lo, hi))
end
