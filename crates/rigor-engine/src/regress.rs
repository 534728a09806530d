//! Regression verdicts: a run against a saved baseline (or any two results
//! files), trial by trial.
//!
//! For each case, target and gated metric, with threshold T on the change
//! new/base - 1 signed so that positive is worse:
//! - the change is the Hodges-Lehmann shift of the per-trial log values
//!   (a ratio), with its Moses interval;
//! - FAIL when the one-sided Mann-Whitney test of "worse by more than T"
//!   rejects after Holm's correction over every gated metric of the run (at
//!   5%), and the estimate is above T; PASS when the whole interval is below
//!   T; WARN otherwise, saying why;
//! - allocations and bytes per operation are exact counts: any increase is
//!   WARN, beyond T is FAIL;
//! - the minimum detectable effect for the trials and noise at hand is
//!   reported, with the trials needed when it exceeds T;
//! - a baseline from another environment is still compared, but its
//!   verdicts are capped at WARN, naming what differs.

use std::collections::BTreeMap;

use rigor_scenario::metrics::{self, Direction, Gate};

use crate::inference::{self, Interval};
use crate::results::{
    RegressionCheck, RegressionConfig, RegressionReport, Results, TrialResult, Verdict,
};

/// Trials need this many operations for their p99.9 to count.
pub const P999_MIN_OPS: u64 = 10_000;

/// Significance level of a FAIL (after Holm).
pub const ALPHA: f64 = 0.05;

/// Before measuring: when `tests` one-sided rank tests with `base` and
/// `new` trials a side cannot reach [`ALPHA`] after Holm, a note saying that
/// Welch's t decides and how many trials per side the rank test needs.
pub fn rank_test_note(base: usize, new: usize, tests: usize) -> Option<String> {
    let reachable = |m: usize, n: usize| inference::rank_test_floor(m, n) * (tests as f64) < ALPHA;
    if base < 2 || new < 2 || tests == 0 || reachable(base, new) {
        return None;
    }
    let needed = (2..500).find(|n| reachable(*n, *n))?;
    Some(format!(
        "{new} trial(s) against the baseline's {base}: the rank test cannot reach 5% after Holm over {tests} timing checks, so Welch's t on log trial values decides timing regressions (it assumes roughly log-normal trial values); {needed} trials per side let the rank test decide"
    ))
}

/// Timing checks a comparison of these results with a run of `new_cases`
/// and `new_targets` makes (every shared case and target, each gated timing metric).
pub fn timing_tests(base: &Results, new_cases: &[String], new_targets: &[String]) -> usize {
    let per_pair = metrics::gated().filter(|m| m.gate == Gate::Shift).count();
    base.cases
        .iter()
        .filter(|c| new_cases.contains(&c.name))
        .map(|c| {
            c.targets
                .iter()
                .filter(|t| new_targets.contains(&t.id))
                .count()
                * per_pair
        })
        .sum()
}

/// Per-trial values of a metric (p99.9 only from trials large enough).
pub fn trial_values(trials: &[TrialResult], metric: &str) -> Vec<f64> {
    trials
        .iter()
        .filter(|t| !t.interrupted)
        .filter(|t| metric != "latency.p99.9" || t.operations >= P999_MIN_OPS)
        .filter_map(|t| t.metrics.get(metric).copied())
        .filter(|v| v.is_finite())
        .collect()
}

fn worse_sign(metric: &str) -> f64 {
    match metrics::metric(metric).map(|m| m.direction) {
        Some(Direction::HigherIsBetter) => -1.0,
        _ => 1.0,
    }
}

fn sig(p: f64) -> String {
    format_p(p)
}

/// A threshold as a plain percentage (`10%`).
fn level(v: f64) -> String {
    format!("{}%", rigor_scenario::units::significant(v * 100.0))
}

fn pct(v: f64) -> String {
    format!("{:+.1}%", v * 100.0)
}

/// How the metric's own value moves for a "badness" change (positive is
/// worse): the same for lower-is-better metrics; for throughput, 10% worse
/// is a drop of 9.1% (`-9.1%`).
pub fn moved(metric: &str, badness: f64) -> String {
    if worse_sign(metric) < 0.0 {
        pct(1.0 / (1.0 + badness) - 1.0)
    } else {
        pct(badness)
    }
}

/// One timing metric: Hodges-Lehmann on "badness" (log value, negated for
/// higher-is-better metrics), so a positive shift is always worse.
fn timing_check(
    base: &[f64],
    new: &[f64],
    metric: &str,
    t: f64,
) -> (f64, Option<Interval>, (f64, Option<f64>), f64) {
    let sign = worse_sign(metric);
    let bad = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| sign * x.max(1e-300).ln()).collect() };
    let (b, n) = (bad(base), bad(new));
    let (shift, interval) = inference::hodges_lehmann(&n, &b, 0.95)
        .map(|(s, i)| (s, Some(i)))
        .unwrap_or((0.0, None));
    let to_change = |d: f64| d.exp() - 1.0;
    let interval = interval.map(|i| Interval {
        low: to_change(i.low),
        high: to_change(i.high),
        confidence: i.confidence,
    });
    let shifted: Vec<f64> = n.iter().map(|x| x - (1.0 + t).ln()).collect();
    let p_rank = inference::mann_whitney_greater(&shifted, &b);
    let p_welch = inference::welch_greater(&n, &b, (1.0 + t).ln());
    let p_two = inference::mann_whitney(new, base);
    (to_change(shift), interval, (p_rank, p_welch), p_two)
}

/// One pairing to compare: case name, target id, baseline trials, new trials.
pub type Pairing<'a> = (String, String, &'a [TrialResult], &'a [TrialResult]);

/// Compares `new` against `base`: every case and target they share.
pub fn compare(
    base: &Results,
    new: &Results,
    name: &str,
    config: &RegressionConfig,
) -> RegressionReport {
    let mut pairs: Vec<Pairing> = Vec::new();
    for case in &new.cases {
        let Some(base_case) = base.cases.iter().find(|c| c.name == case.name) else {
            continue;
        };
        for target in &case.targets {
            if let Some(b) = base_case.targets.iter().find(|t| t.id == target.id) {
                pairs.push((
                    case.name.clone(),
                    target.id.clone(),
                    &b.trials,
                    &target.trials,
                ));
            }
        }
    }
    let mut report = compare_trials(&pairs, name, config);
    report.baseline_started_at = base.started_at.clone();
    report.environment_differs = environment_differences(base, new);
    if !report.environment_differs.is_empty() {
        let why = format!(
            "the baseline ran in another environment ({}): verdicts are capped at WARN",
            report.environment_differs.join("; ")
        );
        downgrade(&mut report, why);
    }
    report
}

/// Compares pairs of trial lists with the verdict rule, Holm over all of them.
pub fn compare_trials(
    pairs: &[Pairing],
    name: &str,
    config: &RegressionConfig,
) -> RegressionReport {
    let mut checks = Vec::new();
    let mut one_sided = Vec::new();
    let mut ratios: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (case_name, target_id, base_trials, new_trials) in pairs {
        {
            for def in metrics::gated() {
                let (metric, exact) = (def.name, def.gate == Gate::Exact);
                let (b, n) = (
                    trial_values(base_trials, metric),
                    trial_values(new_trials, metric),
                );
                if b.is_empty() || n.is_empty() {
                    continue;
                }
                let t = config.threshold(metric);
                let (bm, nm) = (inference::median(&b), inference::median(&n));
                if bm > 0.0 && nm > 0.0 {
                    ratios.entry(metric.to_string()).or_default().push(nm / bm);
                }
                let noise = inference::cv(&n)
                    .into_iter()
                    .chain(inference::cv(&b))
                    .fold(0.0f64, f64::max);
                let trials = b.len().min(n.len());
                let detectable =
                    (trials > 1).then(|| inference::minimum_detectable_effect(noise, trials));
                let trials_needed = detectable
                    .filter(|d| *d > t)
                    .map(|_| inference::trials_needed(noise, t));
                let mut check = RegressionCheck {
                    case: case_name.clone(),
                    target: target_id.clone(),
                    metric: metric.to_string(),
                    base: bm,
                    new: nm,
                    trials: (b.len(), n.len()),
                    change: 0.0,
                    interval: None,
                    p_value: None,
                    p_regression: None,
                    test: String::new(),
                    threshold: t,
                    detectable,
                    trials_needed,
                    verdict: Verdict::Pass,
                    reason: String::new(),
                };
                if exact {
                    // Counts: the medians decide; float noise below 0.1% is no change.
                    let change = if bm > 0.0 {
                        worse_sign(metric) * (nm / bm - 1.0)
                    } else if nm > 0.0 {
                        f64::INFINITY
                    } else {
                        0.0
                    };
                    check.change = change;
                    (check.verdict, check.reason) = if change > t {
                        (
                            Verdict::Fail,
                            format!("exact count up {} (over {})", pct(change), pct(t)),
                        )
                    } else if change > 0.001 {
                        (
                            Verdict::Warn,
                            format!("exact count up {}: any increase is reported", pct(change)),
                        )
                    } else {
                        (Verdict::Pass, "no increase".into())
                    };
                    one_sided.push(None);
                } else {
                    let (change, interval, p_one, p_two) = timing_check(&b, &n, metric, t);
                    check.change = change;
                    check.interval = interval;
                    check.p_value = Some(p_two);
                    one_sided.push(Some((p_one, b.len(), n.len())));
                }
                checks.push(check);
            }
        }
    }
    // Holm over the timing metrics' one-sided p-values. The exact rank test
    // cannot go below 1/C(m+n, m) (1/20 at 3 vs 3 trials): when that floor
    // times the number of tests is not under ALPHA, it could never FAIL
    // anything, however large the change; Welch's t on the log values
    // (assuming roughly log-normal trial values) decides instead.
    let tests = one_sided.iter().flatten().count();
    let chosen: Vec<Option<(f64, &'static str)>> = one_sided
        .iter()
        .map(|p| {
            p.map(|((p_rank, p_welch), m, n)| {
                match p_welch.filter(|_| inference::rank_test_floor(m, n) * tests as f64 >= ALPHA) {
                    Some(p) => (p, "welch-t"),
                    None => (p_rank, "rank"),
                }
            })
        })
        .collect();
    let raw: Vec<f64> = chosen.iter().flatten().map(|(p, _)| *p).collect();
    let adjusted = inference::holm(&raw);
    let mut adjusted = adjusted.into_iter();
    for (check, p) in checks.iter_mut().zip(&chosen) {
        let Some((_, test)) = p else {
            continue;
        };
        check.test = test.to_string();
        let by = if *test == "welch-t" {
            ", Welch's t on log trial values: too few trials for the rank test"
        } else {
            ""
        };
        let p_adj = adjusted.next().unwrap_or(1.0);
        check.p_regression = Some(p_adj);
        let t = check.threshold;
        let high = check.interval.map(|i| i.high);
        (check.verdict, check.reason) = if p_adj < ALPHA && check.change > t {
            (
                Verdict::Fail,
                format!(
                    "worse: {} (the threshold allows {}; p = {} after Holm{by})",
                    moved(&check.metric, check.change),
                    moved(&check.metric, t),
                    sig(p_adj)
                ),
            )
        } else if high.is_some_and(|h| h < t) && check.trials.0.min(check.trials.1) > 1 {
            (
                Verdict::Pass,
                format!("shown not to be worse by {} or more", level(t)),
            )
        } else if check.trials.0.min(check.trials.1) <= 1 {
            if check.change > t {
                (
                    Verdict::Warn,
                    format!(
                        "point estimate {} beyond the threshold's {} (one trial: no interval)",
                        moved(&check.metric, check.change),
                        moved(&check.metric, t)
                    ),
                )
            } else {
                (Verdict::Pass, "one trial: point estimate only".into())
            }
        } else if check.change > t {
            (
                Verdict::Warn,
                format!(
                    "point estimate {} beyond the threshold's {}, not significant after Holm (p = {}{by})",
                    moved(&check.metric, check.change),
                    moved(&check.metric, t),
                    sig(p_adj)
                ),
            )
        } else {
            (
                Verdict::Warn,
                format!(
                    "inconclusive: interval reaches {} (threshold {}, {} worse)",
                    moved(&check.metric, high.unwrap_or(f64::NAN)),
                    moved(&check.metric, t),
                    level(t)
                ),
            )
        };
        if check.verdict != Verdict::Pass {
            if let Some(n) = check.trials_needed {
                check.reason.push_str(&format!(
                    "; these trials resolve only {} (need about {n} per side for {})",
                    level(check.detectable.unwrap_or(f64::NAN)),
                    level(t)
                ));
            }
        }
    }
    let mut report = RegressionReport {
        baseline: name.to_string(),
        baseline_started_at: String::new(),
        environment_differs: Vec::new(),
        downgraded: None,
        config: config.clone(),
        geomean: ratios
            .into_iter()
            .map(|(k, v)| {
                let g = (v.iter().map(|r| r.ln()).sum::<f64>() / v.len() as f64).exp();
                (k, g)
            })
            .collect(),
        checks,
        verdict: Verdict::Pass,
    };
    report.verdict = worst(&report.checks);
    report
}

/// The worst verdict of the checks (PASS when there are none).
fn worst(checks: &[RegressionCheck]) -> Verdict {
    checks
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Pass)
}

/// Caps every FAIL at WARN, giving `why`.
pub fn downgrade(report: &mut RegressionReport, why: String) {
    for c in &mut report.checks {
        if c.verdict == Verdict::Fail {
            c.verdict = Verdict::Warn;
            c.reason = format!("{} [capped: {why}]", c.reason);
        }
    }
    report.downgraded = Some(match report.downgraded.take() {
        Some(before) => format!("{before}; {why}"),
        None => why,
    });
    report.verdict = worst(&report.checks);
}

/// Peer programs (`opa`) whose version changed, appeared or went away
/// between two runs: a baseline of another OPA is another environment.
pub fn peer_differences(
    base: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = base.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (x, y) = (base.get(name), new.get(name));
            (x != y).then(|| {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
                format!("{name}: {} -> {}", show(x), show(y))
            })
        })
        .collect()
}

/// What differs between the environments of two runs.
pub fn environment_differences(base: &Results, new: &Results) -> Vec<String> {
    let (a, b) = (&base.environment, &new.environment);
    let mut out = Vec::new();
    let mut diff = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} -> {y}"));
        }
    };
    diff("CPU", a.cpu_model.clone(), b.cpu_model.clone());
    diff("cores", a.cores.to_string(), b.cores.to_string());
    diff(
        "clock source",
        a.clock_source.clone().unwrap_or_default(),
        b.clock_source.clone().unwrap_or_default(),
    );
    diff("kernel", a.os.clone(), b.os.clone());
    diff("rustc", a.rustc.clone(), b.rustc.clone());
    diff("rigor", a.rigor_version.clone(), b.rigor_version.clone());
    diff(
        "Cargo.lock",
        a.cargo_lock.clone().unwrap_or_default(),
        b.cargo_lock.clone().unwrap_or_default(),
    );
    // What was measured, when both runs say (descriptions, thresholds and
    // durations aside); older results only have the file's text.
    match (&base.scenario.fingerprint, &new.scenario.fingerprint) {
        (Some(a), Some(b)) => diff("scenario (what is measured)", a.clone(), b.clone()),
        _ => diff(
            "scenario",
            content_hash(&base.scenario.source),
            content_hash(&new.scenario.source),
        ),
    }
    diff(
        "mode",
        format!("{:?}", base.scenario.mode).to_lowercase(),
        format!("{:?}", new.scenario.mode).to_lowercase(),
    );
    out.extend(peer_differences(&a.peers, &b.peers));
    out
}

pub use rigor_results::format_p;

pub use rigor_scenario::content_hash;

#[cfg(test)]
mod tests {
    use super::*;

    use crate::results::testing::trials_of;

    /// Eight trials of `metric` around `centre`, with +-1% spread.
    fn around(metric: &str, centre: f64) -> Vec<TrialResult> {
        let spread = [1.0, 0.99, 1.01, 0.995, 1.005, 0.998, 1.002, 1.0];
        trials_of(metric, &spread.map(|f| f * centre))
    }

    fn verdict_of(metric: &str, base: &[TrialResult], new: &[TrialResult]) -> RegressionCheck {
        let pairs = [("c".to_string(), "t".to_string(), base, new)];
        let report = compare_trials(&pairs, "base", &RegressionConfig::default());
        report
            .checks
            .into_iter()
            .find(|c| c.metric == metric)
            .expect("the metric is checked")
    }

    #[test]
    fn a_clear_slowdown_fails_and_no_change_passes() {
        let base = around("latency.p50", 1000.0);
        let slow = verdict_of("latency.p50", &base, &around("latency.p50", 1300.0));
        assert_eq!(slow.verdict, Verdict::Fail, "{}", slow.reason);
        assert!((slow.change - 0.3).abs() < 0.02, "{}", slow.change);
        let same = verdict_of("latency.p50", &base, &around("latency.p50", 1000.0));
        assert_eq!(same.verdict, Verdict::Pass, "{}", same.reason);
        assert!(same.interval.unwrap().high < 0.10);
    }

    #[test]
    fn throughput_is_worse_when_it_drops() {
        let base = around("throughput", 1000.0);
        let drop = verdict_of("throughput", &base, &around("throughput", 700.0));
        assert_eq!(drop.verdict, Verdict::Fail, "{}", drop.reason);
        assert!(
            drop.change > 0.0,
            "badness is positive for a drop: {}",
            drop.change
        );
        let rise = verdict_of("throughput", &base, &around("throughput", 1300.0));
        assert_eq!(rise.verdict, Verdict::Pass, "{}", rise.reason);
        assert!(rise.change < 0.0);
    }

    #[test]
    fn a_change_within_the_noise_is_inconclusive_not_a_verdict() {
        // 8% worse with trials spread over +-15%: neither proven worse than
        // 10% nor proven better than it.
        let wide = |c: f64| {
            let spread = [1.0, 0.85, 1.15, 0.9, 1.1, 0.95, 1.05, 1.0];
            trials_of("latency.p50", &spread.map(|f| f * c))
        };
        let c = verdict_of("latency.p50", &wide(1000.0), &wide(1080.0));
        assert_eq!(c.verdict, Verdict::Warn, "{}", c.reason);
    }

    #[test]
    fn exact_counts_warn_on_any_increase_and_fail_beyond_the_threshold() {
        let base = trials_of("memory.allocs_per_op", &[10.0; 3]);
        let small = verdict_of(
            "memory.allocs_per_op",
            &base,
            &trials_of("memory.allocs_per_op", &[10.5; 3]),
        );
        assert_eq!(small.verdict, Verdict::Warn, "{}", small.reason);
        let big = verdict_of(
            "memory.allocs_per_op",
            &base,
            &trials_of("memory.allocs_per_op", &[12.0; 3]),
        );
        assert_eq!(big.verdict, Verdict::Fail, "{}", big.reason);
        let same = verdict_of(
            "memory.allocs_per_op",
            &base,
            &trials_of("memory.allocs_per_op", &[10.0; 3]),
        );
        assert_eq!(same.verdict, Verdict::Pass, "{}", same.reason);
    }

    #[test]
    fn a_downgrade_caps_fails_at_warn_and_says_why() {
        let base = around("latency.p50", 1000.0);
        let slow = around("latency.p50", 1300.0);
        let pairs = [("c".to_string(), "t".to_string(), &base[..], &slow[..])];
        let mut report = compare_trials(&pairs, "base", &RegressionConfig::default());
        assert_eq!(report.verdict, Verdict::Fail);
        downgrade(&mut report, "cores: 2 -> 4".into());
        assert_eq!(report.verdict, Verdict::Warn);
        assert!(report.checks.iter().all(|c| c.verdict != Verdict::Fail));
        assert!(report.downgraded.as_deref() == Some("cores: 2 -> 4"));
    }

    #[test]
    fn interrupted_trials_are_not_compared() {
        let base = around("latency.p50", 1000.0);
        let mut new = around("latency.p50", 1000.0);
        for t in &mut new {
            t.interrupted = true;
        }
        let pairs = [("c".to_string(), "t".to_string(), &base[..], &new[..])];
        let report = compare_trials(&pairs, "base", &RegressionConfig::default());
        assert!(report.checks.iter().all(|c| c.metric != "latency.p50"));
    }

    #[test]
    fn a_peer_of_another_version_is_another_environment() {
        let opa = |v: &str| std::collections::BTreeMap::from([("opa".to_string(), v.to_string())]);
        assert!(peer_differences(&opa("1.22.3 (go1.26.8)"), &opa("1.22.3 (go1.26.8)")).is_empty());
        assert_eq!(
            peer_differences(&opa("1.22.3 (go1.26.8)"), &opa("1.23.0 (go1.26.8)")),
            vec!["opa: 1.22.3 (go1.26.8) -> 1.23.0 (go1.26.8)".to_string()]
        );
        assert_eq!(
            peer_differences(&Default::default(), &opa("1.22.3")),
            vec!["opa: (none) -> 1.22.3".to_string()]
        );
    }
}
