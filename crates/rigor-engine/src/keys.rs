//! Seeded key and input choice: uniform, zipfian, hotspot and sequential
//! distributions, drawn into precomputed streams before timing.
//!
//! - The generator is SplitMix64, written here rather than taken from a
//!   crate so that a seed means the same keys in every rigor version.
//! - Zipfian uses rejection-inversion sampling (Hörmann and Derflinger,
//!   1996; the method of Apache Commons RNG and rand_distr): exact for any
//!   exponent s > 0, O(1) memory, no table over the keyspace. Rank 1 is the
//!   most popular; key index = rank - 1 (unscrambled: a cache does not care
//!   where its hot keys sit, and a reader can see them at the low indices).
//! - Hotspot follows YCSB: `hot_ops` of the operations pick uniformly among
//!   the first `hot_keys` of the keyspace, the rest uniformly among the others.
//! - Streams are drawn outside timing and then read one entry per
//!   operation, so the generator's cost is never inside a measured operation.

use rigor_scenario::model::Distribution;
use rigor_scenario::plan::{CachePlan, DistributionPlan};

/// Bit set in a cache-operation stream entry for a write.
pub const WRITE_BIT: u32 = 1 << 31;

/// The engine's random draws: rigor's one SplitMix64.
pub use rigor_scenario::rng::SplitMix64 as Rng;

/// A seed derived from a base seed and a path of numbers (trial, worker, ...).
pub fn derive(seed: u64, parts: &[u64]) -> u64 {
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_2160_2026);
    let mut out = rng.next_u64();
    for p in parts {
        let mut r = Rng::new(out ^ p.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        out = r.next_u64();
    }
    out
}

/// Draws indices in `0..n` from a distribution.
#[derive(Debug, Clone)]
pub enum Chooser {
    /// Every index alike.
    Uniform {
        /// Keyspace size.
        n: u64,
    },
    /// P(index i) ~ 1 / (i + 1)^s.
    Zipfian(Zipf),
    /// `hot_ops` of draws among the first `hot` indices.
    Hotspot {
        /// Keyspace size.
        n: u64,
        /// Hot indices `0..hot`.
        hot: u64,
        /// Probability of a hot draw.
        hot_ops: f64,
    },
    /// `start, start + 1, ...` wrapping at `n`.
    Sequential {
        /// Keyspace size.
        n: u64,
        /// Next index.
        next: u64,
    },
}

impl Chooser {
    /// A chooser over `0..n` (n > 0); `start` places a sequential walk.
    pub fn new(plan: &DistributionPlan, n: u64, start: u64) -> Self {
        let n = n.max(1);
        match plan.shape {
            Distribution::Uniform => Chooser::Uniform { n },
            Distribution::Zipfian => Chooser::Zipfian(Zipf::new(n, plan.zipf_exponent)),
            Distribution::Hotspot => Chooser::Hotspot {
                n,
                hot: ((n as f64 * plan.hotspot_keys).round() as u64).clamp(1, n),
                hot_ops: plan.hotspot_ops,
            },
            Distribution::Sequential => Chooser::Sequential { n, next: start % n },
        }
    }

    /// The next index.
    pub fn sample(&mut self, rng: &mut Rng) -> u64 {
        match self {
            Chooser::Uniform { n } => rng.below(*n),
            Chooser::Zipfian(z) => z.sample(rng) - 1,
            Chooser::Hotspot { n, hot, hot_ops } => {
                let cold = *n - *hot;
                if cold == 0 || rng.next_f64() < *hot_ops {
                    rng.below(*hot)
                } else {
                    *hot + rng.below(cold)
                }
            }
            Chooser::Sequential { n, next } => {
                let i = *next;
                *next = (*next + 1) % *n;
                i
            }
        }
    }
}

/// Zipf over ranks `1..=n` by rejection-inversion.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    /// Ranks `1..=n` with exponent `s > 0`.
    pub fn new(n: u64, s: f64) -> Self {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// The exact probability of rank `k` (for tests and reports).
    pub fn probability(&self, k: u64) -> f64 {
        let norm: f64 = (1..=self.n as u64).map(|i| (i as f64).powf(-self.s)).sum();
        (k as f64).powf(-self.s) / norm
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

/// How long a precomputed stream is for a keyspace of `n`: long enough that
/// most of the keyspace's probability mass appears, short enough to stay a
/// few MiB per worker. Streams wrap around when a trial outruns them.
pub fn stream_len(n: u64) -> usize {
    (n.saturating_mul(8)).clamp(1 << 16, 1 << 22) as usize
}

/// A worker's stream of indices into `0..n` (inputs of a policy target).
pub fn index_stream(plan: &DistributionPlan, n: u64, seed: u64, worker: usize) -> Vec<u32> {
    let mut rng = Rng::new(derive(seed, &[worker as u64, 1]));
    let mut chooser = Chooser::new(plan, n, rng.below(n.max(1)));
    (0..stream_len(n))
        .map(|_| chooser.sample(&mut rng) as u32)
        .collect()
}

/// A worker's stream of cache operations: key index, with [`WRITE_BIT`] set for a write.
pub fn cache_stream(plan: &CachePlan, seed: u64, worker: usize) -> Vec<u32> {
    let mut rng = Rng::new(derive(seed, &[worker as u64, 2]));
    let mut chooser = Chooser::new(&plan.distribution, plan.keys, rng.below(plan.keys));
    (0..stream_len(plan.keys))
        .map(|_| {
            let key = chooser.sample(&mut rng) as u32;
            if plan.read_ratio < 1.0 && rng.next_f64() >= plan.read_ratio {
                key | WRITE_BIT
            } else {
                key
            }
        })
        .collect()
}

/// The value size of key `key`: fixed per key, uniform in `min..=max`.
pub fn value_size(plan: &CachePlan, key: u64) -> usize {
    if plan.value_min == plan.value_max {
        return plan.value_min as usize;
    }
    let mut rng = Rng::new(derive(key, &[0x7A1E]));
    (plan.value_min + rng.below(plan.value_max - plan.value_min + 1)) as usize
}

/// The targets' order in a trial: randomised ABBA blocks. Trials 2k and
/// 2k+1 run one seeded random order and then its reverse, so a drift
/// within a block hits every target alike and no target always goes first.
pub fn trial_order(n: usize, trial: u32, seed: u64) -> Vec<usize> {
    let block = u64::from(trial / 2);
    let mut rng = Rng::new(derive(seed, &[0xABBA, block]));
    let mut order: Vec<usize> = (0..n).collect();
    // Fisher-Yates.
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    if trial % 2 == 1 {
        order.reverse();
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(shape: Distribution, s: f64) -> DistributionPlan {
        DistributionPlan {
            shape,
            zipf_exponent: s,
            hotspot_keys: 0.2,
            hotspot_ops: 0.8,
        }
    }

    fn counts(plan: &DistributionPlan, n: u64, draws: usize, seed: u64) -> Vec<u64> {
        let mut rng = Rng::new(seed);
        let mut c = Chooser::new(plan, n, 0);
        let mut out = vec![0u64; n as usize];
        for _ in 0..draws {
            out[c.sample(&mut rng) as usize] += 1;
        }
        out
    }

    /// |observed - expected| in binomial standard deviations.
    fn z(observed: u64, p: f64, draws: usize) -> f64 {
        let n = draws as f64;
        (observed as f64 - n * p).abs() / (n * p * (1.0 - p)).sqrt()
    }

    /// The top-ranked keys' frequencies match 1/k^s / H(n, s): each of the
    /// 20 most popular ranks within 5 standard deviations of its binomial
    /// expectation over 2M draws (a wrong normalisation or an off-by-one
    /// rank moves rank 1 by hundreds of deviations), for exponents on both
    /// sides of 1 and at exactly 1.
    #[test]
    fn zipfian_matches_theory() {
        let draws = 2_000_000;
        for s in [0.5, 0.99, 1.0, 1.2, 2.0] {
            let n = 1000;
            let zipf = Zipf::new(n, s);
            let c = counts(&plan(Distribution::Zipfian, s), n, draws, 42);
            for k in 1..=20u64 {
                let p = zipf.probability(k);
                let dev = z(c[(k - 1) as usize], p, draws);
                assert!(
                    dev < 5.0,
                    "s={s} rank {k}: {} draws vs {:.0} expected ({dev:.1} sd)",
                    c[(k - 1) as usize],
                    p * draws as f64
                );
            }
            // The tail too: the bottom half's total mass.
            let tail: u64 = c[500..].iter().sum();
            let p_tail: f64 = (501..=n).map(|k| zipf.probability(k)).sum();
            assert!(z(tail, p_tail, draws) < 5.0, "s={s} tail");
        }
    }

    #[test]
    fn zipfian_edge_sizes() {
        let mut rng = Rng::new(1);
        let one = Zipf::new(1, 0.99);
        assert!((0..1000).all(|_| one.sample(&mut rng) == 1));
        let two = Zipf::new(2, 1.0);
        let ones = (0..100_000).filter(|_| two.sample(&mut rng) == 1).count();
        // P(1) = 1 / (1 + 1/2) = 2/3.
        assert!(z(ones as u64, 2.0 / 3.0, 100_000) < 5.0);
    }

    /// Hotspot: 80% of draws land in the first 20% of keys, uniformly there.
    #[test]
    fn hotspot_matches_definition() {
        let draws = 1_000_000;
        let n = 1000;
        let c = counts(&plan(Distribution::Hotspot, 0.0), n, draws, 7);
        let hot: u64 = c[..200].iter().sum();
        assert!(z(hot, 0.8, draws) < 5.0, "hot share {hot}");
        // Uniform within the hot set: chi-square with 199 degrees of freedom
        // stays below df + 5 sd (sd = sqrt(2 df)).
        let expected = hot as f64 / 200.0;
        let chi2: f64 = c[..200]
            .iter()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 199.0 + 5.0 * (2.0f64 * 199.0).sqrt(), "chi2 {chi2}");
    }

    #[test]
    fn uniform_and_sequential() {
        let c = counts(&plan(Distribution::Uniform, 0.0), 100, 1_000_000, 3);
        assert!(c.iter().all(|&o| z(o, 0.01, 1_000_000) < 5.0));
        let mut rng = Rng::new(0);
        let mut seq = Chooser::new(&plan(Distribution::Sequential, 0.0), 5, 3);
        let got: Vec<u64> = (0..7).map(|_| seq.sample(&mut rng)).collect();
        assert_eq!(got, vec![3, 4, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn streams_are_seeded() {
        let cache = CachePlan {
            keys: 10_000,
            distribution: plan(Distribution::Zipfian, 0.99),
            value_min: 64,
            value_max: 4096,
            read_ratio: 0.9,
            miss: Default::default(),
            ttl: None,
            preload: true,
        };
        let a = cache_stream(&cache, 7, 0);
        assert_eq!(a, cache_stream(&cache, 7, 0));
        assert_ne!(a, cache_stream(&cache, 8, 0));
        assert_ne!(a, cache_stream(&cache, 7, 1));
        let writes = a.iter().filter(|e| *e & WRITE_BIT != 0).count();
        assert!(z(writes as u64, 0.1, a.len()) < 5.0);
        assert!(a.iter().all(|e| (e & !WRITE_BIT) < 10_000));
        let sizes: Vec<usize> = (0..1000).map(|k| value_size(&cache, k)).collect();
        assert!(sizes.iter().all(|s| (64..=4096).contains(s)));
        assert_eq!(value_size(&cache, 5), value_size(&cache, 5));
        assert!(sizes.iter().any(|&s| s < 1000) && sizes.iter().any(|&s| s > 3000));
    }
}
