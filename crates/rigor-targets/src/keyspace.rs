//! The cache workload's data, built once per target before any timing:
//! key names, per-key value sizes, one buffer the values are cut from, and
//! which keys a preload writes.

use std::sync::Arc;

use rigor_engine::keys;
use rigor_scenario::plan::CachePlan;
use rigor_scenario::units::Capacity;

/// Key names and value sizes of a cache workload.
#[derive(Debug)]
pub struct Keyspace {
    /// The workload.
    pub plan: CachePlan,
    /// `key:<n>` for n in 0..keys.
    pub names: Vec<Box<str>>,
    /// Value size of each key.
    pub sizes: Vec<u32>,
    /// Seeded random bytes; a key's value is a prefix of it.
    pub data: Vec<u8>,
}

impl Keyspace {
    /// Builds the keyspace of `plan`.
    pub fn new(plan: &CachePlan, seed: u64) -> Arc<Self> {
        let names = (0..plan.keys)
            .map(|i| format!("key:{i}").into_boxed_str())
            .collect();
        let sizes = (0..plan.keys)
            .map(|k| keys::value_size(plan, k) as u32)
            .collect();
        let mut rng = keys::Rng::new(keys::derive(seed, &[0xDA7A]));
        let data = (0..plan.value_max).map(|_| rng.next_u64() as u8).collect();
        Arc::new(Keyspace {
            plan: plan.clone(),
            names,
            sizes,
            data,
        })
    }

    /// The name of key `i`.
    #[inline]
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The value of key `i`.
    #[inline]
    pub fn value(&self, i: usize) -> &[u8] {
        &self.data[..self.sizes[i] as usize]
    }

    /// Key plus value bytes of key `i`: its weight under a size capacity.
    #[inline]
    pub fn payload(&self, i: usize) -> u64 {
        self.names[i].len() as u64 + self.sizes[i] as u64
    }

    /// The keys a preload writes: the most popular ones (lowest indices;
    /// see [`rigor_engine::keys`]) up to the capacity, like a cache that has
    /// warmed up, so both caches start with the same content.
    pub fn preload_count(&self, capacity: Capacity) -> usize {
        if !self.plan.preload {
            return 0;
        }
        let keys = self.names.len();
        match capacity {
            Capacity::Entries(n) => keys.min(n as usize),
            Capacity::Bytes(b) => {
                let mut total = 0;
                for i in 0..keys {
                    total += self.payload(i);
                    if total > b {
                        return i;
                    }
                }
                keys
            }
        }
    }
}
