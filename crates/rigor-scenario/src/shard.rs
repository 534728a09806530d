//! Sharded runs: one process measures shard I of N of every case, so N
//! machines (or N processes) together offer more load than one can.
//!
//! Each case's closed-loop `concurrency` and open-loop `rate` are split
//! across the shards that have work: a case of concurrency C has
//! `min(C, N)` active shards; workers are split evenly with the remainder
//! to the first shards, and the rate evenly among the active shards, so a
//! shard's rate always has workers to send it. Shards beyond those have
//! nothing to do in that case and say so. Each shard draws its keys and
//! inputs from its own seed, so no two shards send the same stream.
//! Servers rigor starts itself are private to one process: a sharded run
//! takes `url:` and in-process targets only.

use crate::plan::{CasePlan, Plan};
use crate::{Diagnostic, ScenarioError};

pub use crate::part::{Shard, WholeCase};

impl Shard {
    /// This shard's part of `case`: workers split with the remainder to
    /// the first shards, the rate split evenly among the shards that have
    /// workers. Concurrency 0: nothing to do here.
    pub fn share(self, case: CasePlan) -> CasePlan {
        let whole = WholeCase {
            concurrency: case.concurrency,
            rate: case.rate,
            shard: self,
        };
        let active = case.concurrency.min(self.count);
        let concurrency = if self.index < active {
            case.concurrency / active + u32::from(self.index < case.concurrency % active)
        } else {
            0
        };
        let rate = case.rate.map(|r| {
            if concurrency > 0 {
                r / active as f64
            } else {
                0.0
            }
        });
        CasePlan {
            concurrency,
            rate,
            capacity: case.capacity,
            whole: Some(whole),
        }
    }

    /// The seed of this shard's random choices, derived from the
    /// scenario's (splitmix64), so shards never draw the same streams.
    pub fn seed(self, seed: u64) -> u64 {
        if self.count <= 1 {
            return seed;
        }
        crate::rng::mix64(seed ^ (u64::from(self.index) + 1).wrapping_mul(crate::rng::GOLDEN))
    }
}

impl Plan {
    /// Makes this plan shard `shard` of a sharded run: its cases become
    /// this shard's parts, its seed this shard's. Refused when a target
    /// has a server rigor would start (each shard would measure its own).
    pub fn shard(&mut self, shard: Shard) -> Result<(), ScenarioError> {
        if let Some(t) = self
            .targets
            .iter()
            .find(|t| t.spec.as_kind().managed_server())
        {
            return Err(Diagnostic::new(
                &self.path,
                format!(
                    "--shard {shard}: target `{}` has `server: managed`, a server that each shard would start for itself; the shards of one run must load one server",
                    t.id()
                ),
            )
            .with_help(
                "run the server yourself and give the target its `url:` (e.g. `rigor serve`, `opa run --server`, a Redis), or leave the target out with --only",
            )
            .into());
        }
        if self.workload.recorded.is_some() {
            return Err(Diagnostic::new(
                &self.path,
                format!(
                    "--shard {shard}: `rate: recorded` replays one log's arrivals in one process"
                ),
            )
            .with_help("run it unsharded, or give the shards a fixed `rate` (each takes its share)")
            .into());
        }
        self.workload.seed = shard.seed(self.workload.seed);
        self.workload.shard = Some(shard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(concurrency: u32, rate: Option<f64>) -> CasePlan {
        CasePlan {
            concurrency,
            rate,
            capacity: None,
            whole: None,
        }
    }

    #[test]
    fn shards_parse_and_refuse_what_is_not_one() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "0/0", "1", "a/2", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn workers_split_with_the_remainder_first_and_the_rate_among_active_shards() {
        let parts: Vec<CasePlan> = (0..3)
            .map(|i| Shard { index: i, count: 3 }.share(case(8, Some(900.0))))
            .collect();
        let workers: Vec<u32> = parts.iter().map(|c| c.concurrency).collect();
        assert_eq!(workers, [3, 3, 2]);
        assert!(parts.iter().all(|c| c.rate == Some(300.0)));
        assert!(parts.iter().all(|c| c.name() == "rate=900/s concurrency=8"));
        // Two workers over three shards: the third has nothing to do, and
        // the rate goes to the two with workers.
        let parts: Vec<CasePlan> = (0..3)
            .map(|i| Shard { index: i, count: 3 }.share(case(2, Some(1000.0))))
            .collect();
        let workers: Vec<u32> = parts.iter().map(|c| c.concurrency).collect();
        assert_eq!(workers, [1, 1, 0]);
        let rates: Vec<f64> = parts.iter().map(|c| c.rate.unwrap()).collect();
        assert_eq!(rates, [500.0, 500.0, 0.0]);
        assert_eq!(parts[2].name(), "rate=1000/s concurrency=2");
    }

    #[test]
    fn every_shard_draws_its_own_seed_and_one_shard_keeps_the_scenarios() {
        let seeds: std::collections::BTreeSet<u64> = (0..16)
            .map(|i| {
                Shard {
                    index: i,
                    count: 16,
                }
                .seed(1)
            })
            .collect();
        assert_eq!(seeds.len(), 16);
        assert!(!seeds.contains(&1));
        assert_eq!(Shard { index: 0, count: 1 }.seed(7), 7);
    }
}
