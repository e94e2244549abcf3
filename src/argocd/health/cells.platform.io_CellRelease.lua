-- Argo CD health of a CellRelease (cells.platform.io/v1alpha1), from its phase: Healthy when
-- Succeeded, Aborted (only spec.abort: true aborts: the cells are back as Git asked) or Superseded
-- (a newer release carries on); Suspended when Paused (a pause step, spec.paused or a gate: promote,
-- resume or fix the cell named); Degraded when Failed, RollingBack after a failed cell, or when the
-- spec does not fit the cells (Valid=False); Progressing otherwise.
-- @waiting: start the release

local progress = ""
if status.progress ~= nil then progress = " (" .. status.progress .. " cells updated)" end

local phase = status.phase
local valid = condition(status, "Valid")
if valid ~= nil and valid.status == "False" and phase ~= "RollingBack" and phase ~= "Aborted" then
  hs.status = "Degraded"
  hs.message = say(valid.message, status.message, "The release does not fit the cells")
  return hs
end

if phase == "Failed" or (phase == "RollingBack" and status.failure ~= nil) then
  hs.status = "Degraded"
  hs.message = say(status.message, "Failed") .. progress
  return hs
end

if phase == "Succeeded" or phase == "Aborted" or phase == "Superseded" then
  hs.status = "Healthy"
  hs.message = say(status.message, phase) .. progress
  return hs
end

if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = say(status.message, "Paused") .. progress
  return hs
end

hs.status = "Progressing"
hs.message = say(status.message, phase, "Pending") .. progress
return hs
