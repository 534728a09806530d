//! Soaks against known truths: the `leak` target keeps a known number of
//! bytes per operation, so its growth must be found and estimated; targets
//! that keep nothing must not be flagged.

use super::*;

/// The checked-in scenario, run as users run it.
fn checked_in(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
        .display()
        .to_string()
}

fn growth_verdict(t: &TargetResult) -> Verdict {
    t.grades
        .iter()
        .find(|g| g.metric == "memory.growth")
        .unwrap_or_else(|| panic!("{}: memory.growth is not graded", t.id))
        .verdict
}

#[test]
fn a_64_byte_leak_is_found_in_a_10s_soak_and_steady_targets_are_not() {
    let r = Rigor::new();
    let out = r
        .run(&[
            "run",
            &checked_in("soak-leak-check.yaml"),
            "--out",
            "out",
            "--color",
            "never",
        ])
        // The leak FAILs memory.growth: that is the finding.
        .expect(1);
    let res = results(&r.path("out/results.json"));
    let target = |id: &str| {
        res.cases[0]
            .targets
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no target {id}"))
    };
    let leak = target("leak-64B");
    let soak = leak.trials[0]
        .soak
        .as_ref()
        .expect("a soak records samples");
    // 10s sampled every 250ms.
    assert!(
        (36..=44).contains(&soak.samples.len()),
        "{}",
        soak.samples.len()
    );
    assert!(soak
        .samples
        .windows(2)
        .all(|w| w[0].t_ns < w[1].t_ns && w[0].operations <= w[1].operations));
    let last = soak.samples.last().unwrap();
    // 10000/s for 10s: the published count is within the sampling's reach.
    assert!(
        (90_000..=101_000).contains(&last.operations),
        "operations at the last sample: {}",
        last.operations
    );
    let truth = 64.0 * 1e6;
    let growth = leak.metrics["memory.growth"];
    assert!(
        (growth - truth).abs() / truth < 0.10,
        "leak estimate {growth} B per 1M operations against the truth {truth}"
    );
    let interval = soak.heap.unwrap().interval.expect("an interval");
    assert!(interval.low > 0.0 && interval.low <= growth && growth <= interval.high);
    assert_eq!(growth_verdict(leak), Verdict::Fail);
    for id in ["vm", "vm-moka", "noop"] {
        let t = target(id);
        assert!(
            t.metrics["memory.growth"].abs() < 1024.0 * 1024.0,
            "{id}: growth {} B per 1M operations",
            t.metrics["memory.growth"]
        );
        assert_ne!(growth_verdict(t), Verdict::Fail, "{id} flagged as a leak");
    }
    // The HTML draws every soaked target's heap over time.
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    let chart = &html[html.find("Memory over the soak").expect("a memory chart")..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches("<polyline").count(), 4, "{chart}");
    assert!(
        out.stdout.contains("leak-64B: soak of"),
        "console line for the soak: {}",
        out.stdout
    );
}
