-- Argo CD health check for infercost.io/v1alpha1 InferenceService.
-- Reads only status (the operator never writes spec): observedGeneration, the conditions
-- Ready / WithinBudget (docs/architecture.md section 3) and replicas / readyReplicas.
-- Argo CD runs it with `obj` bound to the object; it returns {status = ..., message = ...}.
local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

if obj.status == nil then
  return {status = "Progressing", message = "Waiting for the infercost operator to observe the service"}
end

-- A status computed for an older spec says nothing about the spec Argo CD just synced.
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  return {status = "Progressing", message = "Waiting for the operator to observe generation " .. generation}
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "False" and ready.reason == "InvalidSpec" then
  return {status = "Degraded", message = text(ready)}
end

local budget = condition("WithinBudget")
if budget ~= nil and budget.status == "False" then
  return {status = "Degraded", message = "Over budget: " .. text(budget)}
end

local replicas = obj.status.replicas or 0
local readyReplicas = obj.status.readyReplicas or 0
if readyReplicas < replicas then
  return {status = "Progressing", message = string.format("%d of %d replicas ready", readyReplicas, replicas)}
end

if ready == nil or ready.status == "Unknown" then
  return {status = "Progressing", message = "Waiting for the Ready condition"}
end
if ready.status == "False" then
  return {status = "Degraded", message = text(ready)}
end
return {status = "Healthy", message = string.format("%d replicas ready", readyReplicas)}
