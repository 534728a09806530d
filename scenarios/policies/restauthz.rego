# REST API authorization against a token table and regex path rules,
# in the spirit of OPA's own REST authz benchmark.
#
# A request is allowed when its bearer token is known and not expired, and
# some rule matches the request path (regex), allows the method, and grants
# one of the token's roles. Requests are denied at different depths: unknown
# token (first lookup), no matching path, method not allowed, expired token.
package restauthz

default allow := false

tables := data.restauthz_tables

token := tables.tokens[input.token]

path := concat("/", ["", concat("/", input.path)])

# Rules are indexed by resource (the third path segment): ~5 candidates each.
candidates := tables.rules[input.path[2]]

matching_rules contains rule.id if {
	some rule in candidates
	regex.match(rule.path, path)
	input.method in rule.methods
}

allow if {
	not token.expired
	some rule in candidates
	rule.id in matching_rules
	some role in token.roles
	role in rule.roles
}

# Why a request was denied: useful when checking inputs by hand.
reason := "unknown token" if {
	not token
} else := "token expired" if {
	token.expired
} else := "no rule for method and path" if {
	count(matching_rules) == 0
} else := "no role grants access" if {
	not allow
} else := "allowed"
