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

# Regenerate schemas/scenario.schema.json from the Rust types.
schema: build
    {{rigor}} schema > schemas/scenario.schema.json

# Everything CI checks: format, lints, tests, scenarios valid, each scenario runs once quickly.
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --release -- -D warnings
    cargo test --workspace --release
    just validate
    just smoke

# Run every scenario once in quick mode. A threshold FAIL (exit 1) is allowed here:
# a smoke run checks that the scenario runs, not how fast this machine is.
smoke: build
    #!/usr/bin/env bash
    set -uo pipefail
    for s in scenarios/*.yaml; do
        {{rigor}} run "$s" --mode quick --out "target/smoke/$(basename "$s" .yaml)" --color never
        code=$?
        if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
            echo "smoke run of $s failed with exit code $code" >&2
            exit "$code"
        fi
    done
