//! Statistics across trials: the trial is the unit of analysis.
//!
//! Operations within a trial are autocorrelated (caches warm, the machine
//! drifts), so treating them as independent samples manufactures
//! significance. Each trial yields one value per metric; everything here
//! works on those few values, with distribution-free methods:
//!
//! - the median's confidence interval from order statistics (the binomial
//!   method: exact coverage, no normality assumed);
//! - the Hodges-Lehmann estimate of the shift between two samples (the
//!   median of all pairwise differences, on log values so the shift is a
//!   ratio) with the Moses interval from the exact Mann-Whitney distribution;
//! - the Mann-Whitney U test's p-value (exact for small samples without
//!   ties, normal approximation with a tie correction otherwise), as
//!   benchstat reports;
//! - Holm's step-down correction when several metrics gate one run.
//!
//! Small samples cannot reach 95%: three trials against three have a
//! smallest two-sided p of 0.1. The functions then say what coverage they
//! achieved instead of pretending.

pub use rigor_results::Interval;

/// Theil-Sen slope of `y` against `x` (the median of all pairwise slopes,
/// robust to a few outliers such as a jemalloc purge) with Sen's
/// distribution-free interval from Kendall's S (normal approximation, no
/// ties correction). Pairs with equal `x` are left out. The interval
/// assumes independent residuals; memory samples of a soak are serially
/// correlated, so it is optimistic (docs/STATISTICS.md). `None` with fewer
/// than 3 points or no usable pair.
pub fn theil_sen(x: &[f64], y: &[f64], confidence: f64) -> Option<(f64, Option<Interval>)> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[j] - x[i];
            if dx != 0.0 && dx.is_finite() && (y[j] - y[i]).is_finite() {
                slopes.push((y[j] - y[i]) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let k = slopes.len();
    let slope = if k % 2 == 1 {
        slopes[k / 2]
    } else {
        (slopes[k / 2 - 1] + slopes[k / 2]) / 2.0
    };
    let z = normal_quantile(0.5 + confidence / 2.0);
    let nf = n as f64;
    let c = z * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let m = slopes.len() as f64;
    let lower = ((m - c) / 2.0).floor();
    let upper = ((m + c) / 2.0).ceil();
    let interval = (lower >= 1.0 && upper <= m).then(|| Interval {
        low: slopes[lower as usize - 1],
        high: slopes[upper as usize - 1],
        confidence,
    });
    Some((slope, interval))
}

/// Median of a sample (empty: NaN).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Sample mean.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Coefficient of variation (sample standard deviation / mean); `None` below two values.
pub fn cv(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values);
    let var = values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    (m != 0.0).then(|| var.sqrt() / m.abs())
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// ln Γ(x) by Lanczos (g = 7, n = 9), accurate to ~1e-13 for x > 0.
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI.ln()
            - (std::f64::consts::PI * x).sin().ln()
            - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(X <= k) for X ~ Binomial(n, 1/2).
fn binom_half_cdf(n: u64, k: u64) -> f64 {
    (0..=k.min(n))
        .map(|i| (ln_choose(n, i) - n as f64 * std::f64::consts::LN_2).exp())
        .sum::<f64>()
        .min(1.0)
}

/// The median's distribution-free confidence interval: order statistics
/// (r, n+1-r) with the largest r whose coverage 1 - 2 P(Bin(n,1/2) <= r-1)
/// reaches `level`. Below 6 values no pair reaches 95%: the interval is
/// then the range, with the coverage it has (e.g. 93.75% for 5 values).
pub fn median_interval(values: &[f64], level: f64) -> Option<Interval> {
    let n = values.len() as u64;
    if n == 0 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let coverage = |r: u64| 1.0 - 2.0 * binom_half_cdf(n, r - 1);
    let mut r = 1;
    while r < n.div_ceil(2) && coverage(r + 1) >= level {
        r += 1;
    }
    Some(Interval {
        low: v[(r - 1) as usize],
        high: v[(n - r) as usize],
        confidence: if n == 1 { 0.0 } else { coverage(r) },
    })
}

/// Number of ways the Mann-Whitney U statistic takes each value 0..=m*n
/// for samples of sizes m and n without ties (the exact null distribution).
fn u_counts(m: usize, n: usize) -> Vec<f64> {
    // f[i][j][u]: arrangements of i x's and j y's with U = u. Rolling over i.
    let max = m * n;
    let mut prev: Vec<Vec<f64>> = (0..=n)
        .map(|_| {
            let mut row = vec![0.0; max + 1];
            row[0] = 1.0;
            row
        })
        .collect();
    for i in 1..=m {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n + 1];
        cur[0][0] = 1.0;
        for j in 1..=n {
            for u in 0..=max {
                // Last element is an x (it beats all j y's) or a y.
                let from_x = if u >= j { prev[j][u - j] } else { 0.0 };
                cur[j][u] = from_x + cur[j - 1][u];
            }
        }
        prev = cur;
        let _ = i;
    }
    prev[n].clone()
}

/// P(U <= k) under the null, exact, for sizes m, n.
fn u_cdf(counts: &[f64], k: usize) -> f64 {
    let total: f64 = counts.iter().sum();
    counts[..=k.min(counts.len() - 1)].iter().sum::<f64>() / total
}

/// The standard normal quantile at `p` in (0, 1), by bisection on
/// [`normal_cdf`] (to 1e-9; this is not on a hot path).
pub fn normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0f64, 10.0f64);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The Mann-Whitney U of `x` against `y` (pairs where x > y, ties count 1/2).
fn u_statistic(x: &[f64], y: &[f64]) -> f64 {
    let mut u = 0.0;
    for a in x {
        for b in y {
            if a > b {
                u += 1.0;
            } else if a == b {
                u += 0.5;
            }
        }
    }
    u
}

/// Sizes up to which the exact distribution is used.
const EXACT_MAX: usize = 60;

/// One-sided p-value for "x tends to be larger than y" (Mann-Whitney).
pub fn mann_whitney_greater(x: &[f64], y: &[f64]) -> f64 {
    let (m, n) = (x.len(), y.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    let u = u_statistic(x, y);
    let ties = x.iter().any(|a| y.contains(a));
    if !ties && m <= EXACT_MAX && n <= EXACT_MAX {
        let counts = u_counts(m, n);
        // P(U >= u) = 1 - P(U <= u - 1).
        let u = u as usize;
        return if u == 0 {
            1.0
        } else {
            1.0 - u_cdf(&counts, u - 1)
        };
    }
    // Normal approximation with continuity and tie corrections.
    let (mf, nf) = (m as f64, n as f64);
    let mut all: Vec<f64> = x.iter().chain(y).copied().collect();
    all.sort_by(f64::total_cmp);
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1] == all[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let big_n = mf + nf;
    let var = mf * nf / 12.0 * ((big_n + 1.0) - tie_term / (big_n * (big_n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u - mf * nf / 2.0 - 0.5) / var.sqrt();
    1.0 - normal_cdf(z)
}

/// Two-sided Mann-Whitney p-value.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> f64 {
    (2.0 * mann_whitney_greater(x, y).min(mann_whitney_greater(y, x))).min(1.0)
}

/// The Hodges-Lehmann shift of `x` relative to `y` (median of x_i - y_j)
/// with the Moses interval at `level` (or the widest one the sizes allow).
pub fn hodges_lehmann(x: &[f64], y: &[f64], level: f64) -> Option<(f64, Interval)> {
    let (m, n) = (x.len(), y.len());
    if m == 0 || n == 0 {
        return None;
    }
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    d.sort_by(f64::total_cmp);
    let estimate = median(&d);
    let mn = d.len();
    // Largest k with P(U <= k - 1) <= alpha / 2: the interval is (d_k, d_{mn-k+1}).
    let alpha = 1.0 - level;
    let exact = (m <= EXACT_MAX && n <= EXACT_MAX).then(|| u_counts(m, n));
    let cdf = |k: usize| -> f64 {
        if let Some(counts) = &exact {
            u_cdf(counts, k)
        } else {
            let (mf, nf) = (m as f64, n as f64);
            let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
            normal_cdf((k as f64 + 0.5 - mf * nf / 2.0) / sd)
        }
    };
    // Cumulative sums once, not per k.
    let counts_cdf: Vec<f64> = match &exact {
        Some(counts) => {
            let total: f64 = counts.iter().sum();
            let mut acc = 0.0;
            counts[..mn]
                .iter()
                .map(|c| {
                    acc += c;
                    acc / total
                })
                .collect()
        }
        None => (0..mn).map(cdf).collect(),
    };
    let mut k = 0;
    while k < mn / 2 && counts_cdf[k] <= alpha / 2.0 {
        k += 1;
    }
    // k is now the number of order statistics cut from each end (>= 0).
    let (low, high, confidence) = if k == 0 {
        (d[0], d[mn - 1], 1.0 - 2.0 * counts_cdf[0])
    } else {
        (d[k - 1], d[mn - k], 1.0 - 2.0 * counts_cdf[k - 1])
    };
    Some((
        estimate,
        Interval {
            low,
            high,
            confidence: confidence.max(0.0),
        },
    ))
}

/// The regularised incomplete beta function I_x(a, b), by its continued
/// fraction (modified Lentz), accurate to ~1e-12.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    // The fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = if d.abs() < TINY { TINY } else { d };
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + num / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        f *= c * d;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + num / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let step = c * d;
        f *= step;
        if (step - 1.0).abs() < 1e-14 {
            break;
        }
    }
    (front * f).clamp(0.0, 1.0)
}

/// P(T > t) for Student's t with `df` degrees of freedom.
pub fn student_t_upper(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// One-sided Welch test that `x` exceeds `y` by more than `margin` (means):
/// the p-value of H0 "mean(x) - mean(y) <= margin". `None` with fewer than
/// two values a side. With no spread at all, 0 or 1 by the sign.
pub fn welch_greater(x: &[f64], y: &[f64], margin: f64) -> Option<f64> {
    let var = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    if x.len() < 2 || y.len() < 2 {
        return None;
    }
    let (nx, ny) = (x.len() as f64, y.len() as f64);
    let (vx, vy) = (var(x) / nx, var(y) / ny);
    let diff = mean(x) - mean(y) - margin;
    let se2 = vx + vy;
    if se2 <= 0.0 {
        return Some(if diff > 0.0 { 0.0 } else { 1.0 });
    }
    // Welch-Satterthwaite degrees of freedom.
    let df = se2 * se2 / (vx * vx / (nx - 1.0) + vy * vy / (ny - 1.0));
    Some(student_t_upper(diff / se2.sqrt(), df))
}

/// The smallest one-sided p-value the exact rank test can give with `m`
/// and `n` values: 1 / C(m + n, m).
pub fn rank_test_floor(m: usize, n: usize) -> f64 {
    (-ln_choose((m + n) as u64, m as u64)).exp()
}

/// Holm's step-down adjustment: adjusted p-values in the input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// The smallest relative change the trials at hand can resolve: about
/// 2.8 x CV x sqrt(2 / n) (80% power at 5% two-sided, normal approximation).
pub fn minimum_detectable_effect(cv: f64, n: usize) -> f64 {
    2.8 * cv * (2.0 / n.max(1) as f64).sqrt()
}

/// Trials per side needed to resolve a change of `effect` at this CV.
pub fn trials_needed(cv: f64, effect: f64) -> usize {
    (2.0 * (2.8 * cv / effect).powi(2)).ceil().max(2.0) as usize
}

/// The t distribution's quantile `p` with `df` degrees of freedom (by
/// bisection on [`student_t_upper`]): rigor's one t quantile.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1e3f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if student_t_upper(mid, df) > 1.0 - p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_matches_tables() {
        // t(0.975; 2) = 4.303, t(0.95; 4) = 2.132, t(0.995; 10) = 3.169.
        for (t, df, p) in [
            (4.303, 2.0, 0.025),
            (2.132, 4.0, 0.05),
            (3.169, 10.0, 0.005),
        ] {
            let got = student_t_upper(t, df);
            assert!((got - p).abs() < 2e-4, "t {t} df {df}: {got} vs {p}");
        }
        assert!((student_t_upper(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((student_t_upper(-2.132, 4.0) - 0.95).abs() < 2e-4);
    }

    #[test]
    fn welch_decides_large_shifts_at_three_trials() {
        let base = [1.00f64, 1.02, 0.99].map(f64::ln);
        let slow = [2.01f64, 1.98, 2.03].map(f64::ln);
        let margin = 1.1f64.ln();
        assert!(welch_greater(&slow, &base, margin).unwrap() < 0.001);
        assert!(welch_greater(&base, &base, margin).unwrap() > 0.5);
        // The rank test cannot go below 1/20 at 3 vs 3.
        assert!((rank_test_floor(3, 3) - 0.05).abs() < 1e-12);
        assert!((rank_test_floor(8, 8) - 1.0 / 12870.0).abs() < 1e-12);
    }

    #[test]
    fn median_interval_coverage_is_exact() {
        // n = 5: only (min, max) is possible, with coverage 1 - 2/32.
        let i = median_interval(&[5.0, 1.0, 4.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!((i.low, i.high), (1.0, 5.0));
        assert!((i.confidence - 0.9375).abs() < 1e-12);
        // n = 12: the textbook interval is (x_3, x_10), coverage 96.14%.
        let v: Vec<f64> = (1..=12).map(f64::from).collect();
        let i = median_interval(&v, 0.95).unwrap();
        assert_eq!((i.low, i.high), (3.0, 10.0));
        assert!(
            (i.confidence - 0.961_425_781_25).abs() < 1e-9,
            "{}",
            i.confidence
        );
    }

    /// Coverage checked by simulation against a known distribution: over
    /// 4000 samples of 12 exponential values, the interval holds the true
    /// median (ln 2) in 96.1% +- 1.5% of them.
    #[test]
    fn median_interval_covers_the_true_median() {
        let mut rng = crate::keys::Rng::new(9);
        let truth = std::f64::consts::LN_2;
        let runs = 4000;
        let hits = (0..runs)
            .filter(|_| {
                let v: Vec<f64> = (0..12).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
                let i = median_interval(&v, 0.95).unwrap();
                i.low <= truth && truth <= i.high
            })
            .count();
        let rate = hits as f64 / runs as f64;
        assert!((rate - 0.9614).abs() < 0.015, "coverage {rate}");
    }

    #[test]
    fn mann_whitney_exact_values() {
        // Complete separation of 3 vs 3: one arrangement in C(6,3) = 20.
        let p = mann_whitney_greater(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
        assert!((p - 0.05).abs() < 1e-12);
        assert!((mann_whitney(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]) - 0.1).abs() < 1e-12);
        // scipy.stats.mannwhitneyu([1,3,5,7],[2,4,6,8,10], exact): two-sided p = 0.4127.
        let p = mann_whitney(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0, 10.0]);
        assert!((p - 0.412_698).abs() < 1e-5, "{p}");
        // Identical samples give no evidence at all.
        assert!(mann_whitney(&[1.0, 1.0], &[1.0, 1.0]) > 0.99);
    }

    /// Under the null (both samples from one distribution) the two-sided
    /// p-value falls below 0.05 about 5% of the time: the test neither
    /// cries wolf nor is blind.
    #[test]
    fn mann_whitney_false_alarm_rate() {
        let mut rng = crate::keys::Rng::new(3);
        let runs = 3000;
        let alarms = (0..runs)
            .filter(|_| {
                let a: Vec<f64> = (0..12).map(|_| rng.next_f64()).collect();
                let b: Vec<f64> = (0..12).map(|_| rng.next_f64()).collect();
                mann_whitney(&a, &b) < 0.05
            })
            .count() as f64
            / runs as f64;
        assert!(alarms > 0.03 && alarms < 0.065, "false alarm rate {alarms}");
    }

    #[test]
    fn hodges_lehmann_finds_a_shift_with_its_interval() {
        let base: Vec<f64> = (0..12).map(|i| 100.0 + i as f64).collect();
        let shifted: Vec<f64> = base.iter().map(|v| v + 20.0).collect();
        let (est, i) = hodges_lehmann(&shifted, &base, 0.95).unwrap();
        assert!((est - 20.0).abs() < 1e-9);
        assert!(i.low < 20.0 && i.high > 20.0 && i.low > 10.0, "{i:?}");
        assert!(i.confidence >= 0.95);
        // 3 vs 3 cannot reach 95%: the interval is the full range, with 90%.
        let (_, i) = hodges_lehmann(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!((i.low, i.high), (1.0, 5.0));
        assert!((i.confidence - 0.9).abs() < 1e-12);
    }

    #[test]
    fn holm_adjusts_in_steps() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06.
        assert_eq!(adj, vec![0.03, 0.06, 0.06, 0.02]);
    }

    #[test]
    fn detectable_effect_and_trials() {
        assert!((minimum_detectable_effect(0.05, 8) - 0.07).abs() < 1e-12);
        assert_eq!(trials_needed(0.05, 0.07), 8);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-4);
        assert!((normal_quantile(0.5)).abs() < 1e-6);
    }

    #[test]
    fn theil_sen_recovers_a_slope_through_outliers() {
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        let mut y: Vec<f64> = x
            .iter()
            .map(|x| 64.0 * x + 1000.0 + (x * 7.0).sin())
            .collect();
        // Two wild samples (a purge, a spike) barely move it.
        y[10] = 0.0;
        y[20] = 1e6;
        let (slope, interval) = theil_sen(&x, &y, 0.95).unwrap();
        assert!((slope - 64.0).abs() < 0.5, "{slope}");
        let i = interval.unwrap();
        assert!(
            i.low <= slope && slope <= i.high && i.low > 60.0 && i.high < 68.0,
            "{i:?}"
        );
        // A flat series: the interval holds 0.
        let flat: Vec<f64> = x.iter().map(|x| 5.0 + (x * 3.0).sin()).collect();
        let (s0, i0) = theil_sen(&x, &flat, 0.95).unwrap();
        let i0 = i0.unwrap();
        assert!(i0.low <= 0.0 && i0.high >= 0.0, "{s0} {i0:?}");
        assert!(theil_sen(&x[..2], &y[..2], 0.95).is_none());
    }
}
