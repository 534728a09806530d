//! Replayed traffic: what each decision log held and what of it the run
//! replayed, so a reader knows which requests the figures are about.

use rigor_scenario::decision_log::TrafficInfo;
use rigor_scenario::units::{format_bytes, format_nanos};
use serde::Serialize;

/// One decision log, as label and value rows.
#[derive(Debug, Serialize)]
pub struct TrafficView {
    /// The `decision_log:` as written.
    pub origin: String,
    /// `(label, text)` rows: events, skipped, inputs, decisions, time, OPA.
    pub rows: Vec<(String, String)>,
}

/// `1234567` -> `1,234,567`.
fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn traffic_view(t: &TrafficInfo) -> TrafficView {
    let mut rows = vec![(
        "events".to_string(),
        format!(
            "{} decision event(s) in {} file(s); {} replayed, of path {}",
            count(t.events),
            t.files,
            count(t.replayed),
            t.path
        ),
    )];
    if !t.skipped.is_empty() {
        let mut skipped: Vec<(&String, &u64)> = t.skipped.iter().collect();
        skipped.sort_by(|a, b| b.1.cmp(a.1));
        let text: Vec<String> = skipped
            .iter()
            .map(|(why, n)| {
                let paths = if why.as_str() == "another query path" && !t.other_paths.is_empty() {
                    let mut p: Vec<(&String, &u64)> = t.other_paths.iter().collect();
                    p.sort_by(|a, b| b.1.cmp(a.1));
                    let list: Vec<String> = p
                        .iter()
                        .take(5)
                        .map(|(p, n)| {
                            format!("{} {}", if p.is_empty() { "/" } else { p }, count(**n))
                        })
                        .collect();
                    format!(": {}", list.join(", "))
                } else {
                    String::new()
                };
                format!("{} {why}{paths}", count(**n))
            })
            .collect();
        rows.push(("skipped".into(), text.join("; ")));
    }
    let [min, p50, p90, p99, max] = t.input_bytes.map(|b| format_bytes(b as f64));
    rows.push((
        "inputs".into(),
        format!(
            "{} distinct; JSON size min {min}, p50 {p50}, p90 {p90}, p99 {p99}, max {max}",
            count(t.distinct_inputs)
        ),
    ));
    let decisions: Vec<String> = t
        .decisions
        .iter()
        .map(|(d, n)| {
            let d = if d.chars().count() > 40 {
                format!("{}...", d.chars().take(40).collect::<String>())
            } else {
                d.clone()
            };
            format!("{d} {}", count(*n))
        })
        .collect();
    rows.push(("decisions (as logged)".into(), decisions.join(", ")));
    if let (Some(first), Some(last)) = (&t.first, &t.last) {
        rows.push((
            "logged".into(),
            format!(
                "{first} to {last} ({:.1}s): {:.1} requests/s on average, {} in the busiest second",
                t.span_s,
                t.mean_rps,
                count(t.peak_rps)
            ),
        ));
    }
    if let Some([p50, p90, p99]) = t.recorded_eval_ns {
        rows.push((
            "OPA's eval time (as logged)".into(),
            format!(
                "p50 {}, p90 {}, p99 {} (timer_rego_query_eval_ns of the replayed events)",
                format_nanos(p50 as f64),
                format_nanos(p90 as f64),
                format_nanos(p99 as f64)
            ),
        ));
    }
    TrafficView {
        origin: t.origin.clone(),
        rows,
    }
}
