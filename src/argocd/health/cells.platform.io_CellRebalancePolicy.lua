-- Argo CD health of a CellRebalancePolicy (cells.platform.io/v1alpha1), from its phase: Healthy
-- when Balanced, Proposed (a proposal waits for approval or its window: the message says which)
-- or Waiting; Progressing while its Migrations move customers; Degraded when one of them failed
-- (Stalled=True names it and the fix).
-- @waiting: compute a proposal

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
