//! The inputs a scenario runs, stored compactly.
//!
//! Every document is kept as its JSON text (serialised by serde_json, keys
//! sorted, so one document has one text) in one arena with an index; where
//! it came from and the decision it must get are small ids. A million
//! 70-byte inputs take about their file's size plus 16 bytes each, where a
//! `serde_json::Value` per input took about forty times the file. Each
//! consumer (a target, the decision check) reads the texts and builds its
//! own form of the documents it needs, before timing.

use std::collections::HashMap;

/// Where a group of inputs came from, and how its members are numbered.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    /// `inputs/rbac.jsonl`, `inputs[2] (inline)`, `inputs[0] (generate)`.
    label: String,
    numbering: Numbering,
}

/// How an input's origin is written from its source and number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Numbering {
    /// The label alone (one document).
    None,
    /// `label:line` (a line of a file).
    Line,
    /// `label #n` (the n-th generated document).
    Count,
}

/// A source's id in [`Inputs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceId(u32);

/// How an undefined decision is written in decisions and results: the
/// string regorus and OPA's REST API stand-in both use.
pub const UNDEFINED: &str = "<undefined>";

/// No expected decision.
const NO_EXPECT: u32 = u32::MAX;

/// The inputs, in round-robin order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// Every document's JSON text, back to back.
    text: String,
    /// Where each document's text ends in `text`.
    ends: Vec<u64>,
    /// Each document's (source, number).
    origins: Vec<(u32, u32)>,
    sources: Vec<Source>,
    /// Each document's expected decision, an index into `expect_values`;
    /// none while no document has one.
    expects: Option<Vec<u32>>,
    /// The distinct expected decisions.
    expect_values: Vec<serde_json::Value>,
    /// `expect_values` by their JSON text, to store each once.
    expect_ids: HashMap<String, u32>,
    /// Each document's logged time (ns since the epoch; `NO_TIME` for
    /// none); none while no document has one.
    times: Option<Vec<i64>>,
}

/// No logged time.
const NO_TIME: i64 = i64::MIN;

/// One input, borrowed from [`Inputs`].
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    inputs: &'a Inputs,
    index: usize,
}

impl<'a> Input<'a> {
    /// Its position in the inputs, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The document's JSON text.
    pub fn text(&self) -> &'a str {
        self.inputs.text(self.index)
    }

    /// The document, parsed.
    pub fn value(&self) -> serde_json::Value {
        self.inputs.value(self.index)
    }

    /// `file:line`, `file`, `inputs[n] (inline)` or `inputs[n] (generate) #k`.
    pub fn origin(&self) -> String {
        self.inputs.origin(self.index)
    }

    /// The decision every policy target must answer (`expect:`), with
    /// undefined written as [`crate::plan::UNDEFINED`].
    pub fn expect(&self) -> Option<&'a serde_json::Value> {
        self.inputs.expect(self.index)
    }
}

impl Inputs {
    /// No inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers where the next inputs come from.
    pub fn source(&mut self, label: impl Into<String>, numbering: Numbering) -> SourceId {
        self.sources.push(Source {
            label: label.into(),
            numbering,
        });
        SourceId(self.sources.len() as u32 - 1)
    }

    /// Adds a document, numbered `n` in its source.
    pub fn push(
        &mut self,
        source: SourceId,
        n: u32,
        value: &serde_json::Value,
        expect: Option<&serde_json::Value>,
    ) {
        // Writing a Value into a String cannot fail: its maps have string keys.
        let text = serde_json::to_string(value).unwrap_or_default();
        self.push_text(source, n, &text, expect);
    }

    /// Adds a document given as the text serde_json wrote for it
    /// (`serde_json::to_string`), numbered `n` in its source.
    pub fn push_text(
        &mut self,
        source: SourceId,
        n: u32,
        text: &str,
        expect: Option<&serde_json::Value>,
    ) {
        self.push_timed(source, n, text, expect, None);
    }

    /// [`Inputs::push_text`] with the time the document was logged (ns
    /// since the epoch), for replaying arrivals.
    pub fn push_timed(
        &mut self,
        source: SourceId,
        n: u32,
        text: &str,
        expect: Option<&serde_json::Value>,
        time: Option<i64>,
    ) {
        if time.is_some() && self.times.is_none() {
            self.times = Some(vec![NO_TIME; self.ends.len()]);
        }
        if let Some(times) = &mut self.times {
            times.push(time.unwrap_or(NO_TIME));
        }
        self.text.push_str(text);
        self.ends.push(self.text.len() as u64);
        self.origins.push((source.0, n));
        let id = match expect {
            None => NO_EXPECT,
            Some(v) => {
                let key = v.to_string();
                match self.expect_ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = self.expect_values.len() as u32;
                        self.expect_values.push(v.clone());
                        self.expect_ids.insert(key, id);
                        id
                    }
                }
            }
        };
        if id != NO_EXPECT && self.expects.is_none() {
            self.expects = Some(vec![NO_EXPECT; self.ends.len() - 1]);
        }
        if let Some(expects) = &mut self.expects {
            expects.push(id);
        }
    }

    /// Makes room for about `bytes` of documents' text in `count` documents.
    pub fn reserve(&mut self, bytes: usize, count: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(count);
        self.origins.reserve(count);
    }

    /// How many inputs.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No inputs at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Input `i`.
    pub fn get(&self, index: usize) -> Input<'_> {
        Input {
            inputs: self,
            index,
        }
    }

    /// Every input, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Input<'_>> + '_ {
        (0..self.len()).map(|index| Input {
            inputs: self,
            index,
        })
    }

    /// Input `i`'s JSON text.
    pub fn text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Input `i`, parsed. Its text was written by serde_json, so it parses.
    pub fn value(&self, i: usize) -> serde_json::Value {
        serde_json::from_str(self.text(i)).unwrap_or_default()
    }

    /// Input `i`'s origin, for messages and reports.
    pub fn origin(&self, i: usize) -> String {
        let (source, n) = self.origins[i];
        let s = &self.sources[source as usize];
        match s.numbering {
            Numbering::None => s.label.clone(),
            Numbering::Line => format!("{}:{n}", s.label),
            Numbering::Count => format!("{} #{n}", s.label),
        }
    }

    /// When input `i` was logged (ns since the epoch), if it was.
    pub fn time(&self, i: usize) -> Option<i64> {
        match self.times.as_ref().and_then(|t| t.get(i)) {
            Some(&t) if t != NO_TIME => Some(t),
            _ => None,
        }
    }

    /// Input `i`'s expected decision.
    pub fn expect(&self, i: usize) -> Option<&serde_json::Value> {
        match self.expects.as_ref().and_then(|e| e.get(i)) {
            Some(&id) if id != NO_EXPECT => self.expect_values.get(id as usize),
            _ => None,
        }
    }

    /// Bytes of the documents' texts.
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    /// The documents as one JSON array's text (`[d1,d2,...]`), as
    /// serde_json writes a `Vec` of them: what the plan's fingerprint hashes.
    pub fn array_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + self.len() + 2);
        out.push('[');
        for (k, input) in self.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(input.text());
        }
        out.push(']');
        out
    }

    /// Keeps the inputs at `keep` (sorted positions), in order.
    pub fn retain(&self, keep: &[usize]) -> Inputs {
        let mut out = Inputs {
            sources: self.sources.clone(),
            ..Inputs::default()
        };
        for &i in keep {
            let (source, n) = self.origins[i];
            out.push_timed(
                SourceId(source),
                n,
                self.text(i),
                self.expect(i),
                self.time(i),
            );
        }
        out
    }

    /// Releases spare capacity once every input is in.
    pub fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.origins.shrink_to_fit();
        if let Some(e) = &mut self.expects {
            e.shrink_to_fit();
        }
        self.expect_ids = HashMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_origins_and_expectations_round_trip() {
        let mut inputs = Inputs::new();
        let file = inputs.source("inputs/a.jsonl", Numbering::Line);
        let inline = inputs.source("inputs[1] (inline)", Numbering::None);
        let generated = inputs.source("inputs[2] (generate)", Numbering::Count);
        inputs.push(file, 3, &json!({"b": 1, "a": [true]}), Some(&json!(true)));
        inputs.push(inline, 0, &json!("x"), Some(&json!(false)));
        inputs.push(generated, 7, &json!({}), Some(&json!(false)));
        assert_eq!(inputs.len(), 3);
        // Keys sorted, as serde_json writes a Value: one text per document.
        assert_eq!(inputs.text(0), r#"{"a":[true],"b":1}"#);
        assert_eq!(inputs.value(0), json!({"a": [true], "b": 1}));
        assert_eq!(inputs.origin(0), "inputs/a.jsonl:3");
        assert_eq!(inputs.origin(1), "inputs[1] (inline)");
        assert_eq!(inputs.origin(2), "inputs[2] (generate) #7");
        // The first document's expectation too (the index starts with it).
        assert_eq!(inputs.expect(0), Some(&json!(true)));
        assert_eq!(inputs.expect(1), Some(&json!(false)));
        assert_eq!(inputs.expect_values.len(), 2, "each decision stored once");
        let mut later = Inputs::new();
        let s = later.source("l", Numbering::Line);
        later.push(s, 1, &json!(1), None);
        later.push(s, 2, &json!(2), Some(&json!(true)));
        assert_eq!(
            (later.expect(0), later.expect(1)),
            (None, Some(&json!(true)))
        );
        let values: Vec<serde_json::Value> = inputs.iter().map(|i| i.value()).collect();
        assert_eq!(inputs.array_text(), serde_json::to_string(&values).unwrap());
        let kept = inputs.retain(&[0, 2]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.origin(1), "inputs[2] (generate) #7");
        assert_eq!(kept.expect(1), Some(&json!(false)));
    }
}
