-- Argo CD health of a CellRebalancePolicy (cells.platform.io/v1alpha1), from its phase: Healthy
-- when Balanced, Proposed (a proposal waits for approval or its window: the message says which)
-- or Waiting; Progressing while its Migrations move customers; Degraded when one of them failed
-- (Stalled=True names it and the fix).
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then return c end
  end
  return nil
end

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
  hs.message = "Waiting for the cell-operator to compute a proposal"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the cell-operator to act on generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if status.phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = say(stalled and stalled.message, status.message, "A Migration of this policy failed")
  return hs
end

if status.phase == "Moving" then
  hs.status = "Progressing"
  hs.message = say(status.message, "Moving customers")
  return hs
end

hs.status = "Healthy"
hs.message = say(status.message, status.phase, "Balanced")
return hs
