//! `kind: regorus`: embedded Rego evaluation.
//!
//! The policy and data are loaded once; compile time is the median of fresh
//! load + compile runs (parse and compile kept apart). Each worker gets a
//! clone of the prepared engine (clones share the compiled policy) or its
//! own VM over the shared compiled program. Inputs are converted before
//! timing; an operation is `set_input` + `eval_rule` (not `eval_query`,
//! which re-parses the query every call), or `set_input` + `execute` on the VM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::{Engine, Value};
use rigor_engine::target::{
    Answer, BlockingWorkers, Facts, MemoryScope, OpError, Outcome, Setup, Target, TargetError,
    TrialHooks, Worker, WorkerContext, Workers,
};
use rigor_scenario::model::{RegorusEngine, RegorusSpec};
use rigor_scenario::plan::{DistributionPlan, Inputs, Plan, PolicyPlan, TargetPlan};

use crate::decision::{self, Handle};
use crate::Kind;

/// Fresh load + compile runs behind `compile.time`.
pub const COMPILE_RUNS: usize = 5;

/// Builds `kind: regorus`.
#[derive(Debug)]
pub struct Factory;

/// A loaded policy ready to evaluate.
pub struct Regorus {
    query: String,
    program: Option<Arc<Program>>,
    setup: Setup,
    /// How operations pick inputs; `None` is round-robin.
    order: Option<DistributionPlan>,
    /// The decision cache, with each input's canonical JSON.
    cache: Option<decision::Cached>,
    /// The policy and inputs as planned, for workers' private copies.
    policy: PolicyPlan,
    inputs: Arc<Inputs>,
    /// Workers that answered decision checks, reused: a fresh engine per
    /// check cost more than the evaluation (a million inputs are checked
    /// before a run, on every core). One slot per thread by its id, each on
    /// its own cache line: threads checking at once do not contend.
    deciders: Vec<DeciderSlot>,
}

/// A cache line's worth of room for one thread's decider.
#[repr(align(128))]
#[derive(Default)]
struct DeciderSlot(std::sync::Mutex<Option<RegorusWorker>>);

/// Slots for deciders: more than the threads that check at once.
const DECIDER_SLOTS: usize = 16;

/// This thread's decider slot.
fn slot() -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    (h.finish() % DECIDER_SLOTS as u64) as usize
}

impl std::fmt::Debug for Regorus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regorus")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

// Workers are created on their own threads from a shared target.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
    shareable::<Value>();
    shareable::<Arc<Program>>();
};

fn invalid(what: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Invalid(format!("{what}: {e}"))
}

/// regorus' errors are rustc-style blocks (`--> file:line:col`, the source
/// line, a caret, `error: message`); summaries and error counts need one
/// line that still locates the error in the policy: `file:line:col: message`.
/// A function regorus does not know is named as such.
pub fn one_line(message: &str) -> String {
    let location = message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::trim);
    let text = message
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("error: "))
        .map(str::trim);
    let mut line = match (location, text) {
        (Some(at), Some(text)) => format!("{at}: {text}"),
        _ => message.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    if line.contains("could not find function") {
        line.push_str(" (not a function of the policy, nor a builtin regorus implements)");
    }
    line
}

/// Parses the modules and loads the data into a fresh engine.
fn load(policy: &PolicyPlan, data: &Value) -> Result<Engine, TargetError> {
    let mut engine = Engine::new();
    engine.set_rego_v0(policy.rego_v0);
    // print() output is gathered in memory, never written to stderr inside
    // the measured loop (a terminal's speed is not the policy's).
    engine.set_gather_prints(true);
    for m in &policy.modules {
        engine
            .add_policy(m.path.clone(), m.text.clone())
            .map_err(|e| invalid(&format!("policy {} does not parse", m.path), e))?;
    }
    engine
        .add_data(data.clone())
        .map_err(|e| invalid("data cannot be loaded", e))?;
    Ok(engine)
}

/// Prepares the engine for `query`, and with `vm` compiles the RVM program.
fn compile(
    engine: &mut Engine,
    query: &str,
    vm: bool,
) -> Result<Option<Arc<Program>>, TargetError> {
    let entry: regorus::Rc<str> = query.into();
    let compiled = engine
        .compile_with_entrypoint(&entry)
        .map_err(|e| invalid(&format!("policy does not compile for `{query}`"), e))?;
    if !vm {
        return Ok(None);
    }
    Compiler::compile_from_policy(&compiled, &[query])
        .map(Some)
        .map_err(|e| {
            invalid(
                &format!("policy does not compile to the RVM for `{query}`"),
                e,
            )
        })
}

/// What a policy's `print()` calls cost regorus' interpreter per
/// evaluation: the policy with them and without them, each its own engine,
/// evaluate the same inputs (at most 64) in alternating blocks (ABBA) for
/// about `budget`, outside any trial. The ratio of their total times (1.5 =
/// the prints make an evaluation 50% slower). The interpreter, because
/// regorus' VM does not compile `print()`.
pub fn print_cost(
    policy: &PolicyPlan,
    inputs: &[serde_json::Value],
    budget: Duration,
) -> Result<f64, String> {
    let mut kept = policy.clone();
    let mut erased = policy.clone();
    for (k, e) in kept.modules.iter_mut().zip(&mut erased.modules) {
        if let Some(original) = &k.printing {
            k.text = original.clone();
        }
        e.text = rigor_scenario::rego_text::erase_prints(&k.text).0;
    }
    let inputs: Vec<Value> = if inputs.is_empty() {
        vec![Value::new_object()]
    } else {
        inputs.iter().take(64).cloned().map(Value::from).collect()
    };
    let worker = |p: &PolicyPlan| -> Result<RegorusWorker, String> {
        let data = Value::from(p.data.clone());
        let mut engine = load(p, &data).map_err(|e| e.to_string())?;
        compile(&mut engine, &p.query, false).map_err(|e| e.to_string())?;
        Ok(RegorusWorker {
            evaluator: Evaluator::Interpreter(engine, p.query.clone()),
            count: inputs.len(),
            inputs: Arc::new(inputs.clone()),
            window: None,
            offset: 0,
            order: None,
            cache: None,
        })
    };
    let mut workers = [worker(&kept)?, worker(&erased)?];
    let mut spent = [Duration::ZERO; 2];
    let block = |w: &mut RegorusWorker| -> Result<Duration, String> {
        let t = Instant::now();
        for i in 0..w.inputs.len() {
            let input = w.inputs.get(i).cloned();
            w.eval(input).map_err(|e| e.message)?;
        }
        Ok(t.elapsed())
    };
    // One unmeasured block each (first-touch costs), then ABBA blocks.
    for w in &mut workers {
        block(w)?;
    }
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 8 || (start.elapsed() < budget && rounds < 100_000) {
        for which in [rounds % 2, 1 - rounds % 2] {
            spent[which] += block(&mut workers[which])?;
        }
        rounds += 1;
    }
    Ok(spent[0].as_secs_f64() / spent[1].as_secs_f64().max(1e-12))
}

impl Regorus {
    /// Loads `policy` and compiles it [`COMPILE_RUNS`] times, keeping the last.
    pub fn new(
        policy: &PolicyPlan,
        inputs: Arc<Inputs>,
        engine: RegorusEngine,
    ) -> Result<Self, TargetError> {
        let vm = engine == RegorusEngine::Vm;
        let mut setup = Setup::default();
        let mut last = None;
        for _ in 0..COMPILE_RUNS {
            let t0 = Instant::now();
            // Loading covers parsing the modules and converting the data document.
            let data = Value::from(policy.data.clone());
            let mut engine = load(policy, &data)?;
            let t1 = Instant::now();
            let program = compile(&mut engine, &policy.query, vm)?;
            let t2 = Instant::now();
            setup.parse_ns.push(t1.duration_since(t0).as_nanos() as u64);
            setup
                .compile_ns
                .push(t2.duration_since(t1).as_nanos() as u64);
            last = Some(program);
        }
        let program = last.ok_or_else(|| TargetError::Failed("no compile run".into()))?;
        Ok(Regorus {
            query: policy.query.clone(),
            program,
            setup,
            order: None,
            cache: None,
            policy: policy.clone(),
            inputs,
            deciders: (0..DECIDER_SLOTS).map(|_| DeciderSlot::default()).collect(),
        })
    }

    /// A worker with its own engine (or VM and program), data and inputs,
    /// built from the plan: nothing reference-counted is shared between
    /// workers. regorus values are `Arc`s; workers sharing them bump the
    /// same reference counts on every evaluation, and the cache line those
    /// counts live on bounces between cores (measured: 2 VM workers on 2
    /// cores ran at 0.9x of one). Each worker owning its copy measures
    /// what each core can do.
    fn private_worker(&self, index: usize, inputs: Keep) -> Result<RegorusWorker, TargetError> {
        let data = Value::from(self.policy.data.clone());
        let mut engine = load(&self.policy, &data)?;
        let program = compile(&mut engine, &self.query, self.program.is_some())?;
        let evaluator = match program {
            None => Evaluator::Interpreter(engine, self.query.clone()),
            Some(program) => {
                let mut vm = RegoVM::new();
                vm.load_program(program);
                vm.set_data(data)
                    .map_err(|e| TargetError::Failed(format!("VM data: {e}")))?;
                vm.set_max_instructions(usize::MAX);
                Evaluator::Vm(vm)
            }
        };
        let windowed = inputs == Keep::WindowIfLarge && self.inputs.len() > WINDOW_INPUTS;
        // Straight from the plan's JSON texts into regorus values: all of
        // them, or a window at a time.
        let inputs = if windowed || inputs == Keep::None {
            Vec::new()
        } else {
            self.inputs
                .iter()
                .map(|i| {
                    Value::from_json_str(i.text()).map_err(|e| {
                        TargetError::Failed(format!("input {} as a regorus value: {e}", i.origin()))
                    })
                })
                .collect::<Result<Vec<Value>, TargetError>>()?
        };
        Ok(RegorusWorker {
            evaluator,
            inputs: Arc::new(inputs),
            count: self.inputs.len(),
            window: windowed.then(|| Window {
                texts: self.inputs.clone(),
                values: Vec::with_capacity(WINDOW as usize),
                first: 0,
            }),
            offset: index as u64,
            order: None,
            cache: None,
        })
    }

    /// Picks inputs from `order` instead of round-robin.
    pub fn with_order(mut self, order: Option<DistributionPlan>) -> Self {
        self.order = order;
        self
    }

    /// Puts a decision cache in front of the policy.
    pub fn with_cache(
        mut self,
        spec: &rigor_scenario::model::DecisionCacheSpec,
    ) -> Result<Self, TargetError> {
        let inputs = self.inputs.clone();
        self.cache = Some(decision::attach(spec, &inputs, |i| {
            self.decide(i).map(|a| a.value)
        })?);
        Ok(self)
    }

    /// Evaluates one input outside any measurement (for checks and tests),
    /// with the lines its `print()` calls wrote.
    pub fn decide(&self, input: &serde_json::Value) -> Result<Answer, String> {
        let input = Arc::new(vec![Value::from(input.clone())]);
        let slot = &self.deciders[slot()].0;
        let pooled = slot.lock().ok().and_then(|mut p| p.take());
        let mut worker = match pooled {
            Some(mut w) => {
                w.inputs = input;
                w
            }
            // Its own engine and data, as a run's workers have: deciders
            // on several threads share no reference counts.
            None => {
                let mut w = self
                    .private_worker(0, Keep::None)
                    .map_err(|e| e.to_string())?;
                w.inputs = input;
                w
            }
        };
        let input = worker.inputs.first().cloned();
        let value = worker.eval_gathering(input).map_err(|e| e.message);
        let prints = worker.take_prints();
        if let Ok(mut pool) = slot.lock() {
            *pool = Some(worker);
        }
        let value = serde_json::to_value(&value?).map_err(|e| e.to_string())?;
        Ok(Answer { value, prints })
    }
}

// One evaluator per worker, never moved on the hot path: its size does not
// matter, an extra pointer chase per operation would.
#[allow(clippy::large_enum_variant)]
enum Evaluator {
    Interpreter(Engine, String),
    Vm(RegoVM),
}

/// Above this many inputs, a worker whose driver prepares keeps a window of
/// parsed inputs instead of all of them: a private copy per worker of a
/// million inputs took about 500 MB each.
const WINDOW_INPUTS: usize = 65_536;
/// Operations (inputs) per window: parsing one takes ~16 ms outside
/// timing, and it holds a few MB.
const WINDOW: u64 = 16_384;

/// Which inputs a worker parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Every one.
    All,
    /// A window at a time when there are many (its driver prepares).
    WindowIfLarge,
    /// None (a decider, given each input as it comes).
    None,
}

/// A window of parsed inputs: those of operations `first..first + len`.
struct Window {
    texts: Arc<Inputs>,
    values: Vec<Value>,
    first: u64,
}

/// Input index of operation `op`: from `order` when inputs are drawn,
/// else round-robin from the worker's offset.
#[inline]
fn pick(order: &Option<Vec<u32>>, offset: u64, count: usize, op: u64) -> usize {
    match order {
        Some(order) => order[(op % order.len() as u64) as usize] as usize,
        None => ((op + offset) % count.max(1) as u64) as usize,
    }
}

struct RegorusWorker {
    evaluator: Evaluator,
    /// Every input parsed; empty when the worker keeps a window instead.
    inputs: Arc<Vec<Value>>,
    /// How many inputs there are.
    count: usize,
    /// The window of parsed inputs, for large input sets.
    window: Option<Window>,
    offset: u64,
    /// Input indices drawn before timing, when inputs are not round-robin.
    order: Option<Vec<u32>>,
    cache: Option<(Handle, Arc<Vec<Vec<u8>>>)>,
}

impl RegorusWorker {
    /// The input index of operation `op`.
    #[inline]
    fn pick(&self, op: u64) -> usize {
        pick(&self.order, self.offset, self.count, op)
    }

    /// The input of operation `op` (input `index`): from the window when
    /// the worker keeps one, else from every input parsed.
    #[inline]
    fn input(&mut self, op: u64, index: usize) -> Option<Value> {
        let Some(w) = &self.window else {
            return self.inputs.get(index).cloned();
        };
        if op < w.first || op >= w.first + w.values.len() as u64 {
            // The driver prepares every window before its operations; this
            // is the fallback that keeps a stray operation correct.
            self.fill(op);
        }
        let w = self.window.as_ref()?;
        w.values.get((op - w.first) as usize).cloned()
    }

    /// Parses the inputs of operations `op..op + WINDOW` into the window.
    fn fill(&mut self, op: u64) {
        let (order, offset, count) = (&self.order, self.offset, self.count);
        let Some(w) = &mut self.window else {
            return;
        };
        w.first = op;
        w.values.clear();
        for k in 0..WINDOW {
            let text = w.texts.text(pick(order, offset, count, op + k));
            // The plan's texts are serde_json's: regorus reads them; the
            // serde path is the fallback for anything it would not.
            let value = Value::from_json_str(text).unwrap_or_else(|_| {
                Value::from(serde_json::from_str::<serde_json::Value>(text).unwrap_or_default())
            });
            w.values.push(value);
        }
    }

    /// One evaluation, its print() lines discarded (a moved-out empty Vec
    /// costs nothing when the policy prints nothing).
    #[inline]
    fn eval(&mut self, input: Option<Value>) -> Result<Value, OpError> {
        let result = self.eval_gathering(input);
        if let Evaluator::Interpreter(engine, _) = &mut self.evaluator {
            drop(engine.take_prints());
        }
        result
    }

    /// The print() lines gathered since the last call.
    fn take_prints(&mut self) -> Vec<String> {
        match &mut self.evaluator {
            Evaluator::Interpreter(engine, _) => engine.take_prints().unwrap_or_default(),
            Evaluator::Vm(_) => Vec::new(),
        }
    }

    /// One evaluation, leaving its print() lines gathered.
    #[inline]
    fn eval_gathering(&mut self, input: Option<Value>) -> Result<Value, OpError> {
        match &mut self.evaluator {
            Evaluator::Interpreter(engine, query) => {
                if let Some(input) = input {
                    engine.set_input(input);
                }
                // regorus takes the rule by value: one String allocation per
                // operation that any embedder pays too, so it stays in allocs/op.
                engine
                    .eval_rule(query.clone())
                    .map_err(|e| OpError::new("eval", one_line(&e.to_string())))
            }
            Evaluator::Vm(vm) => {
                if let Some(input) = input {
                    vm.set_input(input);
                }
                vm.execute()
                    .map_err(|e| OpError::new("eval", one_line(&e.to_string())))
            }
        }
    }
}

impl Worker for RegorusWorker {
    #[inline]
    fn call(&mut self, op: u64) -> Result<Outcome, OpError> {
        let index = self.pick(op);
        let key = match &self.cache {
            None => {
                let input = self.input(op, index);
                return self
                    .eval(input)
                    .map(|v| drop(std::hint::black_box(v)))
                    .map(|_| Outcome::Done);
            }
            Some((_, canon)) => decision::key(&canon[index.min(canon.len() - 1)]),
        };
        if let Some((handle, _)) = &mut self.cache {
            if let Some(d) = handle.get(key)? {
                std::hint::black_box(d);
                return Ok(Outcome::Lookup { hit: true });
            }
        }
        let input = self.input(op, index);
        let value = self.eval(input)?;
        let bytes = serde_json::to_vec(&value)
            .map_err(|e| OpError::new("decode", format!("decision does not serialise: {e}")))?;
        if let Some((handle, _)) = &mut self.cache {
            handle.put(key, Bytes::from(bytes))?;
        }
        Ok(Outcome::Lookup { hit: false })
    }

    fn input_of(&self, op: u64) -> Option<usize> {
        Some(self.pick(op))
    }

    fn window(&self) -> u64 {
        match self.window {
            Some(_) => WINDOW,
            None => u64::MAX,
        }
    }

    fn prepare(&mut self, op: u64) {
        self.fill(op);
    }
}

impl rigor_engine::target::Explain for Regorus {
    fn explain(
        &self,
        indices: &[usize],
        budget: std::time::Duration,
    ) -> Result<rigor_engine::results::cost::PolicyProfile, String> {
        crate::profile::regorus_profile(&self.policy, &self.inputs, indices, budget)
    }
}

impl Target for Regorus {
    fn facts(&self) -> Facts {
        Facts {
            setup: self.setup.clone(),
            outcomes: self.cache.is_some(),
            inputs: (!self.inputs.is_empty()).then(|| self.inputs.len()),
            ..Facts::new(MemoryScope::Process)
        }
    }
    fn decide(&self, input: &serde_json::Value) -> Option<Result<Answer, String>> {
        Some(Regorus::decide(self, input))
    }
    fn explainer(&self) -> Option<&dyn rigor_engine::target::Explain> {
        Some(self)
    }
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
    fn hooks(&self) -> Option<&dyn TrialHooks> {
        self.cache
            .as_ref()
            .map(|(c, _)| c.as_ref() as &dyn TrialHooks)
    }
}

impl BlockingWorkers for Regorus {
    fn worker(&self, ctx: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        let keep = if ctx.prepares {
            Keep::WindowIfLarge
        } else {
            Keep::All
        };
        // Replaying arrivals, operation i is input i: no per-worker offset.
        let offset = if ctx.replay { 0 } else { ctx.index };
        let mut worker = self.private_worker(offset, keep)?;
        worker.order = self.order.as_ref().map(|o| {
            rigor_engine::keys::index_stream(
                o,
                self.inputs.len().max(1) as u64,
                ctx.seed,
                ctx.index,
            )
        });
        if let Some((cache, canon)) = &self.cache {
            worker.cache = Some((cache.handle()?, canon.clone()));
        }
        Ok(Box::new(worker))
    }
}

impl Kind for Factory {
    type Spec = RegorusSpec;
    fn build(
        spec: &RegorusSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Box<dyn Target>, TargetError> {
        let policy = target
            .policy(plan)
            .ok_or_else(|| TargetError::Invalid("the scenario has no `policy:`".into()))?;
        let mut target =
            Regorus::new(policy, plan.inputs.clone(), spec.engine)?.with_order(plan.inputs_order);
        if let Some(cache) = &spec.cache {
            target = target.with_cache(cache)?;
        }
        Ok(Box::new(target))
    }

    /// Everything but the decision cache's server, which the run opens.
    fn check(spec: &RegorusSpec, target: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        Self::offline_decider(spec, target, plan).map(|_| ())
    }

    /// The policy without its decision cache: the cache never changes a decision.
    fn offline_decider(
        spec: &RegorusSpec,
        target: &TargetPlan,
        plan: &Plan,
    ) -> Result<Option<Box<dyn Target>>, TargetError> {
        let policy = target
            .policy(plan)
            .ok_or_else(|| TargetError::Invalid("the scenario has no `policy:`".into()))?;
        Ok(Some(Box::new(Regorus::new(
            policy,
            plan.inputs.clone(),
            spec.engine,
        )?)))
    }
}
