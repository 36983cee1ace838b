-- GET /users?limit=N&cursor=C with C picked at random among cursors this server issued.
-- Args: cursors-file (one cursor a line) limit
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")
local cursors, prefix = {}, ""

function init(args)
  common.init()
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(cursors, line)
    end
  end
  assert(#cursors > 0, "no cursors in " .. args[1])
  prefix = "/users?limit=" .. args[2] .. "&cursor="
end

function request()
  return wrk.format("GET", prefix .. cursors[math.random(#cursors)])
end
