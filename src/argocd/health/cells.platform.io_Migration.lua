-- Argo CD health of a Migration (cells.platform.io/v1alpha1), from its phase: Healthy when
-- Succeeded, and when Aborted (only spec.abort: true aborts, so the state Git asked for is
-- reached: everyone moved back); Suspended when Paused (a pause step or spec.paused: promote or
-- resume it); Degraded when Failed or when the spec is invalid (Valid=False); Progressing otherwise.
-- @waiting: start the migration

local progress = ""
if status.progress ~= nil then progress = " (" .. status.progress .. " customers moved)" end

local valid = condition(status, "Valid")
if valid ~= nil and valid.status == "False" then
  hs.status = "Degraded"
  hs.message = say(valid.message, status.message, "The spec is invalid")
  return hs
end

local phase = status.phase
if phase == "Failed" then
  hs.status = "Degraded"
  local latest = ""
  if status.latestFailures ~= nil and status.latestFailures[1] ~= nil then
    local f = status.latestFailures[1]
    latest = "; latest: " .. say(f.customer, "?") .. " " .. say(f.reason, "Failed")
  end
  hs.message = say(status.message, "Failed") .. latest
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = say(status.message, "Succeeded") .. progress
  return hs
end

if phase == "Aborted" then
  hs.status = "Healthy"
  local back = ""
  if status.customers ~= nil and status.customers.movedBack ~= nil then
    back = ": " .. status.customers.movedBack .. " customers moved back"
  end
  hs.message = say(status.message, "Aborted as spec.abort asked" .. back)
  return hs
end

local paused = condition(status, "Paused")
if phase == "Paused" or (paused ~= nil and paused.status == "True") then
  hs.status = "Suspended"
  hs.message = say(status.message, paused and paused.message, "Paused") .. progress
  return hs
end

hs.status = "Progressing"
hs.message = say(status.message, phase, "Pending") .. progress
return hs
