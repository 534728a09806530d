//! `workload:` as written: concurrency, timing, duration or iterations,
//! trials, and rates (fixed, swept, or a decision log's `recorded` ones).

use super::*;

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
    /// `recorded`: each decision-log input starts at its logged time's offset.
    #[serde(default)]
    pub rate: Option<RateSpec>,
    /// With `rate: recorded`: replay this many times faster than logged
    /// (`2x`, `0.5x`; default `1x`).
    #[serde(default)]
    pub speed: Option<Speed>,
    /// Seed of every random choice (keys, inputs, values); recorded in the results. Default 1.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `auto` (default), `per-op` or `batch`: see "Timing" in docs/measuring.md.
    #[serde(default)]
    pub timing: Option<Timing>,
    /// Async targets (opa-http, redis): runtime threads the workers share.
    /// Default: one per core, at most `concurrency`. With the server on the
    /// same machine, fewer threads leave it a core (see docs/scenarios.md, "Workload").
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

/// `rate:` as written: rates (one, or a list to sweep), or `recorded`.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum RateSpec {
    /// `recorded`: the decision log's own arrival times.
    Recorded(Recorded),
    /// Operations per second, one or a sweep.
    Rates(OneOrMany<Rate>),
}

/// The word `recorded`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recorded {
    /// Each input starts at its logged time's offset from the first.
    Recorded,
}

impl RateSpec {
    /// The rates written (none for `recorded`).
    pub fn rates(&self) -> Vec<f64> {
        match self {
            RateSpec::Recorded(_) => Vec::new(),
            RateSpec::Rates(r) => r.to_vec().iter().map(|r| r.0).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.as_str().map(str::trim) == Some("recorded") {
            return Ok(RateSpec::Recorded(Recorded::Recorded));
        }
        OneOrMany::<Rate>::deserialize(value)
            .map(RateSpec::Rates)
            .map_err(|e| {
                de::Error::custom(format!(
                    "{e} (or `recorded` to replay a decision log's arrival times)"
                ))
            })
    }
}

/// `speed:` as written: `2x`, `0.5x` or a number.
#[derive(Debug, Clone, Copy, PartialEq, JsonSchema)]
#[schemars(with = "String")]
pub struct Speed(pub f64);

impl<'de> Deserialize<'de> for Speed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let n = match &value {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => {
                s.trim().trim_end_matches(['x', 'X']).trim().parse().ok()
            }
            _ => None,
        };
        match n {
            Some(n) if n > 0.0 && n.is_finite() => Ok(Speed(n)),
            _ => Err(de::Error::custom(format!(
                "speed `{value}` is not a factor above 0; write e.g. `2x` (twice as fast as logged) or `0.5x`"
            ))),
        }
    }
}

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
