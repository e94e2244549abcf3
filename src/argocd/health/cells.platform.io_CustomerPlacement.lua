-- Argo CD health of a CustomerPlacement (cells.platform.io/v1alpha1), from the routing table the
-- status mirrors: Healthy when placed (Placed=True, state Active); Progressing while Pending or
-- Fenced (a migration is cutting the customer over) and while a Migration moves the customer to
-- spec.cell; Degraded when Unschedulable (no eligible cell) or Drifted (spec.cell names another
-- cell than the one the customer lives in, and no Migration is moving it: the operator never
-- moves data on a spec edit, so a person must add a Migration or revert spec.cell).
-- @waiting: place the customer

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
