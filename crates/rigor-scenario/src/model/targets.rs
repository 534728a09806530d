//! The `targets:` entries: one spec per target kind, as written in the
//! scenario (rigor-targets builds them; `crate::kinds` names and checks them).

use super::*;

/// A system under test. `kind` selects the implementation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetSpec {
    /// Embedded Rego evaluation with regorus.
    Regorus(RegorusSpec),
    /// Does nothing: shows the harness's own cost per operation.
    Noop(NoopSpec),
    /// Busy-waits a fixed service time: a known truth to check rigor's accuracy.
    Spin(SpinSpec),
    /// Reports a given duration per operation without waiting (self-timed):
    /// a deterministic truth for testing rigor's statistics and verdicts.
    Timed(TimedSpec),
    /// Retains a fixed number of bytes per operation: a known leak to check rigor's memory figures.
    Leak(LeakSpec),
    /// A policy server speaking OPA's REST Data API (OPA itself, or `rigor serve`).
    OpaHttp(OpaHttpSpec),
    /// OPA's own in-process benchmark (`opa bench`), one run per input per trial.
    OpaBench(OpaBenchSpec),
    /// An in-process cache (`moka::sync::Cache`) running the `cache:` workload.
    Moka(MokaSpec),
    /// A Redis server running the `cache:` workload.
    Redis(RedisSpec),
}

/// `kind: regorus`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegorusSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// `interpreter` (default) or `vm` (regorus' compiled bytecode VM).
    #[serde(default)]
    pub engine: RegorusEngine,
    /// A decision cache in front of the policy: a hit returns the cached decision without evaluating.
    #[serde(default)]
    pub cache: Option<DecisionCacheSpec>,
    /// This target's own policy (files, data, query, rego_v0), instead of
    /// the scenario's: two versions of a policy, or two data sets, are two
    /// targets of one scenario. Paths are relative to the scenario file.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Thresholds for this target only; they override the scenario's for the same metric.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// Which regorus evaluator to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegorusEngine {
    /// The tree-walking interpreter (`Engine::eval_rule`).
    #[default]
    Interpreter,
    /// The compiled RVM bytecode program (`RegoVM::execute`).
    Vm,
}

/// `kind: noop`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `kind: spin`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpinSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// How long each operation busy-waits, e.g. `50us`. `${VAR:-50us}` reads
    /// the environment, so a known slowdown can be injected without editing
    /// the scenario (to check the regression verdicts).
    pub service_time: EnvDur,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `kind: timed`: each operation reports how long it took instead of
/// being timed, so a run's figures follow from its seed alone. For testing
/// rigor's statistics and verdicts; it measures nothing.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimedSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// The duration each operation reports on average, e.g. `50us`.
    /// `${VAR:-50us}` reads the environment, as for `kind: spin`.
    pub service_time: EnvDur,
    /// Spread of each operation's duration: the standard deviation as a
    /// share of `service_time`, e.g. `5%` (none by default).
    #[serde(default)]
    pub jitter: Option<Percent>,
    /// Spread of each trial's mean: every duration of a trial is scaled by
    /// one draw from the trial's seed, e.g. `2%` (none by default). Real
    /// runs drift between trials like this; it gives the statistics
    /// something to decide.
    #[serde(default)]
    pub trial_jitter: Option<Percent>,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `kind: leak`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// Bytes each operation allocates, touches and never frees while the
    /// trial runs (`64B`, `1KiB`; at least `8B`): the truth that memory
    /// growth must find. Freed when the trial's workers end, outside timing.
    pub leak: Size,
    /// Keep `leak` bytes on every `every`-th operation only (default 1):
    /// `leak: 64B, every: 1000` is a known 0.064 bytes per operation.
    #[serde(default)]
    pub every: Option<u64>,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `kind: opa-http`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpaHttpSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// The server's base URL, e.g. `http://127.0.0.1:8181`. `${VAR}` and
    /// `${VAR:-default}` are replaced from the environment. Required unless
    /// `server: managed`.
    #[serde(default)]
    pub url: Option<String>,
    /// `managed`: rigor starts the real OPA (`opa run --server`) on a free
    /// loopback port with the scenario's policy and data, and stops it
    /// afterwards (also on Ctrl-C, and when rigor dies).
    #[serde(default)]
    pub server: Option<ServerMode>,
    /// Path of the `opa` binary for `server: managed` (default: `opa` on
    /// PATH, then `$GOBIN`, `$GOPATH/bin`, `~/go/bin`).
    #[serde(default)]
    pub opa_binary: Option<String>,
    /// Ask the server for its own timings (`?metrics=true`, OPA's
    /// `timer_rego_query_eval_ns` and `timer_server_handler_ns`) on a
    /// sample of requests and report them as `server.*` beside the client's
    /// latency. Default `true`; servers that send no metrics add none.
    #[serde(default)]
    pub server_metrics: Option<bool>,
    /// With `server_metrics`: on average one request in this many asks
    /// (default 16; 1 asks on every request, which costs OPA throughput).
    #[serde(default)]
    pub server_metrics_every: Option<u32>,
    /// PUT the scenario's policy and data to the server before measuring.
    #[serde(default)]
    pub upload: bool,
    /// Per-request timeout (default `5s`); a request that takes longer is an error.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// This target's own policy (files, data, query, rego_v0), instead of
    /// the scenario's: two versions of a policy are two targets. With
    /// `server: managed` each target's OPA loads its own; with `upload`,
    /// give each version a server of its own (uploads to one server
    /// replace each other). Paths are relative to the scenario file.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// A decision cache in front of the server: a hit answers without a request.
    #[serde(default)]
    pub cache: Option<DecisionCacheSpec>,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// `kind: opa-bench`: OPA's own in-process benchmark (`opa bench`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpaBenchSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// Path of the `opa` binary (default: `opa` on PATH, then `$GOBIN`,
    /// `$GOPATH/bin`, `~/go/bin`).
    #[serde(default)]
    pub opa_binary: Option<String>,
    /// Inputs benchmarked in each trial, spread evenly over `inputs:`
    /// (default 4; one in `--mode quick`): each `opa bench` run takes one
    /// input and about a second of Go's benchmark loop, plus OPA's
    /// per-iteration bookkeeping.
    #[serde(default)]
    pub max_inputs: Option<usize>,
    /// This target's own policy (files, data, query, rego_v0), instead of
    /// the scenario's: two versions of a policy are two targets. Paths are relative to the scenario file.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// Eviction policy of a bounded cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Eviction {
    /// Frequency-based: moka's TinyLFU; Redis' `allkeys-lfu`.
    #[default]
    #[serde(alias = "lfu", alias = "tinylfu")]
    TinyLfu,
    /// Least recently used: moka's LRU; Redis' `allkeys-lru`.
    Lru,
}

/// `kind: moka`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MokaSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// `tiny-lfu` (moka's default) or `lru`.
    #[serde(default)]
    pub eviction: Eviction,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// Who runs the server (Redis, OPA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// rigor starts the server (`redis-server` with persistence off, or
    /// `opa run --server`) on a free loopback port and stops it afterwards.
    Managed,
}

/// Where a Redis server is: started by rigor, or an existing one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConnection {
    /// `managed`: rigor starts and stops its own `redis-server`.
    #[serde(default)]
    pub server: Option<ServerMode>,
    /// An existing server, e.g. `redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0`;
    /// `${VAR}` is replaced from the environment.
    #[serde(default)]
    pub url: Option<String>,
    /// With `url`: allow rigor to empty the database (FLUSHDB) and set
    /// `maxmemory` and `maxmemory-policy` on that server. Required with `url`.
    #[serde(default)]
    pub flush: bool,
    /// Response timeout per command (default `5s`; the redis crate's own default is 500ms).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Connect timeout (default `5s`).
    #[serde(default)]
    pub connect_timeout: Option<Dur>,
    /// Path of the `redis-server` binary for `server: managed` (default: found on PATH).
    #[serde(default)]
    pub redis_server: Option<String>,
}

/// `kind: redis`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// Unique name of the target in this scenario.
    pub id: String,
    /// `managed`: rigor starts and stops its own `redis-server`.
    #[serde(default)]
    pub server: Option<ServerMode>,
    /// An existing server, e.g. `redis://127.0.0.1:6379/0`; `${VAR}` is replaced from the environment.
    #[serde(default)]
    pub url: Option<String>,
    /// With `url`: allow rigor to empty the database (FLUSHDB) and set its memory limit. Required with `url`.
    #[serde(default)]
    pub flush: bool,
    /// Response timeout per command (default `5s`).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Connect timeout (default `5s`).
    #[serde(default)]
    pub connect_timeout: Option<Dur>,
    /// Path of the `redis-server` binary for `server: managed` (default: found on PATH).
    #[serde(default)]
    pub redis_server: Option<String>,
    /// Multiplexed connections shared by the workers (worker i uses connection
    /// i mod n). Default 1, as most applications share one.
    #[serde(default)]
    pub connections: Option<u32>,
    /// `tiny-lfu` (maps to `allkeys-lfu`, the default) or `lru` (`allkeys-lru`).
    #[serde(default)]
    pub eviction: Eviction,
    /// `multiplexed` (default): async connections shared by the workers, as
    /// most applications use Redis. `blocking`: each worker is a thread with
    /// its own blocking connection (request, then reply), the least client
    /// between rigor and the server.
    #[serde(default)]
    pub client: RedisClient,
    /// Thresholds for this target only.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// How a `redis` target's workers talk to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RedisClient {
    /// Async multiplexed connections (`connections:` of them) shared by the workers.
    #[default]
    Multiplexed,
    /// One blocking connection per worker thread.
    Blocking,
}

impl RedisSpec {
    /// The connection settings.
    pub fn connection(&self) -> RedisConnection {
        RedisConnection {
            server: self.server,
            url: self.url.clone(),
            flush: self.flush,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            redis_server: self.redis_server.clone(),
        }
    }
}

/// Which cache a decision cache uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionStore {
    /// In process (`moka::sync::Cache`).
    Moka,
    /// A Redis server.
    Redis,
}

/// `cache:` on a policy target: decisions cached by a hash of the canonical input.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionCacheSpec {
    /// `moka` or `redis`.
    pub kind: DecisionStore,
    /// What the cache key is made of: paths into the input
    /// (`[input.user, input.action, input.resource.type]`), as an
    /// application keys on the fields its decision depends on. Default: the
    /// whole input, which never hits in production when requests carry
    /// unique fields (request ids, `request.uid`, timestamps).
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// Entries (default 10000) or bytes (`16MiB`).
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// Decisions expire this long after being cached.
    #[serde(default)]
    pub ttl: Option<Dur>,
    /// `tiny-lfu` (default) or `lru`.
    #[serde(default)]
    pub eviction: Eviction,
    /// Redis only: `managed` starts a `redis-server` for this cache.
    #[serde(default)]
    pub server: Option<ServerMode>,
    /// Redis only: an existing server's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Redis only, with `url`: allow rigor to empty the database and set its memory limit.
    #[serde(default)]
    pub flush: bool,
    /// Redis only: response timeout (default `5s`).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Redis only: connect timeout (default `5s`).
    #[serde(default)]
    pub connect_timeout: Option<Dur>,
    /// Redis only: path of `redis-server` for `server: managed`.
    #[serde(default)]
    pub redis_server: Option<String>,
}

impl DecisionCacheSpec {
    /// The Redis connection settings.
    pub fn connection(&self) -> RedisConnection {
        RedisConnection {
            server: self.server,
            url: self.url.clone(),
            flush: self.flush,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            redis_server: self.redis_server.clone(),
        }
    }
}
