-- Argo CD health of a Cell (cells.platform.io/v1alpha1), from the status the cell-operator writes:
-- Healthy once Ready=True for the current generation; Degraded when the operator says Stalled (a
-- person must act: a wrong database password, a deletion blocked by customers) or the phase is
-- Degraded (a part that was ready no longer is); Progressing otherwise, a rollout that keeps serving
-- (phase Updating) included.
-- @waiting: report the cell's status

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
