# OPA's authz benchmark policy (test/authz), in Rego v1: a request is
# allowed when its token has an authorization profile whose path pattern
# matches the request's path and whose methods include its method.
package policy.restauthz

import data.restauthz.tokens

default allow := false

allow if {
	token := tokens[input.token_id]
	some profile in token.authz_profiles
	regex.match(profile.path, input.path)
	input.method in profile.methods
}
