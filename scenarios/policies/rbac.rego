# Role-based access control, as in OPA's documentation: users have roles,
# roles grant (action, type) pairs.
package rbac

default allow := false

# Administrators may do anything.
allow if "admin" in data.rbac.user_roles[input.user]

allow if {
	some grant in user_grants
	input.action == grant.action
	input.type == grant.type
}

user_grants contains grant if {
	some role in data.rbac.user_roles[input.user]
	some grant in data.rbac.role_grants[role]
}
