//! `thresholds:`: a metric's target and critical levels, read with the
//! metric's own unit (a typo in a metric name or a unit is located).

use super::*;

/// Grading levels by metric name (see the metric table in docs/scenarios.md).
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
