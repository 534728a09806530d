//! The peer for rigor's accuracy check: the same regorus policy, data and
//! inputs that `just selfbench` gives rigor, measured by criterion.
//!
//! Written the way an embedder would benchmark regorus, with regorus's own
//! API and nothing from rigor, prepared as rigor's target prepares it
//! (`compile_with_entrypoint`, and the RVM program for the VM):
//! `set_input` + `eval_rule` on the interpreter, `set_input` + `execute` on
//! the VM, inputs taken round-robin. jemalloc is
//! the allocator, as in the `rigor` binary, so the two measure the same
//! allocator; what remains between them is the harness.
//!
//! Paths come from the environment (defaults: the rbac example):
//! `RIGOR_PEER_POLICY`, `RIGOR_PEER_DATA`, `RIGOR_PEER_INPUTS` (JSON lines),
//! `RIGOR_PEER_QUERY`. Run with
//! `cargo bench -p rigor-targets --bench regorus_peer -- --noplot`; criterion
//! writes `target/criterion/regorus/{interpreter,vm}/new/estimates.json`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::Criterion;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use regorus::{Engine, Value};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

struct Peer {
    policy: PathBuf,
    data: Value,
    inputs: Vec<Value>,
    query: String,
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(default)
    })
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}; set the RIGOR_PEER_* paths", path.display()))
}

fn peer() -> Peer {
    let inputs_path = env_path("RIGOR_PEER_INPUTS", "scenarios/inputs/rbac.jsonl");
    let inputs = read(&inputs_path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            Value::from_json_str(l)
                .unwrap_or_else(|e| panic!("{}: bad input: {e}", inputs_path.display()))
        })
        .collect::<Vec<_>>();
    assert!(!inputs.is_empty(), "{}: no inputs", inputs_path.display());
    Peer {
        policy: env_path("RIGOR_PEER_POLICY", "scenarios/policies/rbac.rego"),
        data: Value::from_json_str(&read(&env_path(
            "RIGOR_PEER_DATA",
            "scenarios/data/rbac.json",
        )))
        .expect("data is JSON"),
        inputs,
        query: std::env::var("RIGOR_PEER_QUERY").unwrap_or_else(|_| "data.rbac.allow".into()),
    }
}

fn engine(p: &Peer) -> Engine {
    let mut engine = Engine::new();
    engine
        .add_policy(p.policy.display().to_string(), read(&p.policy))
        .expect("policy parses");
    engine.add_data(p.data.clone()).expect("data loads");
    engine
}

fn regorus(c: &mut Criterion) {
    let p = peer();
    let mut group = c.benchmark_group("regorus");

    let entry: regorus::Rc<str> = p.query.as_str().into();
    let mut interp = engine(&p);
    // As rigor's target prepares it, so both evaluate the same prepared engine.
    interp
        .compile_with_entrypoint(&entry)
        .expect("policy compiles");
    let mut i = 0usize;
    group.bench_function("interpreter", |b| {
        b.iter(|| {
            interp.set_input(p.inputs[i % p.inputs.len()].clone());
            i += 1;
            black_box(interp.eval_rule(p.query.clone()).expect("evaluates"))
        })
    });

    let mut compiled = engine(&p);
    let policy = compiled
        .compile_with_entrypoint(&entry)
        .expect("policy compiles");
    let program = Compiler::compile_from_policy(&policy, &[p.query.as_str()]).expect("RVM program");
    let mut vm = RegoVM::new();
    vm.load_program(program);
    vm.set_data(p.data.clone()).expect("VM data");
    vm.set_max_instructions(usize::MAX);
    let mut i = 0usize;
    group.bench_function("vm", |b| {
        b.iter(|| {
            vm.set_input(p.inputs[i % p.inputs.len()].clone());
            i += 1;
            black_box(vm.execute().expect("executes"))
        })
    });
    group.finish();
}

/// As `criterion_main!`, but on a spawned thread: rigor's workers are spawned
/// threads, each with its own jemalloc arena and thread cache, while the main
/// thread's arena holds everything loaded before. Both sides evaluate on a
/// fresh thread.
fn main() {
    std::thread::Builder::new()
        .name("regorus-peer".into())
        .spawn(|| {
            let mut c = Criterion::default().configure_from_args();
            regorus(&mut c);
            c.final_summary();
        })
        .expect("spawns the bench thread")
        .join()
        .expect("the bench thread finishes");
}
