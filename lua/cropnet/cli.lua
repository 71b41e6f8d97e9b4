-- placeholder, replaced below
local M = {}
function M.main(...) print("cropnet", ...) return 0 end
return M
