//! Which part of a sharded run a process is ([`Shard`]) and the whole case
//! its part belongs to: plain data the plan holds; splitting a plan into
//! its parts is [`crate::shard`]'s job.

use std::fmt;
use std::str::FromStr;

/// Which part of a run this process is: shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, with `0 <= I < N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{text}` is not a shard: write I/N with I from 0 to N-1, for example `0/4` (Kubernetes: `$(JOB_COMPLETION_INDEX)/4`)"
            )
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The whole case a shard's part belongs to: what the case is named by
/// and what a merge adds up to.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WholeCase {
    /// The case's concurrency over all shards.
    pub concurrency: u32,
    /// The case's rate over all shards (rate mode).
    pub rate: Option<f64>,
    /// This shard.
    pub shard: Shard,
}
