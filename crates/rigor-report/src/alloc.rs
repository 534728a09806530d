//! The allocation profile (`--mode profile`) for people: per target, the
//! estimated totals and the top call sites by bytes and by count, as rows
//! every format draws.

use rigor_results::{AllocProfile, Hotspot};
use rigor_scenario::units::{format_bytes, significant};
use serde::Serialize;

use crate::format::compact;

/// Hotspots shown per target and ordering in the reports.
const SHOWN: usize = 5;

/// The profile as the reports show it.
#[derive(Debug, Serialize)]
pub struct AllocView {
    /// How it was sampled: `1,234 allocations sampled, one per 512KiB on average`.
    pub method: String,
    /// One entry per target (and `outside trials`).
    pub targets: Vec<AllocTargetView>,
}

/// One target's allocations.
#[derive(Debug, Serialize)]
pub struct AllocTargetView {
    /// Target id, or `outside trials`.
    pub id: String,
    /// `2.1GiB in 31.2M allocations (estimated from 4,101 samples)`.
    pub total: String,
    /// Top call sites by bytes: site, bytes, allocations, share of the target's bytes.
    pub by_bytes: Vec<[String; 4]>,
    /// Top call sites by allocations: site, allocations, bytes, share of the target's allocations.
    pub by_count: Vec<[String; 4]>,
}

impl AllocView {
    /// The view of a run's profile.
    pub fn new(p: &AllocProfile) -> Self {
        let share = |part: f64, all: f64| {
            if all > 0.0 {
                format!("{:.1}%", part / all * 100.0)
            } else {
                "-".into()
            }
        };
        let targets = p
            .targets
            .iter()
            .map(|t| {
                let rows = |list: &[Hotspot], by_bytes: bool| {
                    list.iter()
                        .take(SHOWN)
                        .map(|h| {
                            let (bytes, count) = (format_bytes(h.bytes), compact(h.count));
                            if by_bytes {
                                [h.site.clone(), bytes, count, share(h.bytes, t.bytes)]
                            } else {
                                [h.site.clone(), count, bytes, share(h.count, t.count)]
                            }
                        })
                        .collect()
                };
                AllocTargetView {
                    id: t.id.clone(),
                    total: format!(
                        "{} in {} allocations (estimated from {} samples)",
                        format_bytes(t.bytes),
                        compact(t.count),
                        t.samples
                    ),
                    by_bytes: rows(&t.by_bytes, true),
                    by_count: rows(&t.by_count, false),
                }
            })
            .collect();
        AllocView {
            method: format!(
                "{} allocations sampled, one per {} allocated on average (Poisson sampling; each sample weighted by its chance of being drawn){}",
                p.samples,
                format_bytes(p.sample_bytes),
                if p.dropped > 0 {
                    format!("; {} samples dropped (table full)", significant(p.dropped as f64))
                } else {
                    String::new()
                }
            ),
            targets,
        }
    }
}
