//! Generated inputs: `inputs: [{generate: {count, template, fields}}]`.
//!
//! A template is any document; a string in it that is exactly `{{name}}`
//! becomes field `name`'s value with its type (a number stays a number, a
//! list a list), and a string with `{{name}}` among other text has the value
//! written into it. Fields are seeded generators (`pick` with optional
//! `weights`, `range`, `chance`, `sequence`, and `pick` with `len` for a list
//! of distinct picks), drawn in name order per document from SplitMix64, so
//! one seed gives the same documents on every machine. Everything is checked
//! when the plan is built, before any work starts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::units::Percent;

/// Most documents one `generate:` entry may make.
pub const MAX_COUNT: u64 = 10_000_000;

/// `generate:`: documents made from a template and seeded field generators.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// How many documents to make.
    pub count: u64,
    /// Seed of the draws (default: derived from `workload.seed` and the entry's position).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The document; strings `{{field}}` are replaced by the field's value.
    pub template: Value,
    /// The field generators, by the names the template uses.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
}

/// One field generator: exactly one of `pick`, `range`, `chance`, `sequence`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// One of these values (any JSON), uniformly or by `weights`.
    #[serde(default)]
    pub pick: Option<Vec<Value>>,
    /// Relative weights of the `pick` values, one per value.
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// With `pick`: a list of this many distinct picks instead of one value,
    /// a number or a range such as `1..3`.
    #[serde(default)]
    pub len: Option<RangeText>,
    /// An integer in `low..high`, both ends included.
    #[serde(default)]
    pub range: Option<RangeText>,
    /// `true` with this probability (`30%`), else `false`.
    #[serde(default)]
    pub chance: Option<Percent>,
    /// Counts up from this number, one per document.
    #[serde(default)]
    pub sequence: Option<i64>,
}

/// `low..high` (both included) or one integer.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RangeText {
    /// A single value.
    One(i64),
    /// `low..high`.
    Text(String),
}

impl RangeText {
    fn bounds(&self) -> Result<(i64, i64), String> {
        let (lo, hi) = match self {
            RangeText::One(n) => (*n, *n),
            RangeText::Text(t) => {
                let (a, b) = t
                    .split_once("..")
                    .ok_or_else(|| format!("`{t}` is not a range such as `1..100`"))?;
                let parse = |s: &str| {
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("`{t}`: `{}` is not an integer", s.trim()))
                };
                (parse(a)?, parse(b.trim_start_matches('='))?)
            }
        };
        if lo > hi {
            return Err(format!(
                "{lo}..{hi} is empty: the low end is above the high end"
            ));
        }
        Ok((lo, hi))
    }
}

/// A checked field generator.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// Values with cumulative weights (the last is the total).
    Pick(Vec<Value>, Vec<f64>),
    /// Distinct picks, between `lo` and `hi` of them.
    Sample(Vec<Value>, usize, usize),
    Range(i64, i64),
    Chance(f64),
    Sequence(i64),
}

/// A checked `generate:` entry, ready to make documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    count: u64,
    template: Value,
    fields: BTreeMap<String, Field>,
}

/// A template string: literal text and field references.
enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits `s` at `{{name}}` references.
fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("`{s}` opens `{{{{` without closing `}}}}`"))?;
        let name = after[..close].trim();
        if name.is_empty() {
            return Err(format!("`{s}` has an empty `{{{{}}}}`"));
        }
        out.push(Piece::Field(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Every field name the template refers to.
fn references(template: &Value, into: &mut Vec<String>) -> Result<(), String> {
    match template {
        Value::String(s) => {
            for p in pieces(s)? {
                if let Piece::Field(name) = p {
                    into.push(name.to_string());
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                references(v, into)?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k.contains("{{") {
                    return Err(format!("key `{k}`: fields go in values, not in keys"));
                }
                references(v, into)?;
            }
        }
        _ => {}
    }
    Ok(())
}

impl GenerateSpec {
    /// Checks the entry: the count, every field's generator, and that the
    /// template names only fields that exist and uses every field.
    pub fn check(&self) -> Result<Generator, String> {
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(format!(
                "`count` is {}; it must be between 1 and {MAX_COUNT}",
                self.count
            ));
        }
        let mut fields = BTreeMap::new();
        for (name, spec) in &self.fields {
            let field = spec.check().map_err(|e| format!("field `{name}`: {e}"))?;
            fields.insert(name.clone(), field);
        }
        let mut used = Vec::new();
        references(&self.template, &mut used).map_err(|e| format!("`template`: {e}"))?;
        for name in &used {
            if !fields.contains_key(name) {
                let known: Vec<_> = fields.keys().map(String::as_str).collect();
                return Err(format!(
                    "`template` uses `{{{{{name}}}}}`, which is not in `fields` (fields: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        if let Some(unused) = fields.keys().find(|k| !used.contains(k)) {
            return Err(format!(
                "field `{unused}` is not used in `template` (write `\"{{{{{unused}}}}}\"` where it goes, or remove it)"
            ));
        }
        Ok(Generator {
            count: self.count,
            template: self.template.clone(),
            fields,
        })
    }
}

impl FieldSpec {
    fn check(&self) -> Result<Field, String> {
        let kinds = [
            self.pick.is_some(),
            self.range.is_some(),
            self.chance.is_some(),
            self.sequence.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err("give exactly one of `pick`, `range`, `chance`, `sequence`".into());
        }
        if self.pick.is_none() && (self.weights.is_some() || self.len.is_some()) {
            return Err("`weights` and `len` go with `pick`".into());
        }
        if let Some(values) = &self.pick {
            if values.is_empty() {
                return Err("`pick` is empty".into());
            }
            if let Some(len) = &self.len {
                if self.weights.is_some() {
                    return Err(
                        "`weights` with `len` is not supported: distinct picks are uniform".into(),
                    );
                }
                let (lo, hi) = len.bounds().map_err(|e| format!("`len`: {e}"))?;
                if lo < 0 || hi as usize > values.len() {
                    return Err(format!(
                        "`len` {lo}..{hi}: a list of distinct picks holds 0 to {} values",
                        values.len()
                    ));
                }
                return Ok(Field::Sample(values.clone(), lo as usize, hi as usize));
            }
            let weights = match &self.weights {
                None => vec![1.0; values.len()],
                Some(w) if w.len() != values.len() => {
                    return Err(format!(
                        "{} values but {} weights: give one weight per value",
                        values.len(),
                        w.len()
                    ))
                }
                Some(w) => {
                    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0
                    {
                        return Err("weights must be zero or more, and not all zero".into());
                    }
                    w.clone()
                }
            };
            let cumulative = weights
                .iter()
                .scan(0.0, |acc, w| {
                    *acc += w;
                    Some(*acc)
                })
                .collect();
            return Ok(Field::Pick(values.clone(), cumulative));
        }
        if let Some(r) = &self.range {
            let (lo, hi) = r.bounds().map_err(|e| format!("`range`: {e}"))?;
            return Ok(Field::Range(lo, hi));
        }
        if let Some(p) = self.chance {
            return Ok(Field::Chance(p.0));
        }
        Ok(Field::Sequence(self.sequence.unwrap_or(0)))
    }
}

/// The generator documents are drawn from.
type Rng = crate::rng::SplitMix64;

impl Generator {
    /// How many documents it makes.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The documents, from `seed`.
    pub fn documents(&self, seed: u64) -> Vec<Value> {
        let mut rng = Rng::new(seed);
        (0..self.count)
            .map(|i| {
                let values: BTreeMap<&str, Value> = self
                    .fields
                    .iter()
                    .map(|(name, f)| (name.as_str(), f.draw(&mut rng, i)))
                    .collect();
                fill(&self.template, &values)
            })
            .collect()
    }
}

impl Field {
    fn draw(&self, rng: &mut Rng, i: u64) -> Value {
        match self {
            Field::Pick(values, cumulative) => {
                let total = cumulative.last().copied().unwrap_or(1.0);
                let x = rng.next_f64() * total;
                let at = cumulative
                    .partition_point(|c| *c <= x)
                    .min(values.len() - 1);
                values[at].clone()
            }
            Field::Sample(values, lo, hi) => {
                let n = *lo + rng.below((*hi - *lo + 1) as u64) as usize;
                // A partial Fisher-Yates shuffle over indices keeps picks distinct.
                let mut idx: Vec<usize> = (0..values.len()).collect();
                for k in 0..n {
                    let j = k + rng.below((idx.len() - k) as u64) as usize;
                    idx.swap(k, j);
                }
                let mut chosen = idx[..n].to_vec();
                chosen.sort_unstable();
                Value::Array(chosen.into_iter().map(|k| values[k].clone()).collect())
            }
            Field::Range(lo, hi) => {
                let span = (*hi as i128 - *lo as i128 + 1) as u128;
                let off = if span > u64::MAX as u128 {
                    rng.next_u64() as i128
                } else {
                    rng.below(span as u64) as i128
                };
                Value::from((*lo as i128 + off) as i64)
            }
            Field::Chance(p) => Value::Bool(rng.next_f64() < *p),
            Field::Sequence(start) => Value::from(start.wrapping_add(i as i64)),
        }
    }
}

/// The template with its references replaced.
fn fill(template: &Value, values: &BTreeMap<&str, Value>) -> Value {
    match template {
        Value::String(s) if s.contains("{{") => {
            let parts = pieces(s).unwrap_or_default();
            if let [Piece::Field(name)] = parts.as_slice() {
                return values.get(name).cloned().unwrap_or(Value::Null);
            }
            let mut out = String::with_capacity(s.len());
            for p in parts {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Field(name) => match values.get(name) {
                        Some(Value::String(v)) => out.push_str(v),
                        Some(v) => out.push_str(&v.to_string()),
                        None => {}
                    },
                }
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn spec(yaml: &str) -> GenerateSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const ISSUE: &str = r#"
count: 10000
template: {user: "{{user}}", action: "{{action}}", resource: {type: "{{type}}", id: "{{id}}"}}
fields:
  user: {pick: [alice, bob, carol, dave], weights: [70, 20, 9, 1]}
  action: {pick: [read, write, delete]}
  type: {pick: [finance, hr, dog]}
  id: {range: 1..100000}
"#;

    #[test]
    fn the_issue_example_makes_typed_seeded_documents_in_proportion() {
        let g = spec(ISSUE).check().unwrap();
        let docs = g.documents(42);
        assert_eq!(docs.len(), 10_000);
        assert_eq!(docs, g.documents(42), "one seed, one set of documents");
        assert_ne!(docs, g.documents(43));
        let alice = docs.iter().filter(|d| d["user"] == "alice").count();
        let dave = docs.iter().filter(|d| d["user"] == "dave").count();
        // 70% and 1% of 10,000, within a generous 5 standard deviations.
        assert!((6770..=7230).contains(&alice), "alice {alice}");
        assert!((50..=150).contains(&dave), "dave {dave}");
        for d in &docs {
            let id = d["resource"]["id"].as_i64().expect("ids stay numbers");
            assert!((1..=100_000).contains(&id));
            assert!(["read", "write", "delete"].contains(&d["action"].as_str().unwrap()));
        }
    }

    #[test]
    fn lists_booleans_sequences_and_interpolation_keep_their_types() {
        let g = spec(
            r#"
count: 50
template: {n: "{{n}}", admin: "{{admin}}", roles: "{{roles}}", path: "/users/{{n}}/{{role}}", fixed: [1, true]}
fields:
  n: {sequence: 7}
  admin: {chance: 50%}
  roles: {pick: [a, b, c, d], len: 1..3}
  role: {pick: [x]}
"#,
        )
        .check()
        .unwrap();
        let docs = g.documents(1);
        assert_eq!(docs[0]["n"], json!(7));
        assert_eq!(docs[49]["n"], json!(56));
        assert_eq!(docs[3]["path"], json!("/users/10/x"));
        assert_eq!(docs[0]["fixed"], json!([1, true]));
        assert!(docs.iter().all(|d| d["admin"].is_boolean()));
        assert!(
            docs.iter().any(|d| d["admin"] == true) && docs.iter().any(|d| d["admin"] == false)
        );
        for d in &docs {
            let roles = d["roles"].as_array().unwrap();
            assert!((1..=3).contains(&roles.len()));
            let mut distinct = roles.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), roles.len(), "distinct picks: {roles:?}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("count: 0\ntemplate: {}\n", "`count` is 0"),
            (
                "count: 1\ntemplate: {u: \"{{user}}\"}\n",
                "`{{user}}`, which is not in `fields`",
            ),
            (
                "count: 1\ntemplate: {}\nfields: {u: {pick: [a]}}\n",
                "field `u` is not used",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u}}\"}\nfields: {u: {pick: [a, b], weights: [1]}}\n",
                "2 values but 1 weights",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u}}\"}\nfields: {u: {range: 10..1}}\n",
                "is empty",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u}}\"}\nfields: {u: {range: a..b}}\n",
                "not an integer",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u}}\"}\nfields: {u: {pick: [a], range: 1..2}}\n",
                "exactly one of",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u}}\"}\nfields: {u: {pick: [a], len: 2}}\n",
                "0 to 1 values",
            ),
            (
                "count: 1\ntemplate: {u: \"{{u\"}\nfields: {u: {pick: [a]}}\n",
                "without closing",
            ),
        ];
        for (yaml, want) in cases {
            let e = spec(yaml).check().unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }
}
