//! The results model lives in `rigor-results` (reports read it without the
//! engine); this module re-exports it for the engine's own paths, and holds
//! hand-made trials for the engine's unit tests.

pub use rigor_results::*;

/// Hand-made trials for the engine's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::collections::BTreeMap;

    /// A finished trial of `operations` successes and `errors` failures
    /// with the given per-trial metrics and latencies (ns), none interrupted.
    pub fn trial(
        n: u32,
        operations: u64,
        errors: u64,
        metrics: &[(&str, f64)],
        latencies: &[u64],
    ) -> TrialResult {
        let histogram = if latencies.is_empty() {
            String::new()
        } else {
            let mut h = crate::stats::new_histogram();
            for l in latencies {
                h.record(*l).unwrap();
            }
            crate::stats::encode(&h)
        };
        TrialResult {
            trial: n,
            position: 0,
            batch: 1,
            kind_histograms: BTreeMap::new(),
            kind_counts: BTreeMap::new(),
            cache_before: None,
            cache_after: None,
            operations,
            errors,
            events: BTreeMap::new(),
            error_messages: Vec::new(),
            error_kinds: BTreeMap::new(),
            elapsed_ns: 1_000_000_000,
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            histogram,
            samples: BTreeMap::new(),
            interrupted: false,
            service_histogram: None,
            dropped: 0,
            generator_bound: false,
            soak: None,
            windows: None,
            wall: None,
            notes: Vec::new(),
        }
    }

    /// Trials whose only metric `metric` takes each of `values`.
    pub fn trials_of(metric: &str, values: &[f64]) -> Vec<TrialResult> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| trial(i as u32, 20_000, 0, &[(metric, *v)], &[]))
            .collect()
    }
}
