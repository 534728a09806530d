# The rbac policy with the print() tracing people leave in policies (as the
# Kata agent policy does): rigor gathers the lines instead of writing them
# inside the measured loop, and shows them per input in the report.
package audited

import rego.v1

default allow := false

allow if {
	print("checking", input.user, input.action, input.type)
	"admin" in data.rbac.user_roles[input.user]
}

allow if {
	some role in data.rbac.user_roles[input.user]
	some grant in data.rbac.role_grants[role]
	print("role", role, "grants", grant.action, grant.type)
	input.action == grant.action
	input.type == grant.type
}
