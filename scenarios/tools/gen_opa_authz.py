#!/usr/bin/env python3
"""OPA's authz benchmark, written afresh: the token-based REST authorization
policy of OPA's test/authz benchmark, its data set (TOKENS tokens, each with
PATHS authorization profiles of a path pattern and methods) and inputs of
the benchmark's four kinds: allowed, and forbidden by identity, by path and
by method, each with its expected decision.

    scenarios/tools/gen_opa_authz.py [TOKENS] [PATHS]    # default 1000 100

writes scenarios/policies/opa-authz.rego, scenarios/data/opa-authz.json and
scenarios/inputs/opa-authz.jsonl (deterministic: rerunning reproduces them).
"""
import json
import os
import random
import sys

TOKENS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
PATHS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

POLICY = """# OPA's authz benchmark policy (test/authz), in Rego v1: a request is
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
"""


def token_id(i):
    return f"token-{i}"


def pattern(j):
    # As the benchmark writes them: unanchored, so "resourcetype-1/*"
    # also matches the paths of resourcetype-10..19 (regex.match finds).
    return f"/api/v1/resourcetype-{j}/*"


def request_path(j):
    return f"/api/v1/resourcetype-{j}/somefakeresourceid000000111111"


def main():
    rng = random.Random(20261205)
    tokens = {
        token_id(i): {
            "id": token_id(i),
            "authz_profiles": [{"path": pattern(j), "methods": ["POST", "GET"]} for j in range(PATHS)],
        }
        for i in range(TOKENS)
    }
    with open(os.path.join(ROOT, "policies/opa-authz.rego"), "w") as f:
        f.write(POLICY)
    with open(os.path.join(ROOT, "data/opa-authz.json"), "w") as f:
        json.dump({"restauthz": {"tokens": tokens}}, f, separators=(",", ":"))
        f.write("\n")
    lines = []
    last_token, last_path = token_id(TOKENS - 1), request_path(PATHS - 1)
    # The benchmark's four inputs, exactly.
    lines.append(({"token_id": last_token, "path": last_path, "method": "GET"}, True))
    lines.append(({"token_id": "deadbeef", "path": last_path, "method": "GET"}, False))
    lines.append(({"token_id": last_token, "path": "/api/v1/resourcetype-deadbeef/deadbeefresourceid", "method": "GET"}, False))
    lines.append(({"token_id": last_token, "path": last_path, "method": "DEADBEEF"}, False))
    # More of each kind, at other tokens and path depths (seeded).
    for _ in range(12):
        t, j = token_id(rng.randrange(TOKENS)), rng.randrange(PATHS)
        lines.append(({"token_id": t, "path": request_path(j), "method": rng.choice(["GET", "POST"])}, True))
        lines.append(({"token_id": f"unknown-{rng.randrange(10**6)}", "path": request_path(j), "method": "GET"}, False))
        lines.append(({"token_id": t, "path": f"/api/v2/other-{j}/x", "method": "GET"}, False))
        lines.append(({"token_id": t, "path": request_path(j), "method": "DELETE"}, False))
    with open(os.path.join(ROOT, "inputs/opa-authz.jsonl"), "w") as f:
        for doc, allow in lines:
            f.write(json.dumps({"input": doc, "expect": allow}, separators=(",", ":")) + "\n")
    print(f"{TOKENS} tokens x {PATHS} paths, {len(lines)} inputs")


if __name__ == "__main__":
    main()
