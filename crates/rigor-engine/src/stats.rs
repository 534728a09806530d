//! Latency histograms and their summaries.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

pub use rigor_results::histogram::{decode, encode, median, new_histogram, MAX_NS};

/// The percentiles reported, with their metric names.
pub const PERCENTILES: &[(&str, f64)] = &[
    ("latency.p50", 0.50),
    ("latency.p90", 0.90),
    ("latency.p95", 0.95),
    ("latency.p99", 0.99),
    ("latency.p99.9", 0.999),
];

/// Adds `latency.*` metrics of `h` to `out` (nothing when empty).
pub fn latency_metrics(h: &Histogram<u64>, out: &mut BTreeMap<String, f64>) {
    if h.is_empty() {
        return;
    }
    out.insert("latency.min".into(), h.min() as f64);
    out.insert("latency.mean".into(), h.mean());
    out.insert("latency.stdev".into(), h.stdev());
    for (name, q) in PERCENTILES {
        out.insert((*name).into(), h.value_at_quantile(*q) as f64);
    }
    out.insert("latency.max".into(), h.max() as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentiles agree with a sorted-array reference within the
    /// histogram's 3-significant-digit resolution.
    #[test]
    fn percentiles_match_sorted_reference() {
        let mut h = new_histogram();
        let mut values = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            // xorshift; a heavy-tailed mix of 100ns..10ms.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 100 + (x % 1000) * (1 + (x >> 40) % 10_000);
            values.push(v);
            h.record(v).unwrap();
        }
        values.sort_unstable();
        let mut m = BTreeMap::new();
        latency_metrics(&h, &mut m);
        for (name, q) in PERCENTILES {
            let rank = ((q * values.len() as f64).ceil() as usize).max(1) - 1;
            let truth = values[rank] as f64;
            let got = m[*name];
            assert!(
                (got - truth).abs() / truth <= 0.001,
                "{name}: histogram {got} vs sorted {truth}"
            );
        }
        assert_eq!(m["latency.min"], values[0] as f64);
        let max = *values.last().unwrap() as f64;
        assert!((m["latency.max"] - max).abs() / max <= 0.001);
        let mean = values.iter().sum::<u64>() as f64 / values.len() as f64;
        assert!((m["latency.mean"] - mean).abs() / mean <= 0.001);
    }

    #[test]
    fn encode_round_trips_exactly() {
        let mut h = new_histogram();
        for v in [1u64, 10, 100, 1000, 123_456, 10_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
