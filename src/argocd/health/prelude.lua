-- What every health check starts with (gen:argocd puts it into each, since Argo CD runs each
-- script alone): the result, two helpers, and Progressing until the operator has acted on the
-- object's generation. {{waiting}} is the kind's own "-- @waiting:" line.
local hs = {}

-- The condition of type `kind`, or nil.
local function condition(status, kind)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then return c end
  end
  return nil
end

-- The first argument that is a non-empty string.
local function say(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" and v ~= "" then return v end
  end
  return ""
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the cell-operator to {{waiting}}"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the cell-operator to act on generation " .. generation
  return hs
end
