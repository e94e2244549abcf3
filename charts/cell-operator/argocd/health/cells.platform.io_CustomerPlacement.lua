-- Argo CD health of a CustomerPlacement (cells.platform.io/v1alpha1), from the routing table the
-- status mirrors: Healthy when placed (Placed=True, state Active); Progressing while Pending or
-- Fenced (a migration is cutting the customer over) and while a Migration moves the customer to
-- spec.cell; Degraded when Unschedulable (no eligible cell) or Drifted (spec.cell names another
-- cell than the one the customer lives in, and no Migration is moving it: the operator never
-- moves data on a spec edit, so a person must add a Migration or revert spec.cell).
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
  hs.message = "Waiting for the cell-operator to place the customer"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the cell-operator to act on generation " .. generation
  return hs
end

local placed = condition(status, "Placed")
if status.state == "Unschedulable" then
  hs.status = "Degraded"
  hs.message = say(placed and placed.message, status.message, "Unschedulable: no eligible cell")
  return hs
end

if status.state == "Fenced" then
  hs.status = "Progressing"
  hs.message = say(status.message, "Fenced: being cut over to another cell by a Migration")
  return hs
end

local drifted = condition(status, "Drifted")
if drifted ~= nil and drifted.status == "True" then
  if drifted.reason == "MigrationInProgress" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = say(drifted.message, status.message, "Drifted: spec.cell differs from the cell the customer lives in")
  return hs
end

if placed ~= nil and placed.status == "True" and (status.state == nil or status.state == "Active") then
  hs.status = "Healthy"
  local epoch = ""
  if status.epoch ~= nil then epoch = " (epoch " .. status.epoch .. ")" end
  hs.message = "Placed in cell " .. say(status.cell, "?") .. epoch
  return hs
end

hs.status = "Progressing"
hs.message = say(placed and placed.message, status.message, "Pending: not placed yet")
return hs
