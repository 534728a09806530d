#!/usr/bin/env python3
"""Generates the data and inputs of scenarios/opa-complex.yaml.

Deterministic (fixed seed): rerunning it reproduces the committed files.
  python3 scenarios/tools/gen_restauthz.py

The table follows the spirit of OPA's own REST authz benchmark: ~1000 bearer
tokens, each with a subject, tenant and roles, and ~100 path rules matched by
regular expression, each naming the methods and roles it allows.
"""
import json
import os
import random

rng = random.Random(20261125)
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

ROLES = [f"role-{i:02d}" for i in range(24)]
RESOURCES = ["users", "groups", "orders", "invoices", "products", "carts", "payments",
             "shipments", "reports", "audit", "tenants", "keys", "webhooks", "sessions",
             "catalog", "reviews", "coupons", "inventory", "refunds", "subscriptions"]
SUBS = ["items", "history", "notes", "attachments", "events"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

tokens = {}
for i in range(1000):
    tokens[f"t-{i:03d}"] = {
        "sub": f"user-{i:04d}",
        "tenant": f"tenant-{i % 37:02d}",
        "roles": sorted(rng.sample(ROLES, rng.randint(1, 4))),
        "expired": i % 97 == 13,
    }

rules = []
for i in range(100):
    res = RESOURCES[i % len(RESOURCES)]
    shape = i // len(RESOURCES)  # 0..4: collection, item, sub-collection, sub-item, versioned
    if shape == 0:
        pattern = f"^/api/v1/{res}$"
    elif shape == 1:
        pattern = f"^/api/v1/{res}/[a-z0-9-]+$"
    elif shape == 2:
        sub = SUBS[i % len(SUBS)]
        pattern = f"^/api/v1/{res}/[a-z0-9-]+/{sub}$"
    elif shape == 3:
        sub = SUBS[(i + 2) % len(SUBS)]
        pattern = f"^/api/v1/{res}/[a-z0-9-]+/{sub}/[0-9]+$"
    else:
        pattern = f"^/api/v[2-9]/{res}(/[a-z0-9-]+)*$"
    rules.append({
        "id": f"rule-{i:03d}",
        "methods": sorted(rng.sample(METHODS, rng.randint(1, 3))),
        "path": pattern,
        "roles": sorted(rng.sample(ROLES, rng.randint(2, 6))),
    })

# Rules are indexed by resource (the third path segment), as a policy author
# who cares about latency would do: a request scans ~5 candidate rules, not 100.
by_resource = {}
for rule in rules:
    res = rule["path"].split("/")[3].split("(")[0].rstrip("$")
    by_resource.setdefault(res, []).append(rule)
data = {"restauthz_tables": {"tokens": tokens, "rules": by_resource}}
with open(os.path.join(root, "data", "restauthz.json"), "w") as f:
    json.dump(data, f, indent=1, sort_keys=True)
    f.write("\n")


def path_for(rule):
    p = rule["path"].strip("^$")
    p = p.replace("v[2-9]", "v2").replace("(/[a-z0-9-]+)*", "/x-9")
    p = p.replace("[a-z0-9-]+", f"id-{rng.randint(1, 999)}").replace("[0-9]+", str(rng.randint(1, 99)))
    return [s for s in p.split("/") if s]


def allowed_request():
    while True:
        rule = rng.choice(rules)
        role = rng.choice(rule["roles"])
        holders = [t for t, v in tokens.items() if role in v["roles"] and not v["expired"]]
        if holders:
            return {"method": rng.choice(rule["methods"]), "path": path_for(rule), "token": rng.choice(holders)}


requests = []
for i in range(200):
    kind = i % 5
    req = allowed_request()
    if kind == 1:  # denied at the first step: unknown token
        req["token"] = f"t-x{i:03d}"
    elif kind == 2:  # denied late: no rule matches the path
        req["path"] = ["api", "v1", "nowhere", f"id-{i}"]
    elif kind == 3:  # denied after the rule matched: the token has expired
        req["token"] = rng.choice([t for t, v in tokens.items() if v["expired"]])
    elif kind == 4:  # denied late: method not allowed by any rule for the path
        req["method"] = "OPTIONS"
    requests.append(req)

with open(os.path.join(root, "inputs", "restauthz-requests.jsonl"), "w") as f:
    for r in requests:
        f.write(json.dumps(r, sort_keys=True) + "\n")
with open(os.path.join(root, "inputs", "restauthz-allow.json"), "w") as f:
    json.dump(allowed_request(), f, indent=1, sort_keys=True)
    f.write("\n")
