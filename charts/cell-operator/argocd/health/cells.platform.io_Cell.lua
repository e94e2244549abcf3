-- Argo CD health of a Cell (cells.platform.io/v1alpha1), from the status the cell-operator writes:
-- Healthy once Ready=True for the current generation; Degraded when the operator says Stalled (a
-- person must act: a wrong database password, a deletion blocked by customers) or the phase is
-- Degraded (a part that was ready no longer is); Progressing otherwise.
local hs = {}

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
  hs.message = "Waiting for the cell-operator to report the cell's status"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the cell-operator to act on generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = say(stalled.message, status.message, stalled.reason, "Stalled")
  return hs
end

if status.phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = say(status.message, "Degraded")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  local customers = ""
  if status.customers ~= nil then customers = ", " .. status.customers .. " customers" end
  hs.message = say(status.phase, "Ready") .. customers
  return hs
end

hs.status = "Progressing"
local waiting = nil
if ready ~= nil then waiting = ready.message end
hs.message = say(status.message, waiting, status.phase, "Provisioning")
return hs
