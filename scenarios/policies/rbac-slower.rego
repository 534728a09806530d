# rbac.rego with extra work on every evaluation and the same decisions: a
# known "slower version" for paired A/B comparisons (scenarios/policy-ab.yaml).
package rbac

default allow := false

# Administrators may do anything.
allow if "admin" in data.rbac.user_roles[input.user]

allow if {
	# The extra work: the roles are counted (always >= 0).
	count(data.rbac.role_grants) >= 0
	some grant in user_grants
	input.action == grant.action
	input.type == grant.type
}

user_grants contains grant if {
	some role in data.rbac.user_roles[input.user]
	some grant in data.rbac.role_grants[role]
}
