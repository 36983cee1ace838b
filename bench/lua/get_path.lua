-- GET one fixed path. Args: path
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local path

function init(args)
  common.init()
  path = args[1]
end

function request()
  return wrk.format("GET", path)
end
