//! The scenario file as written: plain serde structs that mirror the YAML.
//!
//! Everything here is raw input. [`crate::plan`] turns it into a checked
//! [`crate::Plan`]; nothing downstream reads these types directly.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::metrics::{self, MetricDef, Unit};
use crate::units::{Capacity, Dur, Percent, Size, SizeRange};

/// A benchmark scenario: what to measure, how hard, and what counts as good.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short identifier; names the results directory (letters, digits, `-`, `_`, `.`).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// One line saying what the scenario proves.
    #[serde(default)]
    pub description: Option<String>,
    /// The Rego policy that policy targets evaluate.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Inputs, evaluated in round-robin order: a `.json` file (one input), a
    /// `.jsonl` file (one input per line), a `.yaml` file (one input) or `{inline: ...}`.
    #[serde(default)]
    #[schemars(with = "Vec<InputSource>")]
    pub inputs: Vec<Spanned<InputSource>>,
    /// Load shape: workers, warm-up, duration or iterations, trials.
    #[schemars(with = "Workload")]
    pub workload: Spanned<Workload>,
    /// The systems under test; each runs the same workload.
    #[schemars(with = "Vec<TargetSpec>")]
    pub targets: Vec<Spanned<TargetSpec>>,
    /// Grading levels per metric, applied to every target.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Show every other target's metrics as ratios to a baseline target.
    #[serde(default)]
    pub compare: Option<Compare>,
    /// Before timing, every input is evaluated once on every policy target
    /// (the decisions are always recorded); with `verify: true` (the default)
    /// the run stops there (exit 3) when targets disagree, an answer misses
    /// its `expect:`, or an input cannot be evaluated. `warn` measures anyway
    /// and marks the run (its verdict is at least WARN); `false` measures
    /// anyway.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// The cache workload that `moka` and `redis` targets run: keyspace, key
    /// distribution, value sizes, read/write mix and capacities to sweep.
    #[serde(default)]
    #[schemars(with = "Option<CacheWorkload>")]
    pub cache: Option<Spanned<CacheWorkload>>,
    /// How each operation picks its input: `sequential` (round-robin, the
    /// default), `uniform`, `zipfian` or `hotspot`; or a map with
    /// `distribution`, `zipf_exponent`, `hotspot_keys`, `hotspot_ops`.
    /// Skewed inputs make a decision cache (`cache:` on a policy target) matter.
    #[serde(default)]
    #[schemars(with = "Option<DistributionSpec>")]
    pub inputs_distribution: Option<Spanned<DistributionSpec>>,
    /// Comparison against a saved baseline (`rigor run --baseline NAME`):
    /// the change that counts as a regression, and when a case is noisy.
    #[serde(default)]
    #[schemars(with = "Option<Regression>")]
    pub regression: Option<Spanned<Regression>>,
    /// Per-mode overrides of the workload (`quick`, `full`, `profile`), e.g.
    /// `modes: { full: { trials: 20, duration: 10s } }`.
    #[serde(default)]
    pub modes: ModeOverrides,
}

/// `regression:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    /// The change (new/baseline - 1, positive = worse) beyond which a metric regresses. Default `10%`.
    #[serde(default)]
    pub threshold: Option<Percent>,
    /// Per-metric thresholds, e.g. `{ latency.p99.9: 25% }`.
    #[serde(default)]
    pub metrics: BTreeMap<String, Percent>,
    /// A case whose throughput (or mean latency) varies more than this across
    /// trials (coefficient of variation) is flagged noisy. Default `5%`.
    #[serde(default)]
    pub noisy_cv: Option<Percent>,
}

/// `modes:`: workload overrides per run mode.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeOverrides {
    /// Overrides for `--mode quick`.
    #[serde(default)]
    pub quick: Option<ModeOverride>,
    /// Overrides for `--mode full`.
    #[serde(default)]
    pub full: Option<ModeOverride>,
    /// Overrides for `--mode profile`.
    #[serde(default)]
    pub profile: Option<ModeOverride>,
    /// Overrides for `--mode soak` (`duration` is the soak's length).
    #[serde(default)]
    pub soak: Option<ModeOverride>,
}

/// Workload fields a mode may set.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeOverride {
    /// Trials.
    #[serde(default)]
    pub trials: Option<u32>,
    /// Measured duration per trial.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Measured operations per worker per trial.
    #[serde(default)]
    pub iterations: Option<u64>,
    /// Warm-up.
    #[serde(default)]
    pub warmup: Option<Dur>,
}

/// `cache:`: the workload of cache targets, as YCSB and memtier_benchmark describe theirs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheWorkload {
    /// Keyspace size: keys are `key:<n>` for n in 0..keys.
    pub keys: u64,
    /// Which keys operations touch: `zipfian` (default), `uniform`, `hotspot` or `sequential`.
    #[serde(default)]
    pub distribution: Option<Distribution>,
    /// Zipfian only: the exponent s of P(rank k) ~ 1/k^s (default 0.99, YCSB's).
    #[serde(default)]
    pub zipf_exponent: Option<f64>,
    /// Hotspot only: the share of the keyspace that is hot (default `20%`).
    #[serde(default)]
    pub hotspot_keys: Option<Percent>,
    /// Hotspot only: the share of operations that go to hot keys (default `80%`).
    #[serde(default)]
    pub hotspot_ops: Option<Percent>,
    /// Value size in bytes (`256B`) or a range (`64B..4KiB`), fixed per key. Default `100B`.
    #[serde(default)]
    pub value_size: Option<SizeRange>,
    /// Share of operations that are reads (get); the rest are writes (set). Default `100%`.
    #[serde(default)]
    pub read_ratio: Option<Percent>,
    /// On a read miss: `fill` (get, then set the value; the default) or `none`.
    #[serde(default)]
    pub miss: Option<MissPolicy>,
    /// Cache capacity in entries (`10000`) or bytes of keys and values
    /// (`64MiB`); a list sweeps like `concurrency`. Default: the keyspace.
    #[serde(default)]
    pub capacity: Option<OneOrMany<Capacity>>,
    /// Entries expire this long after being written.
    #[serde(default)]
    pub ttl: Option<Dur>,
    /// Fill the cache with the most popular keys before measuring (YCSB's
    /// load phase). Default `true`.
    #[serde(default)]
    pub preload: Option<bool>,
}

/// A key (or input) popularity distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Rank k has probability proportional to 1/k^s (`zipf_exponent`).
    Zipfian,
    /// `hotspot_ops` of operations go uniformly to the first `hotspot_keys` of the keyspace.
    Hotspot,
    /// Keys in order, wrapping around; each worker starts elsewhere.
    #[serde(alias = "round-robin")]
    Sequential,
}

/// What a read does when the key is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MissPolicy {
    /// Set the key's value after the miss (cache-aside); counted in the get's latency.
    #[default]
    Fill,
    /// Leave the cache unchanged.
    None,
}

/// `inputs_distribution:`: a distribution name, or a map with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionSpec {
    /// The distribution.
    pub distribution: Distribution,
    /// Zipfian only: exponent s (default 0.99).
    pub zipf_exponent: Option<f64>,
    /// Hotspot only: share of inputs that are hot (default `20%`).
    pub hotspot_keys: Option<Percent>,
    /// Hotspot only: share of operations on hot inputs (default `80%`).
    pub hotspot_ops: Option<Percent>,
}

/// `compare:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// The id of the target the others are compared to.
    #[schemars(with = "String")]
    pub baseline: Spanned<String>,
    /// Paired A/B: inside every trial the targets alternate in short rounds
    /// (`workload.round`, seeded ABBA order), and each target's change
    /// against the baseline is estimated from per-round ratios, which
    /// cancels the machine's drift, and graded against
    /// `regression.threshold`. Closed loop, `duration`. Default: on when
    /// `regression.threshold` is set, the workload is closed loop for a
    /// `duration`, and every target can take rounds (not `opa-bench`);
    /// `paired: false` compares trial medians instead.
    #[serde(default)]
    pub paired: Option<bool>,
}

/// The policy: Rego modules, data documents and the rule to evaluate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rego files or directories (all `*.rego` inside, sorted), relative to the scenario file.
    #[schemars(with = "Vec<String>")]
    pub files: Vec<Spanned<String>>,
    /// JSON or YAML data documents, deep-merged in order into `data`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub data: Vec<Spanned<String>>,
    /// The rule to evaluate, e.g. `data.restauthz.allow`; its value may be any JSON value.
    #[schemars(with = "String")]
    pub query: Spanned<String>,
    /// Parse the policy as Rego v0 (default: v1).
    #[serde(default)]
    pub rego_v0: bool,
    /// What every target does with the policy's `print()` calls: `erase`
    /// them before compiling (default; as OPA's Go library does unless
    /// printing is enabled), or `keep` them (each engine evaluates their
    /// arguments: regorus gathers the lines, `opa run --server` logs them).
    #[serde(default)]
    pub prints: Option<Prints>,
}

/// `policy.prints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Prints {
    /// Replace every `print(...)` with `true` before any target compiles
    /// the policy (line numbers kept).
    #[default]
    Erase,
    /// Leave them: each engine evaluates their arguments.
    Keep,
}

/// One entry of `inputs:`.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum InputSource {
    /// A file path relative to the scenario file.
    Path(String),
    /// An input written in place.
    Inline {
        /// The input document.
        inline: serde_json::Value,
        /// The decision every policy target must answer for it, checked
        /// before timing; `undefined` for no value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<serde_json::Value>,
    },
    /// Documents generated from a template and seeded field generators,
    /// before timing (`expect`, if given, applies to every one).
    Generate {
        /// The template, the count and the fields.
        generate: crate::generate::GenerateSpec,
        /// The decision every generated input must get; `undefined` for no value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<serde_json::Value>,
    },
    /// A file with an expected decision (`.json`/`.yaml`: one input; for a
    /// `.jsonl` file, `expect` applies to every line that has none).
    File {
        /// The path, relative to the scenario file.
        file: String,
        /// The decision every policy target must answer, checked before
        /// timing; `undefined` for no value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<serde_json::Value>,
    },
}

impl InputSource {
    /// The expected decision, if one is written.
    pub fn expect(&self) -> Option<&serde_json::Value> {
        match self {
            InputSource::Path(_) => None,
            InputSource::Inline { expect, .. }
            | InputSource::File { expect, .. }
            | InputSource::Generate { expect, .. } => expect.as_ref(),
        }
    }
}

impl<'de> Deserialize<'de> for InputSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        const FIELDS: &[&str] = &["inline", "file", "generate", "expect"];
        impl<'de> Visitor<'de> for V {
            type Value = InputSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a file path, `inline: <document>`, `file: <path>` or `generate: {count, template, fields}` (each with `expect:`)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputSource, E> {
                Ok(InputSource::Path(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputSource, A::Error> {
                let (mut inline, mut file, mut expect, mut generate) = (None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "inline" if inline.is_some() => {
                            return Err(de::Error::duplicate_field("inline"))
                        }
                        "inline" => inline = Some(map.next_value::<serde_json::Value>()?),
                        "file" if file.is_some() => return Err(de::Error::duplicate_field("file")),
                        "file" => file = Some(map.next_value::<String>()?),
                        "generate" if generate.is_some() => {
                            return Err(de::Error::duplicate_field("generate"))
                        }
                        "generate" => {
                            generate = Some(map.next_value::<crate::generate::GenerateSpec>()?)
                        }
                        "expect" if expect.is_some() => {
                            return Err(de::Error::duplicate_field("expect"))
                        }
                        // `expect: null` is an expectation (the value null), hence the Some.
                        "expect" => expect = Some(map.next_value::<serde_json::Value>()?),
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    }
                }
                match (inline, file, generate) {
                    (Some(inline), None, None) => Ok(InputSource::Inline { inline, expect }),
                    (None, Some(file), None) => Ok(InputSource::File { file, expect }),
                    (None, None, Some(generate)) => Ok(InputSource::Generate { generate, expect }),
                    (None, None, None) => Err(de::Error::custom(
                        "an input needs one of `inline:`, `file:` or `generate:`",
                    )),
                    _ => Err(de::Error::custom(
                        "an input is one of `inline:`, `file:` or `generate:`, not several",
                    )),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The map form of `inputs_distribution`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DistributionMap {
    /// The distribution.
    distribution: Distribution,
    /// Zipfian only: exponent s (default 0.99).
    #[serde(default)]
    zipf_exponent: Option<f64>,
    /// Hotspot only: share of inputs that are hot (default `20%`).
    #[serde(default)]
    hotspot_keys: Option<Percent>,
    /// Hotspot only: share of operations on hot inputs (default `80%`).
    #[serde(default)]
    hotspot_ops: Option<Percent>,
}

impl JsonSchema for DistributionSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DistributionSpec".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let name = generator.subschema_for::<Distribution>();
        let map = generator.subschema_for::<DistributionMap>();
        schemars::json_schema!({
            "description": "A distribution name (`zipfian`), or a map with its parameters.",
            "anyOf": [name, map]
        })
    }
}

impl<'de> Deserialize<'de> for DistributionSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistributionSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a distribution (`zipfian`) or `{ distribution: zipfian, zipf_exponent: 1.1 }`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DistributionSpec, E> {
                let distribution = Distribution::deserialize(de::value::StrDeserializer::new(v))?;
                Ok(DistributionSpec {
                    distribution,
                    zipf_exponent: None,
                    hotspot_keys: None,
                    hotspot_ops: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DistributionSpec, A::Error> {
                let m = DistributionMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(DistributionSpec {
                    distribution: m.distribution,
                    zipf_exponent: m.zipf_exponent,
                    hotspot_keys: m.hotspot_keys,
                    hotspot_ops: m.hotspot_ops,
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// How operations are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Timing {
    /// Per operation, unless a warm-up probe finds operations faster than
    /// 1us; those are timed in batches of at least 10us.
    #[default]
    Auto,
    /// Every operation between two clock reads (the clock's own cost is inside).
    PerOp,
    /// Batches of operations of at least 10us; latency is the batch mean.
    Batch,
}

/// The load shape.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Worker threads (closed loop). A list sweeps: one case per value. Default 1.
    #[serde(default)]
    pub concurrency: Option<OneOrMany<u32>>,
    /// Time each worker runs before measuring; excluded from every statistic. Default `0s`.
    #[serde(default)]
    pub warmup: Option<Dur>,
    /// Measured time per (case, target, trial). Exactly one of `duration` and `iterations`.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Measured operations per worker per (case, target, trial).
    #[serde(default)]
    pub iterations: Option<u64>,
    /// How often each (case, target) is repeated; targets are interleaved within a trial. Default 1.
    #[serde(default)]
    pub trials: Option<u32>,
    /// Open loop: operations start on a fixed schedule at this rate (`1000/s`); a list sweeps.
    /// `concurrency` is then the most operations in flight at once. Without it, closed loop.
    #[serde(default)]
    pub rate: Option<OneOrMany<Rate>>,
    /// Seed of every random choice (keys, inputs, values); recorded in the results. Default 1.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `auto` (default), `per-op` or `batch`: see "Timing" in README.md.
    #[serde(default)]
    pub timing: Option<Timing>,
    /// Async targets (opa-http, redis): runtime threads the workers share.
    /// Default: one per core, at most `concurrency`. With the server on the
    /// same machine, fewer threads leave it a core (see README).
    #[serde(default)]
    pub threads: Option<u32>,
    /// A soak's length: `--mode soak` measures each (case, target) this long
    /// (default `10m`) while sampling operations done and memory every
    /// `sample`, and grades `memory.growth`. A workload with `soak` and
    /// neither `duration` nor `iterations` is a soak in every mode (quick
    /// mode caps it at 1s).
    #[serde(default)]
    pub soak: Option<Dur>,
    /// Soaks: how often operations done, live heap and resident memory are
    /// sampled. Default `1s` (`100ms` in quick mode).
    #[serde(default)]
    pub sample: Option<Dur>,
    /// Paired comparisons (`compare: { paired: true }`): the length of a
    /// round, in which one target runs before the next takes over. Default `10ms`.
    #[serde(default)]
    pub round: Option<Dur>,
    /// Every run: the width of the windows over time (throughput, p99 and
    /// errors per window, charted in the HTML report). Default `1s` (`100ms`
    /// in quick mode); doubled as needed so a trial has at most 512.
    #[serde(default)]
    pub window: Option<Dur>,
}

/// Operations per second, written with a unit (`5000/s`, `5k/s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match crate::units::parse_rate(&text) {
            Ok(r) if r > 0.0 && text.contains("/s") => Ok(Rate(r)),
            Ok(_) if !text.contains("/s") => Err(de::Error::custom(format!(
                "`{text}` has no unit; write operations per second, e.g. `5000/s`"
            ))),
            Ok(_) => Err(de::Error::custom(format!(
                "rate `{text}` must be above 0/s"
            ))),
            Err(e) => Err(de::Error::custom(e)),
        }
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Operations per second, e.g. `5000/s` or `5k/s`.",
            "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*(k|M)?/s\s*$"
        })
    }
}

/// A single value or a list of values (a sweep).
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One value.
    One(T),
    /// A sweep over several values.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(OneOrMany::Many(out))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(de::value::U64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(de::value::I64Deserializer::new(v)).map(OneOrMany::One)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(de::value::StrDeserializer::new(v)).map(OneOrMany::One)
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A duration that may come from the environment: `50us` or `${SPIN_TIME:-50us}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvDur(pub std::time::Duration);

impl<'de> Deserialize<'de> for EnvDur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let expanded = crate::expand::expand_env(&text, |name| std::env::var(name).ok())
            .map_err(de::Error::custom)?;
        crate::units::parse_duration(&expanded)
            .map(EnvDur)
            .map_err(|e| {
                de::Error::custom(if expanded == text {
                    e
                } else {
                    format!("`{text}` is `{expanded}`: {e}")
                })
            })
    }
}

impl JsonSchema for EnvDur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvDuration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with a unit (`50us`), or `${VAR:-50us}` to read it from the environment."
        })
    }
}

/// `verify:`: `true`, `false` or `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Verify {
    /// `true`: stop before timing on a problem; `false`: measure anyway.
    Gate(bool),
    /// `warn`: measure anyway and mark the run.
    Word(VerifyWord),
}

/// The word form of `verify:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyWord {
    /// Measure anyway; the run's verdict is at least WARN.
    Warn,
}

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
pub enum DecisionCacheKind {
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
    pub kind: DecisionCacheKind,
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

/// Grading levels by metric name (see the metric table in README.md).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds(pub BTreeMap<String, Threshold>);

/// A metric's grading levels. PASS meets `target`; WARN misses `target` but
/// meets `critical`; FAIL misses `critical`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct Threshold {
    /// The level to meet, in the metric's canonical unit (ns, bytes, fraction, ops/s, count).
    pub target: Option<f64>,
    /// The level whose miss fails the run, in the metric's canonical unit.
    pub critical: Option<f64>,
}

impl<'de> Deserialize<'de> for Thresholds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Thresholds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from metric name to `{ target: ..., critical: ... }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Thresholds, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(def) = map.next_key_seed(MetricName)? {
                    let threshold = map.next_value_seed(ThresholdSeed(def))?;
                    if out.insert(def.name.to_string(), threshold).is_some() {
                        return Err(de::Error::custom(format!(
                            "threshold for `{}` is given twice",
                            def.name
                        )));
                    }
                }
                Ok(Thresholds(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Deserializes a metric name, refusing unknown ones with a suggestion.
struct MetricName;

impl<'de> DeserializeSeed<'de> for MetricName {
    type Value = &'static MetricDef;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let name = String::deserialize(deserializer)?;
        metrics::metric(&name)
            .ok_or_else(|| de::Error::unknown_field(&name, metrics::metric_names()))
    }
}

/// Deserializes `{target, critical}` with values in the metric's unit.
struct ThresholdSeed(&'static MetricDef);

impl<'de> DeserializeSeed<'de> for ThresholdSeed {
    type Value = Threshold;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Threshold, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ThresholdSeed {
    type Value = Threshold;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{{ target: ..., critical: ... }}` with {}",
            self.0.unit.example()
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Threshold, A::Error> {
        let def = self.0;
        let mut threshold = Threshold {
            target: None,
            critical: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "target" => &mut threshold.target,
                "critical" => &mut threshold.critical,
                other => return Err(de::Error::unknown_field(other, &["target", "critical"])),
            };
            *slot = Some(map.next_value_seed(Quantity(def))?);
        }
        let lower = def.direction == metrics::Direction::LowerIsBetter;
        match (threshold.target, threshold.critical) {
            (None, None) => Err(de::Error::custom(format!(
                "threshold for `{}` needs `target`, `critical` or both",
                def.name
            ))),
            (Some(t), Some(c)) if (lower && t > c) || (!lower && t < c) => {
                Err(de::Error::custom(format!(
                    "threshold for `{}`: `target` ({}) is worse than `critical` ({}); \
                     {} is better for this metric, so target should be {} critical",
                    def.name,
                    def.unit.format(t),
                    def.unit.format(c),
                    if lower { "lower" } else { "higher" },
                    if lower { "at most" } else { "at least" },
                )))
            }
            _ => Ok(threshold),
        }
    }
}

/// One threshold level, parsed in the metric's unit.
struct Quantity(&'static MetricDef);

impl<'de> DeserializeSeed<'de> for Quantity {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for Quantity {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.unit.example())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        self.0
            .unit
            .parse(v)
            .map_err(|e| E::custom(format!("`{}`: {e}", self.0.name)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        match self.0.unit {
            Unit::Count | Unit::PerSecond => Ok(v),
            unit => Err(E::custom(format!(
                "`{}`: `{v}` has no unit; expected {}",
                self.0.name,
                unit.example()
            ))),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
}

impl JsonSchema for Thresholds {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Thresholds".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = serde_json::Map::new();
        for m in metrics::METRICS {
            let value = match m.unit {
                Unit::Count | Unit::PerSecond => serde_json::json!({"type": ["string", "number"]}),
                _ => serde_json::json!({"type": "string"}),
            };
            properties.insert(
                m.name.to_string(),
                serde_json::json!({
                    "description": format!("{} ({})", m.description, m.unit.example()),
                    "type": "object",
                    "additionalProperties": false,
                    "minProperties": 1,
                    "properties": { "target": value.clone(), "critical": value }
                }),
            );
        }
        schemars::json_schema!({
            "description": "Grading levels by metric name. PASS meets `target`; WARN misses `target` but meets `critical`; FAIL misses `critical`.",
            "type": "object",
            "additionalProperties": false,
            "properties": properties
        })
    }
}
