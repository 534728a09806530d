//! Production traffic as the workload: OPA decision logs read as inputs.
//!
//! OPA records each decision it serves as an event: the `input`, the
//! `result` (absent when undefined), the queried `path` (`authz/allow`), a
//! `timestamp`, and which parts were `erased` or `masked`. The console
//! logger writes one JSON object per line among its other log lines; the
//! decision-log service receives gzip'd JSON arrays of events. This module
//! reads both (a file, a `.gz` file, or a folder of them), keeps the events
//! of one query, and summarises what it read ([`TrafficInfo`]) for the
//! report: a replay whose skipped events are not counted would measure
//! traffic nobody saw. The file passes 700 lines with its tests (the code
//! is about 500): reading, filtering and summarising are one pass.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::inputs::{Inputs, Numbering, SourceId, UNDEFINED};
use crate::rng::mix64;
use crate::units::Percent;

/// `inputs: [{decision_log: ...}]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogSpec {
    /// A file of OPA decision-log events (console logger lines, or a JSON
    /// array as the decision-log service receives it; `.gz` files are
    /// decompressed), or a folder of such files, read in name order.
    pub decision_log: String,
    /// The query whose events are replayed, as OPA writes it
    /// (`authz/allow`) or as a query (`data.authz.allow`); default: the
    /// scenario's `query`. Events of other paths are counted and skipped.
    #[serde(default)]
    pub path: Option<String>,
    /// Replay this share of the events, drawn from the scenario's seed
    /// (e.g. `10%`).
    #[serde(default)]
    pub sample: Option<Percent>,
    /// Replay at most this many events (the first ones kept).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Only events at or after this time (RFC 3339, e.g.
    /// `2026-12-04T09:00:00Z`).
    #[serde(default)]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Events whose input was erased or masked are not what production
    /// evaluated: `skip` (default) counts and leaves them out, `keep`
    /// replays them as logged.
    #[serde(default)]
    pub erased: Erased,
}

/// What to do with events whose input was erased or masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Erased {
    /// Count them and leave them out.
    #[default]
    Skip,
    /// Replay them as logged.
    Keep,
}

/// What a decision log held and what of it was replayed, for the report.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TrafficInfo {
    /// The `decision_log:` as written.
    pub origin: String,
    /// Files read.
    pub files: u64,
    /// The query path replayed (`authz/allow`).
    pub path: String,
    /// Decision events read (lines or array entries that are events).
    pub events: u64,
    /// Events replayed as inputs.
    pub replayed: u64,
    /// Events and lines left out, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Events of other query paths, by path (the 20 most frequent).
    pub other_paths: BTreeMap<String, u64>,
    /// Distinct inputs among those replayed.
    pub distinct_inputs: u64,
    /// Recorded decisions of the replayed events, as JSON, with their
    /// counts (the 10 most frequent; `<undefined>` for no result).
    pub decisions: Vec<(String, u64)>,
    /// Size of the replayed inputs as JSON, in bytes: min, p50, p90, p99, max.
    pub input_bytes: [u64; 5],
    /// Timestamp of the first and last replayed event, as logged.
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
    /// Seconds between them.
    pub span_s: f64,
    /// Replayed events per second over that span.
    pub mean_rps: f64,
    /// The busiest second's events.
    pub peak_rps: u64,
    /// OPA's own evaluation time of the replayed events as logged
    /// (`metrics.timer_rego_query_eval_ns`): p50, p90, p99 in ns, when the
    /// log has it. Production's figure beside the replay's.
    pub recorded_eval_ns: Option<[u64; 3]>,
}

/// A failure to read a decision log, with where it is.
#[derive(Debug)]
pub struct LogError {
    /// The file at fault.
    pub file: PathBuf,
    /// 1-based line, when the fault is on one.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// `data.a.b` or `a/b` or `/v1/data/a/b` -> `a/b`, as OPA logs paths.
pub fn log_path(query_or_path: &str) -> String {
    let p = query_or_path.trim();
    let p = p.strip_prefix("/v1/data").unwrap_or(p);
    let p = p.strip_prefix("data.").unwrap_or(p);
    let p = if p == "data" { "" } else { p };
    p.trim_matches('/').replace('.', "/")
}

/// The files a `decision_log:` names: the file itself, or a folder's
/// regular files in name order (hidden ones left out).
fn files_of(full: &Path) -> Result<Vec<PathBuf>, LogError> {
    if !full.is_dir() {
        return Ok(vec![full.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(full)
        .map_err(|e| LogError {
            file: full.to_path_buf(),
            line: None,
            message: format!("cannot list the folder: {e}"),
            help: "check the path and its permissions".into(),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LogError {
            file: full.to_path_buf(),
            line: None,
            message: "the folder holds no files".into(),
            help: "point `decision_log:` at OPA's decision-log files or a folder of them".into(),
        });
    }
    Ok(files)
}

/// A file's text, gunzipped when it is gzip (by name or by its magic bytes).
fn text_of(file: &Path) -> Result<String, LogError> {
    let err = |message: String, help: &str| LogError {
        file: file.to_path_buf(),
        line: None,
        message,
        help: help.into(),
    };
    let bytes = std::fs::read(file).map_err(|e| {
        err(
            format!("cannot read: {e}"),
            "check the path and its permissions",
        )
    })?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                err(
                    format!("cannot decompress: {e}"),
                    "a `.gz` decision log must be gzip (as OPA uploads it)",
                )
            })?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| {
        err(
            format!("not UTF-8 text: {e}"),
            "OPA writes decision logs as JSON text",
        )
    })
}

/// Why an event is not replayed.
const NOT_EVENT: &str = "other log lines (not decision events)";
const NOT_JSON: &str = "not JSON";
const OTHER_PATH: &str = "another query path";
const NO_INPUT: &str = "no input";
const ERASED: &str = "input erased or masked";
const OUTSIDE: &str = "outside since/until";
const NOT_SAMPLED: &str = "not in the sample";
const OVER_LIMIT: &str = "over the limit";

/// Reads a decision log into inputs. `query` is the scenario's (the path
/// replayed by default), `seed` draws the sample, `recorded` makes each
/// input's expected decision the logged `result`.
pub fn read(
    spec: &DecisionLogSpec,
    full: &Path,
    query: &str,
    seed: u64,
    recorded: bool,
    out: &mut Inputs,
) -> Result<TrafficInfo, LogError> {
    let want = log_path(spec.path.as_deref().unwrap_or(query));
    let since = spec
        .since
        .as_deref()
        .map(|s| bound(full, "since", s))
        .transpose()?;
    let until = spec
        .until
        .as_deref()
        .map(|s| bound(full, "until", s))
        .transpose()?;
    let files = files_of(full)?;
    let mut info = TrafficInfo {
        origin: spec.decision_log.clone(),
        files: files.len() as u64,
        path: want.clone(),
        ..TrafficInfo::default()
    };
    let mut summary = Summary::default();
    let mut index = 0u64;
    let many = files.len() > 1;
    for file in &files {
        let text = text_of(file)?;
        let name = if many {
            format!(
                "{}/{}",
                spec.decision_log.trim_end_matches('/'),
                file.file_name().unwrap_or_default().to_string_lossy()
            )
        } else {
            spec.decision_log.clone()
        };
        let source = out.source(name, Numbering::Line);
        let mut each = |value: serde_json::Value, line: u64| {
            index += 1;
            event(
                value,
                (source, line as u32),
                Filter {
                    want: &want,
                    since,
                    until,
                    spec,
                    seed,
                    recorded,
                    index,
                },
                &mut info,
                &mut summary,
                out,
            );
        };
        if text.trim_start().starts_with('[') {
            // The decision-log service's upload: one JSON array of events.
            let events: Vec<serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| LogError {
                    file: file.clone(),
                    line: Some(e.line() as u64),
                    message: format!("invalid JSON array of events: {e}"),
                    help: "a decision-log upload is one JSON array of events".into(),
                })?;
            for (i, value) in events.into_iter().enumerate() {
                each(value, i as u64 + 1);
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                // A line that is not JSON (a panic, a wrapper's banner) is
                // counted as a skipped event.
                let value = serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or(serde_json::Value::Null);
                each(value, i as u64 + 1);
            }
        }
    }
    if info.replayed == 0 {
        let mut why: Vec<String> = info
            .skipped
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if why.is_empty() {
            why.push("it is empty".into());
        }
        let paths: Vec<&str> = info.other_paths.keys().map(String::as_str).collect();
        return Err(LogError {
            file: full.to_path_buf(),
            line: None,
            message: format!(
                "no event of path `{want}` to replay ({} decision event(s) read; {})",
                info.events,
                why.join(", ")
            ),
            help: if paths.is_empty() {
                "point `decision_log:` at OPA's decision log (`decision_logs.console: true` writes it to stderr)".into()
            } else {
                format!(
                    "the log has the paths {}; set `path:` to one of them",
                    paths.join(", ")
                )
            },
        });
    }
    summary.finish(&mut info);
    Ok(info)
}

/// What an event must pass.
#[derive(Clone, Copy)]
struct Filter<'a> {
    want: &'a str,
    since: Option<i128>,
    until: Option<i128>,
    spec: &'a DecisionLogSpec,
    seed: u64,
    recorded: bool,
    /// The event's position across the log, from 1: the sample's draw.
    index: u64,
}

/// Figures gathered while reading, summarised at the end.
#[derive(Default)]
struct Summary {
    distinct: std::collections::HashSet<u64>,
    decisions: HashMap<String, u64>,
    sizes: Vec<u64>,
    /// Replayed events' times (ns since the epoch), when logged.
    times: Vec<i128>,
    first: Option<(i128, String)>,
    last: Option<(i128, String)>,
    eval_ns: Vec<u64>,
}

fn event(
    value: serde_json::Value,
    (source, line): (SourceId, u32),
    f: Filter<'_>,
    info: &mut TrafficInfo,
    summary: &mut Summary,
    out: &mut Inputs,
) {
    let skip = |info: &mut TrafficInfo, why: &str| {
        *info.skipped.entry(why.into()).or_insert(0) += 1;
    };
    let mut event = match value {
        serde_json::Value::Object(event) => event,
        serde_json::Value::Null => return skip(info, NOT_JSON),
        _ => return skip(info, NOT_EVENT),
    };
    if !event.contains_key("decision_id") {
        return skip(info, NOT_EVENT);
    }
    info.events += 1;
    let path = event
        .get("path")
        .and_then(|p| p.as_str())
        .map(log_path)
        .unwrap_or_default();
    if path != f.want {
        if info.other_paths.len() < 20 || info.other_paths.contains_key(&path) {
            *info.other_paths.entry(path).or_insert(0) += 1;
        }
        return skip(info, OTHER_PATH);
    }
    let Some(input) = event.remove("input") else {
        return skip(info, NO_INPUT);
    };
    if f.spec.erased == Erased::Skip && touches_input(&event) {
        return skip(info, ERASED);
    }
    let stamp = event
        .get("timestamp")
        .and_then(|t| t.as_str())
        .and_then(|t| parse_rfc3339(t).map(|ns| (ns, t.to_string())));
    if f.since.is_some() || f.until.is_some() {
        let inside = stamp.as_ref().is_some_and(|(ns, _)| {
            f.since.is_none_or(|s| *ns >= s) && f.until.is_none_or(|u| *ns < u)
        });
        if !inside {
            return skip(info, OUTSIDE);
        }
    }
    if let Some(share) = f.spec.sample {
        let draw = mix64(f.seed ^ f.index.wrapping_mul(crate::rng::GOLDEN)) as f64
            / (u64::MAX as f64 + 1.0);
        if draw >= share.0 {
            return skip(info, NOT_SAMPLED);
        }
    }
    if f.spec.limit.is_some_and(|l| info.replayed >= l) {
        return skip(info, OVER_LIMIT);
    }
    info.replayed += 1;
    let result = event
        .remove("result")
        .unwrap_or_else(|| serde_json::Value::String(UNDEFINED.into()));
    let text = serde_json::to_string(&input).unwrap_or_default();
    summary.distinct.insert(hash(&text));
    summary.sizes.push(text.len() as u64);
    *summary.decisions.entry(result.to_string()).or_insert(0) += 1;
    let time = stamp.as_ref().and_then(|(ns, _)| i64::try_from(*ns).ok());
    if let Some((ns, t)) = stamp {
        summary.times.push(ns);
        if summary.first.as_ref().is_none_or(|(f, _)| ns < *f) {
            summary.first = Some((ns, t.clone()));
        }
        if summary.last.as_ref().is_none_or(|(l, _)| ns > *l) {
            summary.last = Some((ns, t));
        }
    }
    if let Some(ns) = event
        .get("metrics")
        .and_then(|m| m.get("timer_rego_query_eval_ns"))
        .and_then(|v| v.as_u64())
    {
        summary.eval_ns.push(ns);
    }
    out.push_timed(source, line, &text, f.recorded.then_some(&result), time);
}

/// Whether an event's `erased` or `masked` lists name the input.
fn touches_input(event: &serde_json::Map<String, serde_json::Value>) -> bool {
    ["erased", "masked"].iter().any(|k| {
        event.get(*k).and_then(|v| v.as_array()).is_some_and(|a| {
            a.iter()
                .filter_map(|p| p.as_str())
                .any(|p| p == "/input" || p.starts_with("/input/"))
        })
    })
}

impl Summary {
    fn finish(mut self, info: &mut TrafficInfo) {
        info.distinct_inputs = self.distinct.len() as u64;
        let mut decisions: Vec<(String, u64)> = self.decisions.into_iter().collect();
        decisions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        decisions.truncate(10);
        info.decisions = decisions;
        info.input_bytes = percentiles5(&mut self.sizes);
        if let (Some((f, ft)), Some((l, lt))) = (self.first, self.last) {
            info.first = Some(ft);
            info.last = Some(lt);
            info.span_s = (l - f) as f64 / 1e9;
            if info.span_s > 0.0 {
                info.mean_rps = self.times.len() as f64 / info.span_s;
            }
            let mut per_second: HashMap<i128, u64> = HashMap::new();
            for t in &self.times {
                *per_second.entry(t.div_euclid(1_000_000_000)).or_insert(0) += 1;
            }
            info.peak_rps = per_second.values().copied().max().unwrap_or(0);
        }
        if !self.eval_ns.is_empty() {
            let p = percentiles5(&mut self.eval_ns);
            info.recorded_eval_ns = Some([p[1], p[2], p[3]]);
        }
    }
}

/// min, p50, p90, p99, max (nearest rank); zeros for none.
fn percentiles5(values: &mut [u64]) -> [u64; 5] {
    if values.is_empty() {
        return [0; 5];
    }
    values.sort_unstable();
    let at =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    [
        values[0],
        at(0.5),
        at(0.9),
        at(0.99),
        values[values.len() - 1],
    ]
}

/// A 64-bit hash of a document's JSON text, to count distinct inputs
/// (std's SipHash: collisions among millions of inputs are negligible).
fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn bound(full: &Path, field: &str, text: &str) -> Result<i128, LogError> {
    parse_rfc3339(text).ok_or_else(|| LogError {
        file: full.to_path_buf(),
        line: None,
        message: format!("`{field}: {text}` is not an RFC 3339 time"),
        help: format!("write e.g. `{field}: 2026-12-04T09:00:00Z`"),
    })
}

/// `2026-12-04T21:44:28.291760824Z` (or with `+01:00`) -> ns since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: i128 = frac[..digits].parse().ok()?;
        for _ in digits..9 {
            value *= 10;
        }
        for _ in 9..digits {
            value /= 10;
        }
        nanos = value;
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-04T21:44:28.291760824Z"),
            Some(1_796_420_668_291_760_824)
        );
        assert_eq!(
            parse_rfc3339("2026-12-04T22:44:28.5+01:00"),
            Some(1_796_420_668_500_000_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-13-04T00:00:00Z"), None);
    }

    #[test]
    fn paths_are_written_as_opa_logs_them() {
        assert_eq!(log_path("data.authz.allow"), "authz/allow");
        assert_eq!(log_path("authz/allow"), "authz/allow");
        assert_eq!(log_path("/v1/data/authz/allow"), "authz/allow");
        assert_eq!(log_path("/authz/allow/"), "authz/allow");
    }

    fn spec(extra: &str) -> DecisionLogSpec {
        serde_json::from_str(&format!("{{\"decision_log\": \"log\"{extra}}}")).unwrap()
    }

    fn events(dir: &Path, lines: &[&str]) -> PathBuf {
        let file = dir.join("log");
        std::fs::write(&file, lines.join("\n")).unwrap();
        file
    }

    const A: &str = r#"{"decision_id":"1","input":{"u":"a"},"path":"authz/allow","result":true,"timestamp":"2026-12-04T10:00:00Z","metrics":{"timer_rego_query_eval_ns":1000}}"#;
    const B: &str = r#"{"decision_id":"2","input":{"u":"b"},"path":"authz/allow","timestamp":"2026-12-04T10:00:00.5Z"}"#;
    const C: &str = r#"{"decision_id":"3","input":{"u":"a"},"path":"authz/allow","result":true,"timestamp":"2026-12-04T10:00:02Z"}"#;
    const OTHER: &str = r#"{"decision_id":"4","input":{},"path":"authz","result":{}}"#;
    const MASKED: &str = r#"{"decision_id":"5","input":{"u":"c"},"path":"authz/allow","result":false,"erased":["/input/password"]}"#;
    const LOG_LINE: &str = r#"{"level":"info","msg":"Initializing server."}"#;

    #[test]
    fn console_logs_replay_one_path_and_count_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = events(
            dir.path(),
            &[LOG_LINE, A, B, OTHER, MASKED, "panic: oops", C],
        );
        let mut out = Inputs::new();
        let info = read(&spec(""), &file, "data.authz.allow", 1, true, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out.origin(0), "log:2");
        assert_eq!(out.expect(0), Some(&serde_json::json!(true)));
        // No result logged: undefined.
        assert_eq!(out.expect(1), Some(&serde_json::json!(UNDEFINED)));
        assert_eq!(info.events, 5);
        assert_eq!(info.replayed, 3);
        assert_eq!(info.skipped[NOT_EVENT], 1);
        assert_eq!(info.skipped[NOT_JSON], 1);
        assert_eq!(info.skipped[OTHER_PATH], 1);
        assert_eq!(info.skipped[ERASED], 1);
        assert_eq!(info.other_paths["authz"], 1);
        assert_eq!(info.distinct_inputs, 2);
        assert_eq!(info.decisions[0], ("true".into(), 2));
        assert_eq!(info.span_s, 2.0);
        assert_eq!(info.peak_rps, 2);
        assert_eq!(info.recorded_eval_ns, Some([1000, 1000, 1000]));
        // Without `expect: recorded` nothing is expected; `erased: keep` replays the masked one.
        let mut out = Inputs::new();
        read(
            &spec(r#", "erased": "keep""#),
            &file,
            "data.authz.allow",
            1,
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|i| i.expect().is_none()));
    }

    #[test]
    fn windows_samples_and_limits_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let file = events(dir.path(), &[A, B, C]);
        let mut out = Inputs::new();
        let s = spec(r#", "since": "2026-12-04T10:00:00.1Z", "until": "2026-12-04T10:00:01Z""#);
        let info = read(&s, &file, "data.authz.allow", 1, false, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(info.skipped[OUTSIDE], 2);
        let mut out = Inputs::new();
        let info = read(&spec(r#", "limit": 2"#), &file, "x", 1, false, &mut out);
        assert!(info.unwrap_err().message.contains("no event of path `x`"));
        let info = read(
            &spec(r#", "limit": 2, "path": "authz/allow""#),
            &file,
            "x",
            1,
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!((out.len(), info.skipped[OVER_LIMIT]), (2, 1));
        // A sample of 50% keeps about half of many events, the same ones for a seed.
        let many: Vec<String> = (0..1000)
            .map(|i| format!(r#"{{"decision_id":"{i}","input":{{"i":{i}}},"path":"p"}}"#))
            .collect();
        let file = events(
            dir.path(),
            &many.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let draw = |seed| {
            let mut out = Inputs::new();
            read(
                &spec(r#", "sample": "50%""#),
                &file,
                "data.p",
                seed,
                false,
                &mut out,
            )
            .unwrap();
            out.iter().map(|i| i.origin()).collect::<Vec<_>>()
        };
        let (a, b) = (draw(1), draw(1));
        assert_eq!(a, b);
        assert!((400..600).contains(&a.len()), "{}", a.len());
        assert_ne!(a, draw(2));
    }

    #[test]
    fn gzipped_uploads_and_folders_are_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let array = format!("[{A},{B}]");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(array.as_bytes()).unwrap();
        std::fs::write(logs.join("a.json.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(logs.join("b.log"), C).unwrap();
        let mut out = Inputs::new();
        let s = DecisionLogSpec {
            decision_log: "logs".into(),
            ..spec("")
        };
        let info = read(&s, &logs, "data.authz.allow", 1, true, &mut out).unwrap();
        assert_eq!(info.files, 2);
        assert_eq!(out.len(), 3);
        assert_eq!(out.origin(0), "logs/a.json.gz:1");
        assert_eq!(out.origin(2), "logs/b.log:1");
    }
}
