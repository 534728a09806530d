# rigor's tasks. Get `just` with `pip install rust-just` (seconds) or
# `cargo install --locked just` (about two minutes).

rigor := "target/release/rigor"

# List the tasks.
default:
    @just --list

# Build the rigor binary (release: numbers from debug builds are meaningless).
build:
    cargo build --release -p rigor-cli

# Run a scenario and render its reports, e.g. `just bench scenarios/opa-complex.yaml --mode quick`.
bench SCENARIO *ARGS: build
    {{rigor}} run {{SCENARIO}} {{ARGS}}

# Check every scenario file (types, units, files, inputs, policies compile).
validate: build
    {{rigor}} validate scenarios/*.yaml

# Build the user guide (docs/, an mdBook) into target/guide/html. Needs mdbook: `cargo install --locked mdbook` (about a minute).
docs:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v mdbook >/dev/null || { echo "docs: mdbook is needed: cargo install --locked mdbook" >&2; exit 2; }
    mdbook build docs
    # The pages link to ../scenarios/, ../schemas/, ../crates/ and
    # ../deploy/ as they do on GitHub: the same folders beside the book.
    for d in scenarios schemas crates deploy; do ln -sfn "../../$d" "target/guide/$d"; done
    echo "docs: open target/guide/html/index.html"

# The binary to ship: target/dist/rigor (debug info moved out, about 25 MB) and target/dist/rigor.debug, which keeps profiles symbolized when it sits beside the binary.
dist:
    #!/usr/bin/env bash
    set -euo pipefail
    # As `cargo install --locked --path crates/rigor-cli` builds it.
    cargo build --release --locked -p rigor-cli
    mkdir -p target/dist
    objcopy --only-keep-debug target/release/rigor target/dist/rigor.debug
    # --add-gnu-debuglink records the side file's name and checksum: the
    # symbolizer (backtrace, under pprof) finds it beside the binary.
    objcopy --strip-debug --add-gnu-debuglink=target/dist/rigor.debug target/release/rigor target/dist/rigor
    ls -l target/release/rigor target/dist/rigor target/dist/rigor.debug

# Regenerate schemas/scenario.schema.json from the Rust types.
schema: build
    {{rigor}} schema > schemas/scenario.schema.json

# The OPA release rigor's tests and scenarios are pinned to.
opa_version := "v1.22.3"

# Install what the tests need: a real redis-server and chromium (Debian/Ubuntu packages), and the real OPA and benchstat (Go modules, pinned).
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    just opa
    just benchstat
    missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v chromium >/dev/null || missing+=(chromium)
    [ ${#missing[@]} -eq 0 ] && exit 0
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    # The package may start a system instance; rigor's tests start their own.
    if [[ " ${missing[*]} " == *" redis-server "* ]]; then
        ($sudo service redis-server stop || true) >/dev/null 2>&1
    fi

# Install the pinned OPA into $(go env GOPATH)/bin (where rigor looks) unless it is there already.
opa:
    #!/usr/bin/env bash
    set -euo pipefail
    want="{{opa_version}}"
    for opa in "$(command -v opa || true)" "$(go env GOPATH 2>/dev/null)/bin/opa"; do
        if [ -x "$opa" ] && "$opa" version 2>/dev/null | grep -qx "Version: ${want#v}"; then exit 0; fi
    done
    command -v go >/dev/null || { echo "deps: Go is needed to install OPA (https://go.dev/dl/)" >&2; exit 2; }
    echo "deps: building OPA $want with go install (about 90 s the first time; cached afterwards)" >&2
    go install "github.com/open-policy-agent/opa@$want"

# The benchstat the cross-check test runs, pinned, into $(go env GOPATH)/bin.
benchstat_version := "v0.0.0-20260908200009-22c9c6c9d4da"

# Install the pinned benchstat unless it is there already.
benchstat:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -x "$(go env GOPATH)/bin/benchstat" ] && exit 0
    go install "golang.org/x/perf/cmd/benchstat@{{benchstat_version}}"

# Everything CI checks: format, lints, tests, scenarios valid, each scenario runs once quickly.
test: deps
    #!/usr/bin/env bash
    set -euo pipefail
    # A machine whose rustup cannot add rustfmt or clippy still runs every test.
    if cargo fmt --version >/dev/null 2>&1; then
        cargo fmt --all -- --check
    else
        echo "warning: cargo fmt is not installed: the format check is skipped" >&2
    fi
    if cargo clippy --version >/dev/null 2>&1; then
        cargo clippy --workspace --all-targets --release -- -D warnings
    else
        echo "warning: cargo clippy is not installed: the lint check is skipped" >&2
    fi
    # Broken intra-doc links are bugs in the docs a maintainer reads.
    # --release: the dependencies' metadata clippy --release just checked is reused.
    RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --quiet
    export PATH="$PATH:$(go env GOPATH 2>/dev/null)/bin"
    cargo test --workspace --release
    # `cargo test` built target/release/rigor for the end-to-end tests:
    # the scenario checks use that binary (a `cargo build -p rigor-cli`
    # here would rebuild every dependency with other features).
    {{rigor}} validate scenarios/*.yaml
    just _smoke

# Run every scenario once in quick mode. A threshold FAIL (exit 1) or a regression
# FAIL (4, 5: policy-ab's slower version is caught) is allowed here: a smoke run
# checks that the scenario runs, not how fast this machine is.
# Scenarios with HTTP targets get a `rigor serve` on a free port (OPA_URL).
smoke: build _smoke

# The smoke runs on the binary already built.
_smoke:
    #!/usr/bin/env bash
    set -uo pipefail
    log=$(mktemp)
    {{rigor}} serve --addr 127.0.0.1:0 2> "$log" &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    for _ in $(seq 50); do grep -q "listening on" "$log" && break; sleep 0.1; done
    export OPA_URL=$(grep -o 'http://[0-9.:]*' "$log" | head -1)
    echo "smoke: rigor serve at $OPA_URL"
    # Two runs side by side, each lane taking the next scenario when free (a
    # smoke run checks that a scenario runs, not how fast: load is
    # allowed); the slowest (those running `opa bench`) go first. The
    # scenarios that upload to the shared `rigor serve` take a lock: one at
    # a time.
    export RIGOR={{rigor}}
    run_one() {
        local s=$1 out lock=()
        out="target/smoke/$(basename "$s" .yaml)"
        mkdir -p "$out"
        grep -q OPA_URL "$s" && lock=(flock target/smoke/.serve.lock)
        "${lock[@]}" "$RIGOR" run "$s" --mode quick --out "$out" --color never > "$out/smoke.log" 2>&1
        local code=$?
        echo "smoke: $s exit $code"
        case $code in
            0 | 1 | 4 | 5) ;;
            *)
                cat "$out/smoke.log" >&2
                echo "smoke run of $s failed with exit code $code" >&2
                exit 255
                ;;
        esac
    }
    export -f run_one
    mkdir -p target/smoke
    { grep -l "kind: opa-bench" scenarios/*.yaml; grep -L "kind: opa-bench" scenarios/*.yaml; } \
        | xargs -P 2 -n 1 bash -c 'run_one "$0"'

# rigor measured against itself, a known truth and its peers (redis-benchmark, wrk); writes docs/PERFORMANCE.md.
selfbench *ARGS: build deps
    #!/usr/bin/env bash
    set -euo pipefail
    command -v wrk >/dev/null || echo "selfbench: wrk missing (apt-get install wrk): the HTTP row is skipped" >&2
    command -v redis-benchmark >/dev/null || echo "selfbench: redis-benchmark missing (apt-get install redis-tools): the Redis rows are skipped" >&2
    # criterion's side of the accuracy row, built before anything is timed.
    cargo bench -q -p rigor-targets --bench regorus_peer --no-run
    python3 scenarios/tools/selfbench.py {{ARGS}}

# Inputs at production size: LINES inputs (1M by default; 10000000 for 10M) in a .jsonl, timed and sized for `rigor validate` and `rigor run` (one regorus VM target, 2 workers, 5s).
big-inputs LINES="1000000": build
    #!/usr/bin/env bash
    set -euo pipefail
    dir=target/big-inputs; mkdir -p "$dir"
    file="$dir/inputs-{{LINES}}.jsonl"
    [ -s "$file" ] || python3 -c 'import random,sys; r=random.Random(1); u=[f"u{i:06d}" for i in range(50000)]; w=sys.stdout.write; [w("{\"user\":\"%s\",\"action\":\"%s\",\"type\":\"%s\",\"tenant\":\"t%02d\"}\n" % (r.choice(u), r.choice(["read","update","adopt","delete"]), r.choice(["dog","cat","finance"]), r.randrange(100))) for _ in range({{LINES}})]' > "$file"
    cp scenarios/policies/rbac.rego scenarios/data/rbac.json "$dir/"
    printf 'name: big-inputs\npolicy: {files: [rbac.rego], data: [rbac.json], query: data.rbac.allow}\ninputs: [%s]\nworkload: {concurrency: 2, warmup: 1s, duration: 5s, trials: 1}\ntargets: [{id: vm, kind: regorus, engine: vm}]\n' "$(basename "$file")" > "$dir/big.yaml"
    echo "$(du -h "$file" | cut -f1) in $file"
    /usr/bin/time -f "validate: %e s, %M KB resident at most" {{rigor}} validate "$dir/big.yaml"
    /usr/bin/time -f "run: %e s, %M KB resident at most" {{rigor}} run "$dir/big.yaml" --out "$dir/out" --color never 2>&1 | grep -E "ops/s|windows|resident"

# rigor's HTTP client against wrk: same `rigor serve`, same 64 connections, back to back.
http-vs-wrk SECONDS="5": build
    #!/usr/bin/env bash
    set -euo pipefail
    command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 2; }
    dir=$(mktemp -d)
    {{rigor}} serve scenarios/opa-simple.yaml --addr 127.0.0.1:0 2> "$dir/serve.log" &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    for _ in $(seq 50); do grep -q "listening on" "$dir/serve.log" && break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.:]*' "$dir/serve.log" | head -1)
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' \
        "'{\"input\":{\"user\":\"bob\",\"action\":\"update\",\"type\":\"finance\"}}'" > "$dir/post.lua"
    wrk -t2 -c64 -d{{SECONDS}}s -s "$dir/post.lua" "$url/v1/data/rbac/allow" | grep -E "Requests/sec|Latency"
    cat > "$dir/s.yaml" <<EOF
    name: http-vs-wrk
    policy: { files: [$PWD/scenarios/policies/rbac.rego], data: [$PWD/scenarios/data/rbac.json], query: data.rbac.allow }
    inputs: [{inline: {user: bob, action: update, type: finance}}]
    workload: { concurrency: 64, warmup: 1s, duration: {{SECONDS}}s }
    targets: [{ id: rigor, kind: opa-http, url: "$url" }]
    EOF
    {{rigor}} run "$dir/s.yaml" --out "$dir/out" --color never 2>/dev/null | grep -A2 "ops/s"
