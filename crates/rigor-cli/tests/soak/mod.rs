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

/// Caches that start empty fill while they are soaked: every sample counts
/// their entries, the fits start once they are full (so filling is no
/// leak), and the managed Redis's own memory and RSS are sampled beside.
#[test]
fn caches_filling_in_a_soak_are_told_from_leaks_and_servers_are_sampled() {
    let r = Rigor::new();
    let out = r
        .run(&[
            "run",
            &checked_in("soak-cache-fill.yaml"),
            "--set",
            "workload.soak=8s",
            "--out",
            "out",
            "--color",
            "never",
        ])
        .expect(0);
    let res = results(&r.path("out/results.json"));
    for t in &res.cases[0].targets {
        let soak = t.trials[0].soak.as_ref().expect("soak samples");
        let entries: Vec<u64> = soak.samples.iter().filter_map(|s| s.entries).collect();
        assert_eq!(
            entries.len(),
            soak.samples.len(),
            "{}: entries every sample",
            t.id
        );
        // Empty at first (preload off), 5000 keys at 2000/s: full by ~3s.
        assert!(entries[0] < 2500, "{}: {entries:?}", t.id);
        assert!(*entries.last().unwrap() >= 4900, "{}: {entries:?}", t.id);
        let filled = soak.filled_at.expect("filled during the soak");
        assert!(entries[filled] as f64 >= 0.99 * *entries.iter().max().unwrap() as f64);
        assert!(
            filled > 0 && !soak.still_filling,
            "{}: filled at {filled}",
            t.id
        );
        // The fits start after the fill, not at the first fifth.
        assert_eq!(soak.skipped, filled.max(soak.samples.len().div_ceil(5)));
        assert_ne!(
            growth_verdict(t),
            Verdict::Fail,
            "{}: filling flagged as a leak",
            t.id
        );
    }
    let redis = &res.cases[0].targets[1];
    assert_eq!(redis.id, "redis");
    let soak = redis.trials[0].soak.as_ref().unwrap();
    let heap: Vec<u64> = soak.samples.iter().filter_map(|s| s.server_heap).collect();
    let rss: Vec<u64> = soak.samples.iter().filter_map(|s| s.server_rss).collect();
    assert_eq!(heap.len(), soak.samples.len(), "used_memory every sample");
    assert_eq!(
        rss.len(),
        soak.samples.len(),
        "RSS of the managed server every sample"
    );
    // 5000 entries of 64B and more were added while it filled.
    assert!(heap.last().unwrap() - heap[0] > 5000 * 64, "{heap:?}");
    assert!(rss.iter().all(|&b| b > 1 << 20));
    assert!(soak.server.is_some(), "server.memory.growth fitted");
    assert!(redis.metrics.contains_key("server.memory.growth"));
    // moka has no server.
    let moka = res.cases[0].targets[0].trials[0].soak.as_ref().unwrap();
    assert!(moka.samples.iter().all(|s| s.server_heap.is_none()));
    let html = std::fs::read_to_string(r.path("out/report.html")).unwrap();
    for chart in [
        "Cache entries over the soak",
        "Server memory over the soak",
        "Memory over the soak",
    ] {
        assert!(html.contains(chart), "no chart {chart}");
    }
    assert!(out.stdout.contains("full from sample"), "{}", out.stdout);
}

/// A cache still filling when the soak ends: its growth is not proof of a
/// leak, so a FAIL becomes WARN with the reason.
#[test]
fn a_cache_still_filling_caps_growth_at_warn() {
    let r = Rigor::new();
    let out = r
        .run(&[
            "run",
            &checked_in("soak-cache-fill.yaml"),
            "--set",
            "cache.keys=200000",
            "--set",
            "cache.capacity=400000",
            "--set",
            "workload.soak=3s",
            "--only",
            "moka",
            "--out",
            "out",
            "--color",
            "never",
        ])
        .expect(0);
    let res = results(&r.path("out/results.json"));
    let moka = &res.cases[0].targets[0];
    assert!(moka.trials[0].soak.as_ref().unwrap().still_filling);
    let g = moka
        .grades
        .iter()
        .find(|g| g.metric == "memory.growth")
        .unwrap();
    assert_eq!(g.verdict, Verdict::Warn, "{g:?}");
    assert!(g.reason.as_deref().unwrap_or("").contains("still filling"));
    assert!(
        out.stdout.contains("the cache was still filling"),
        "{}",
        out.stdout
    );
}
