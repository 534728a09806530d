# A Gatekeeper-style constraint template body (Rego v0, as every policy of
# Gatekeeper's library is): each container must set CPU and memory limits,
# and no more than the parameters allow. `violation` is a partial set rule,
# so its answer is a set: rigor compares it as one.
package k8scontainerlimits

missing(obj, field) = true {
  not obj[field]
}

missing(obj, field) = true {
  obj[field] == ""
}

canonify_mem(orig) = new {
  endswith(orig, "Gi")
  new := to_number(trim_suffix(orig, "Gi")) * 1024
}

canonify_mem(orig) = new {
  endswith(orig, "Mi")
  new := to_number(trim_suffix(orig, "Mi"))
}

canonify_cpu(orig) = new {
  endswith(orig, "m")
  new := to_number(trim_suffix(orig, "m"))
}

canonify_cpu(orig) = new {
  not endswith(orig, "m")
  new := to_number(orig) * 1000
}

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  missing(container.resources.limits, "cpu")
  msg := sprintf("container <%v> has no cpu limit", [container.name])
}

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  missing(container.resources.limits, "memory")
  msg := sprintf("container <%v> has no memory limit", [container.name])
}

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  cpu := canonify_cpu(container.resources.limits.cpu)
  cpu > canonify_cpu(input.parameters.cpu)
  msg := sprintf("container <%v> cpu limit <%v> is higher than the maximum allowed of <%v>", [container.name, container.resources.limits.cpu, input.parameters.cpu])
}

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  mem := canonify_mem(container.resources.limits.memory)
  mem > canonify_mem(input.parameters.memory)
  msg := sprintf("container <%v> memory limit <%v> is higher than the maximum allowed of <%v>", [container.name, container.resources.limits.memory, input.parameters.memory])
}
