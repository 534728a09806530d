//! Outputs for CI systems: JUnit XML (each threshold and regression check a
//! test case), a Markdown summary (GitHub's `$GITHUB_STEP_SUMMARY`), and
//! the benchstat-like table of `rigor compare`. All read a results file alone.

use rigor_engine::regress::{RegressionCheck, RegressionReport};
use rigor_engine::results::{Results, Verdict};

use rigor_scenario::redact::redact_credentials;

use crate::escape::{is_hostile, terminal_safe};
use crate::view::format_metric;

/// Text for an XML attribute or element, passwords in URLs redacted.
fn xml_escape(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references, so that attributes keep them (parsers turn a
            // literal newline in an attribute into a space).
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // XML 1.0 forbids the other C0 controls and U+FFFE/U+FFFF, even escaped.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            // Allowed, but terminal-active or reordering when a CI log prints them.
            c if is_hostile(c, true) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.1}%", v * 100.0)
    } else {
        "-".into()
    }
}

/// The change of the metric's own value, signed as the value moved (a
/// throughput drop is negative), with its interval (and the interval's
/// coverage when it is not 95%) and whether that is worse or better:
/// `-78.8% [-80.1%, -77.0%] worse`.
pub fn change_text(c: &RegressionCheck) -> String {
    let higher_is_better = rigor_scenario::metrics::metric(&c.metric)
        .is_some_and(|m| m.direction == rigor_scenario::metrics::Direction::HigherIsBetter);
    // `c.change` is "badness": positive is worse whichever way the metric improves.
    let value = |bad: f64| {
        if higher_is_better {
            1.0 / (1.0 + bad) - 1.0
        } else {
            bad
        }
    };
    let word = if c.change > 0.001 {
        " worse"
    } else if c.change < -0.001 {
        " better"
    } else {
        ""
    };
    match c.interval {
        Some(i) if c.trials.0.min(c.trials.1) > 1 => {
            let cov = if (i.confidence - 0.95).abs() > 0.001 {
                format!(" ({:.0}% interval)", i.confidence * 100.0)
            } else {
                String::new()
            };
            let (lo, hi) = if higher_is_better {
                (value(i.high), value(i.low))
            } else {
                (value(i.low), value(i.high))
            };
            format!(
                "{} [{}, {}]{cov}{word}",
                pct(value(c.change)),
                pct(lo),
                pct(hi)
            )
        }
        _ => format!("{}{word}", pct(value(c.change))),
    }
}

struct Case {
    class: String,
    name: String,
    failure: Option<String>,
    /// A WARN: the case passes, and carries the reason where CI shows it.
    warning: Option<String>,
    skipped: bool,
}

fn cases(results: &Results) -> Vec<Case> {
    let mut out = Vec::new();
    for case in &results.cases {
        for t in &case.targets {
            for g in &t.grades {
                let text = format!(
                    "{} = {} (target {}, critical {}){}{}",
                    g.metric,
                    format_metric(&g.metric, g.value),
                    format_metric(&g.metric, g.target),
                    format_metric(&g.metric, g.critical),
                    match (g.low, g.high) {
                        (Some(l), Some(h)) => format!(
                            ", trials' interval [{}, {}]",
                            format_metric(&g.metric, Some(l)),
                            format_metric(&g.metric, Some(h))
                        ),
                        _ => String::new(),
                    },
                    g.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
                out.push(Case {
                    class: format!("{}.thresholds.{}", results.scenario.name, t.id),
                    name: format!("{} {} {}", case.name, t.id, g.metric),
                    failure: (g.verdict == Verdict::Fail).then(|| text.clone()),
                    warning: (g.verdict == Verdict::Warn).then(|| text.clone()),
                    skipped: g.verdict == Verdict::Skip,
                });
            }
            if let Some(e) = &t.error {
                out.push(Case {
                    class: format!("{}.run.{}", results.scenario.name, t.id),
                    name: format!("{} {} ran", case.name, t.id),
                    failure: Some(e.clone()),
                    warning: None,
                    skipped: false,
                });
            }
        }
    }
    if let Some(r) = &results.regression {
        for c in &r.checks {
            let text = format!(
                "{}: {} -> {}, change {}, p = {}: {}",
                c.metric,
                format_metric(&c.metric, Some(c.base)),
                format_metric(&c.metric, Some(c.new)),
                change_text(c),
                c.p_value
                    .map_or("-".into(), rigor_engine::regress::format_p),
                c.reason
            );
            out.push(Case {
                class: format!("{}.regression.{}", results.scenario.name, c.target),
                name: format!("{} {} {} vs {}", c.case, c.target, c.metric, r.baseline),
                failure: (c.verdict == Verdict::Fail).then(|| text.clone()),
                warning: (c.verdict == Verdict::Warn).then_some(text),
                skipped: false,
            });
        }
    }
    out
}

/// JUnit XML: one test suite, a test case per threshold grade and per
/// regression check; failures carry the numbers.
pub fn junit(results: &Results) -> String {
    let cases = cases(results);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"rigor\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" timestamp=\"{}\">\n",
        cases.len(),
        xml_escape(&results.scenario.name),
        cases.len(),
        xml_escape(&results.started_at)
    ));
    for c in &cases {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&c.class),
            xml_escape(&c.name)
        ));
        match (&c.failure, &c.warning, c.skipped) {
            (Some(f), _, _) => out.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(f),
                xml_escape(f)
            )),
            // A WARN passes, but says so where CI shows it: a property and the output.
            (None, Some(w), _) => out.push_str(&format!(
                ">\n      <properties><property name=\"verdict\" value=\"WARN\"/></properties>\n      <system-out>WARN: {}</system-out>\n    </testcase>\n",
                xml_escape(w)
            )),
            (None, None, true) => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
            (None, None, false) => out.push_str("/>\n"),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Text for Markdown (a table cell or a heading), passwords in URLs redacted:
/// HTML is shown, not rendered (`<` as `&lt;`), Markdown's punctuation is
/// backslash-escaped, and line breaks (which would end a table row) and
/// control characters are spaces and `\u{..}` escapes.
fn md_escape(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '{' | '}' | '#' | '!' | '|' | '~'
            | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_hostile(c, false) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a Markdown code span (metric names, the baseline), passwords
/// in URLs redacted: nothing renders there and backslashes do not escape,
/// so a backtick (which would end the span) becomes a quote; a pipe is
/// still escaped (tables split cells before code spans).
fn md_code(s: &str) -> String {
    let s = redact_credentials(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '`' => out.push('\''),
            '|' => out.push_str("\\|"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_hostile(c, false) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Skip => "N/A",
        Verdict::Pass => "✅ PASS",
        Verdict::Warn => "⚠️ WARN",
        Verdict::Fail => "❌ FAIL",
    }
}

/// A Markdown summary: the verdict, threshold grades, regressions.
pub fn markdown(results: &Results) -> String {
    let mut out = format!(
        "## rigor · {} — {} ({})\n\n",
        md_escape(&results.scenario.name),
        badge(results.overall_verdict()),
        results.check_counts_text()
    );
    let s = &results.scenario;
    if !s.overrides.is_empty() || !s.only.is_empty() {
        let mut parts: Vec<String> = s.overrides.iter().map(|o| format!("--set {o}")).collect();
        if !s.only.is_empty() {
            parts.push(format!("--only {}", s.only.join(",")));
        }
        out.push_str(&format!(
            "Changed for this run: {}\n\n",
            md_code(&parts.join(" "))
        ));
    }
    let grades: Vec<_> = results
        .cases
        .iter()
        .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
        .flat_map(|(c, t)| t.grades.iter().map(move |g| (c, t, g)))
        .collect();
    if !grades.is_empty() {
        out.push_str("| case | target | metric | value | target level | critical level | verdict |\n|---|---|---|---:|---:|---:|---|\n");
        for (c, t, g) in grades {
            out.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {} | {} |\n",
                md_escape(&c.name),
                md_escape(&t.id),
                md_code(&g.metric),
                format_metric(&g.metric, g.value),
                format_metric(&g.metric, g.target),
                format_metric(&g.metric, g.critical),
                badge(g.verdict)
            ));
        }
        out.push('\n');
    }
    if let Some(r) = &results.regression {
        out.push_str(&regression_markdown(r));
    }
    let noisy: Vec<String> = results
        .cases
        .iter()
        .flat_map(|c| c.targets.iter().map(move |t| (c, t)))
        .filter(|(_, t)| t.noisy)
        .map(|(c, t)| format!("{} {}", c.name, t.id))
        .collect();
    if !noisy.is_empty() {
        out.push_str(&format!(
            "Noisy (CV above {}): {}\n\n",
            pct(results.regression_config.noisy_cv).trim_start_matches('+'),
            md_escape(&noisy.join(", "))
        ));
    }
    out
}

fn regression_markdown(r: &RegressionReport) -> String {
    let mut out = format!(
        "### Against baseline `{}` — {}\n\n",
        md_code(&r.baseline),
        badge(r.verdict)
    );
    if let Some(d) = &r.downgraded {
        out.push_str(&format!("> **Note:** {}\n\n", md_escape(d)));
    }
    out.push_str("| case | target | metric | base | new | change of the value [95% interval] | p | verdict | why |\n|---|---|---|---:|---:|---|---:|---|---|\n");
    for c in &r.checks {
        out.push_str(&format!(
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} |\n",
            md_escape(&c.case),
            md_escape(&c.target),
            md_code(&c.metric),
            format_metric(&c.metric, Some(c.base)),
            format_metric(&c.metric, Some(c.new)),
            change_text(c),
            c.p_value
                .map_or("-".into(), rigor_engine::regress::format_p),
            badge(c.verdict),
            md_escape(&c.reason)
        ));
    }
    out.push('\n');
    out
}

/// `rigor compare`: every shared case, target and metric, then geomeans.
pub fn compare_table(r: &RegressionReport) -> String {
    let header = [
        "case",
        "target",
        "metric",
        "old",
        "new",
        "change of the value [95% interval]",
        "p",
        "verdict",
    ];
    let mut rows: Vec<Vec<String>> = r
        .checks
        .iter()
        .map(|c| {
            vec![
                c.case.clone(),
                c.target.clone(),
                c.metric.clone(),
                format_metric(&c.metric, Some(c.base)),
                format_metric(&c.metric, Some(c.new)),
                change_text(c),
                c.p_value
                    .map_or("-".into(), rigor_engine::regress::format_p),
                c.verdict.label().to_string(),
            ]
        })
        .collect();
    for (metric, label) in [
        ("latency.p50", "geomean latency.p50"),
        ("latency.mean", "geomean latency.mean"),
        ("throughput", "geomean throughput"),
    ] {
        if let Some(g) = r.geomean.get(metric) {
            rows.push(vec![
                "(all)".into(),
                "(all)".into(),
                label.into(),
                String::new(),
                String::new(),
                format!(
                    "{} (new/old x{})",
                    pct(g - 1.0),
                    rigor_scenario::units::significant(*g)
                ),
                String::new(),
                String::new(),
            ]);
        }
    }
    // Printed on a terminal: no control characters, no passwords, from any cell.
    for cell in rows.iter_mut().flatten() {
        *cell = terminal_safe(cell);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if (3..=6).contains(&i) {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(pad));
            }
            l.push_str("  ");
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!("rigor compare · baseline {}\n", terminal_safe(&r.baseline));
    if let Some(d) = &r.downgraded {
        out.push_str(&format!("NOTE: {}\n", terminal_safe(d)));
    }
    out.push('\n');
    out.push_str(&line(&header.map(String::from)));
    for row in &rows {
        out.push_str(&line(row));
    }
    for c in r.checks.iter().filter(|c| c.verdict != Verdict::Pass) {
        out.push_str(&format!(
            "\n{} {} {}: {} — {}",
            c.verdict.label(),
            terminal_safe(&c.case),
            terminal_safe(&c.target),
            terminal_safe(&c.metric),
            terminal_safe(&c.reason)
        ));
    }
    out.push_str(&format!("\n\nverdict: {}\n", r.verdict.label()));
    out
}
