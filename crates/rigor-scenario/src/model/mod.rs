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

mod targets;
mod thresholds;
mod workload;
pub use targets::*;
pub use thresholds::*;
pub use workload::*;

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
    /// After the timed trials, profile each policy target's policy on the
    /// slowest inputs and a sample of the rest (OPA's profiler for a
    /// managed OPA; regorus' rules evaluated alone): the report's hottest
    /// lines, rule costs and heat map, outside timing. As `rigor run
    /// --explain`; default `false`.
    #[serde(default)]
    pub explain: Option<bool>,
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
    /// OPA decision-log events replayed as inputs (`decision_log:`, with
    /// `path`, `sample`, `limit`, `since`, `until`, `erased`).
    /// `expect: recorded` expects each event's logged `result`.
    DecisionLog {
        /// Where the log is and which of its events to replay.
        #[serde(flatten)]
        log: crate::decision_log::DecisionLogSpec,
        /// `recorded`: every replayed decision must match the logged one,
        /// checked before timing.
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
            | InputSource::DecisionLog { expect, .. }
            | InputSource::File { expect, .. }
            | InputSource::Generate { expect, .. } => expect.as_ref(),
        }
    }
}

impl<'de> Deserialize<'de> for InputSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        const FIELDS: &[&str] = &[
            "inline",
            "file",
            "generate",
            "decision_log",
            "expect",
            "path",
            "sample",
            "limit",
            "since",
            "until",
            "erased",
        ];
        const LOG_FIELDS: &[&str] = &[
            "decision_log",
            "path",
            "sample",
            "limit",
            "since",
            "until",
            "erased",
        ];
        impl<'de> Visitor<'de> for V {
            type Value = InputSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a file path, `inline: <document>`, `file: <path>`, `generate: {count, template, fields}` or `decision_log: <path>` (each with `expect:`)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputSource, E> {
                Ok(InputSource::Path(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputSource, A::Error> {
                let (mut inline, mut file, mut expect, mut generate) = (None, None, None, None);
                let mut log = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        k if LOG_FIELDS.contains(&k) => {
                            if log.contains_key(k) {
                                return Err(de::Error::custom(format!("duplicate field `{k}`")));
                            }
                            log.insert(k.to_string(), map.next_value::<serde_json::Value>()?);
                        }
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
                if !log.is_empty() {
                    if !log.contains_key("decision_log") {
                        let k = log.keys().next().cloned().unwrap_or_default();
                        return Err(de::Error::custom(format!(
                            "`{k}:` belongs to a `decision_log:` input"
                        )));
                    }
                    if inline.is_some() || file.is_some() || generate.is_some() {
                        return Err(de::Error::custom(
                            "an input is one of `inline:`, `file:`, `generate:` or `decision_log:`, not several",
                        ));
                    }
                    let log = crate::decision_log::DecisionLogSpec::deserialize(
                        serde_json::Value::Object(log),
                    )
                    .map_err(|e| de::Error::custom(format!("decision_log: {e}")))?;
                    return Ok(InputSource::DecisionLog { log, expect });
                }
                match (inline, file, generate) {
                    (Some(inline), None, None) => Ok(InputSource::Inline { inline, expect }),
                    (None, Some(file), None) => Ok(InputSource::File { file, expect }),
                    (None, None, Some(generate)) => Ok(InputSource::Generate { generate, expect }),
                    (None, None, None) => Err(de::Error::custom(
                        "an input needs one of `inline:`, `file:`, `generate:` or `decision_log:`",
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
