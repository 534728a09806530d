//! Hostile text in a results file (names, descriptions, target ids, inputs,
//! error messages, a URL with a password) renders as text in every output:
//! HTML, console, Markdown, JUnit and `rigor compare`.

#![allow(clippy::unwrap_used)] // Tests and their helpers fail loudly by design.

use rigor_report::Renderer;
use rigor_results::Results;

/// Everything a hostile string can try: close a tag or an attribute, run a
/// script, be rendered as a template, drive the terminal, break a Markdown
/// table, and carry a password.
const HOSTILE: &str = "<script>document.title='pwned'</script>\"><img src=x onerror=document.title='pwned'>'{{ 7*7 }}{% if true %}tpl{% endif %}\u{1b}[2J\u{1b}]0;owned\u{7}\r\u{9b}31m\u{202e}|*_`x`\n</script ><!-- redis://user:hunter2@cache.example:6379 ]]>";

fn hostile_results() -> Results {
    let h = HOSTILE;
    let mut hist = rigor_results::histogram::new_histogram();
    for v in [1_000u64, 2_000, 5_000, 100_000] {
        hist.record(v).unwrap();
    }
    let histogram = rigor_results::histogram::encode(&hist);
    let grade = |verdict: &str| {
        serde_json::json!({
            "metric": "latency.p99", "value": 5.0e6, "target": 1.0e6, "critical": 2.0e6,
            "verdict": verdict, "reason": h
        })
    };
    let check = serde_json::json!({
        "case": h, "target": h, "metric": h, "base": 1.0, "new": 2.0, "trials": [3, 3],
        "change": 1.0, "interval": null, "p_value": 0.01, "p_regression": 0.01,
        "threshold": 0.1, "detectable": null, "trials_needed": null, "verdict": "fail", "reason": h
    });
    let value = serde_json::json!({
        "format_version": 1,
        "rigor_version": h,
        "scenario": {
            "name": h, "description": h, "path": h,
            "source": format!("name: x\ntargets:\n  - {{id: r, kind: redis, url: \"redis://:hunter2@h:1\"}}\n# {h}\n"),
            "mode": "default",
            "workload": {
                "concurrency": [1], "warmup": {"secs": 0, "nanos": 0},
                "stop": {"duration": {"secs": 1, "nanos": 0}}, "trials": 3
            },
            "inputs": 1
        },
        "environment": {
            "cpu_model": h, "cores": 2, "os": h, "hostname": h, "rustc": h, "rigor_version": h,
            "git_commit": h, "clock_source": h
        },
        "harness": {"timer_cost_ns": 20.0, "timer_resolution_ns": 1, "memory_accounting": true, "timing": h},
        "started_at": h, "finished_at": h, "status": "complete",
        "targets": [{
            "id": h, "kind": h,
            "config": {"url": "redis://user:hunter2@cache.example:6379", "note": h},
            "setup": {"parse_ns": [1000], "compile_ns": [2000]}
        }],
        "cases": [{
            "name": h, "concurrency": 1, "rate": null,
            "targets": [{
                "id": h, "kind": h, "trials": [], "metrics": {"latency.p99": 5.0e6},
                "histogram": histogram, "grades": [grade("fail"), grade("pass")], "error": h,
                "ratios": [{"metric": h, "ratio": 2.0, "low": 1.5, "high": 2.5, "trials": 3, "conclusion": h}],
                "noisy": true
            }]
        }],
        "verdict": "fail",
        "errors": [h, format!("cannot connect to redis://u:hunter2@h: {h}")],
        "verification": {"inputs": 1, "targets": [h], "decisions": {h: 1}},
        "baseline": h,
        "regression": {
            "baseline": h, "baseline_started_at": h, "environment_differs": [h], "downgraded": h,
            "config": {"threshold": 0.1, "metrics": {}}, "checks": [check], "geomean": {},
            "verdict": "fail"
        },
        "artifacts": ["javascript:document.title='pwned'", "flamegraph.svg"]
    });
    serde_json::from_value(value).unwrap()
}

/// What no output may contain, whatever its format.
fn assert_common(what: &str, out: &str) {
    assert!(!out.contains("hunter2"), "{what}: password leaked:\n{out}");
    for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\0'] {
        assert!(!out.contains(c), "{what}: raw {c:?} in:\n{out:?}");
    }
}

#[test]
fn html_escapes_every_user_string_and_runs_nothing() {
    let html = Renderer::new(None)
        .unwrap()
        .html(&hostile_results())
        .unwrap();
    assert_common("html", &html);
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "a script element:\n{html}");
    assert!(!lower.contains("</script"), "a script end tag:\n{html}");
    assert!(!lower.contains("<img"), "an img element:\n{html}");
    assert!(!lower.contains("<!--"), "a comment opened by user text");
    assert!(html.contains("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;&#x2f;script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror="));
    // Data is never rendered as a template.
    assert!(html.contains("{{ 7*7 }}{% if true %}tpl{% endif %}"));
    assert!(!html.contains("&#x27;49"));
    // Control characters are shown; the password is redacted everywhere.
    assert!(html.contains("\\u{1b}[2J\\u{1b}]0;owned\\u{7}"));
    assert!(html.contains("&#x2f;&#x2f;user:***@cache.example:6379"));
    assert!(
        html.contains("&#x2f;&#x2f;:***@h:1"),
        "the scenario source is redacted"
    );
    // Links stay files.
    assert!(html.contains("href=\".&#x2f;javascript:"), "{html}");
    assert!(!html.contains("href=\"javascript:"));
    assert!(html.contains("href=\"flamegraph.svg\""));
    // The hostile target id labels the chart and the forest plot, escaped.
    assert!(html.contains("<polyline") && html.contains("<circle"));
}

#[test]
fn console_shows_control_characters_and_keeps_its_own_colours() {
    let r = Renderer::new(None).unwrap();
    let results = hostile_results();
    let plain = r.console(&results, false).unwrap();
    assert_common("console", &plain);
    assert!(
        !plain.contains('\r'),
        "a carriage return could overwrite a line"
    );
    assert!(plain.contains("\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}\\u{9b}31m\\u{202e}"));
    assert!(plain.contains("{{ 7*7 }}{% if true %}tpl{% endif %}"));
    assert!(plain.contains("redis://user:***@cache.example:6379"));

    let colored = r.console(&results, true).unwrap();
    assert!(
        colored.contains("\u{1b}[1;31mFAIL\u{1b}[0m"),
        "rigor's colours are kept"
    );
    let mut rest = colored.clone();
    for sgr in [
        "\u{1b}[1;31m",
        "\u{1b}[1;32m",
        "\u{1b}[1;33m",
        "\u{1b}[2m",
        "\u{1b}[0m",
    ] {
        rest = rest.replace(sgr, "");
    }
    assert_common("coloured console, without rigor's colours", &rest);
}

#[test]
fn markdown_shows_html_as_text_and_keeps_tables_whole() {
    let md = rigor_report::ci::markdown(&hostile_results());
    assert_common("markdown", &md);
    // Outside code spans (which show their text as is), no raw HTML.
    let outside: String = md.split('`').step_by(2).collect();
    assert!(!outside.contains('<'), "raw HTML in Markdown:\n{md}");
    assert!(md.contains("&lt;script&gt;"));
    assert!(
        md.contains("redis://user:\\*\\*\\*@cache.example:6379"),
        "{md}"
    );
    // Every table row has exactly its header's columns: no unescaped `|` or
    // newline from user text.
    let mut header = None;
    let mut tables = 0;
    for line in md.lines() {
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let cells = line.replace("\\|", "").matches('|').count() - 1;
        match header {
            None => {
                header = Some(cells);
                tables += 1;
            }
            Some(n) => assert_eq!(cells, n, "{cells} cells, the header has {n}: {line}"),
        }
    }
    assert!(
        tables >= 5,
        "summary, quick metrics, percentiles, grades, regression: {md}"
    );
    // Inside code spans a backtick would end the span.
    for line in md.lines().filter(|l| l.starts_with('|')) {
        assert_eq!(line.matches('`').count() % 2, 0, "{line}");
    }
}

#[test]
fn junit_is_well_formed_with_hostile_text() {
    let xml = rigor_report::ci::junit(&hostile_results());
    assert_common("junit", &xml);
    assert!(!xml.contains("<script") && !xml.contains("<img") && !xml.contains("]]>"));
    assert!(xml.contains("&lt;script&gt;document.title=&apos;pwned&apos;&lt;/script&gt;"));
    assert!(
        xml.contains("&#13;") && xml.contains("&#10;"),
        "line breaks kept as references"
    );
    // Every `&` starts a reference, and no attribute holds a raw quote or `<`.
    for (i, _) in xml.match_indices('&') {
        let rest = &xml[i..];
        let end = rest.find(';').unwrap();
        let name = &rest[1..end];
        assert!(
            ["amp", "lt", "gt", "quot", "apos", "#9", "#10", "#13"].contains(&name),
            "bad reference &{name};"
        );
    }
    for line in xml.lines().skip(1) {
        let tag = line.trim();
        assert!(tag.starts_with('<'), "text outside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
    }
}

#[test]
fn compare_table_is_terminal_safe() {
    let results = hostile_results();
    let table = rigor_report::ci::compare_table(results.regression.as_ref().unwrap());
    assert_common("compare", &table);
    assert!(!table.contains('\r'));
    assert!(table.contains("\\u{1b}[2J"));
}

#[test]
fn built_in_templates_mark_nothing_safe_and_hold_no_script() {
    for (name, text) in rigor_report::DEFAULT_TEMPLATES {
        let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(!squashed.contains("|safe"), "{name} marks a value safe");
        assert!(
            !squashed.contains("autoescapefalse"),
            "{name} turns escaping off"
        );
        assert!(
            !text.to_lowercase().contains("<script"),
            "{name} has a script block: JSON in it would need escaping for `</script>`"
        );
    }
}
