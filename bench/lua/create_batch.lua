-- POST /users/batch with N users whose emails are unique to this run, thread and item.
-- Args: prefix batch-size
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local prefix, size, counter = "", 1000, 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  common.init()
  prefix = args[1] .. "-" .. tid .. "-"
  size = tonumber(args[2])
end

function request()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    items[i] = string.format(
      '{"email":"%s%d@example.com","name":"Bench User %d"}', prefix, counter, counter)
  end
  return wrk.format(nil, "/users/batch", nil, '{"users":[' .. table.concat(items, ",") .. "]}")
end
