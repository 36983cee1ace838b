-- POST /users with an email unique to this run, thread and request. Args: prefix
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local prefix, counter = "", 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  common.init()
  prefix = args[1] .. "-" .. tid .. "-"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"%s%d@example.com","name":"Bench User %d"}', prefix, counter, counter)
  return wrk.format(nil, "/users", nil, body)
end
