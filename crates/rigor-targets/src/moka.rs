//! `kind: moka`: an in-process `moka::sync::Cache` running the `cache:` workload.
//!
//! Keys are `Box<str>` and values `Arc<[u8]>` owned by the cache, so an
//! insert pays for its allocations as an application's would and
//! `cache.memory` counts real bytes. moka keeps no hit counters: rigor
//! counts hits and misses from what `get` returns. Each trial gets a fresh
//! cache with the case's capacity, preloaded outside timing; its memory is
//! the heap the building thread still holds afterwards (exact, from
//! jemalloc's per-thread counters).

use std::sync::{Arc, RwLock};

use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use rigor_engine::keys::{self, WRITE_BIT};
use rigor_engine::target::{
    BlockingWorkers, CacheState, Facts, MemoryScope, OpError, Outcome, Target, TargetError,
    TrialContext, TrialHooks, Worker, WorkerContext, Workers,
};
use rigor_scenario::model::{Eviction, MissPolicy, MokaSpec};
use rigor_scenario::plan::{Plan, TargetPlan};
use rigor_scenario::units::Capacity;

use crate::keyspace::Keyspace;
use crate::Kind;

type Store = Cache<Box<str>, Arc<[u8]>>;

/// Builds `kind: moka`.
#[derive(Debug)]
pub struct Factory;

/// A moka cache target.
#[derive(Debug)]
pub struct Moka {
    keyspace: Arc<Keyspace>,
    eviction: Eviction,
    store: RwLock<Option<Store>>,
}

/// Builds a moka cache of `capacity` (entries, or bytes weighed as key + value length).
pub fn build<K, V>(
    capacity: Capacity,
    eviction: Eviction,
    ttl: Option<std::time::Duration>,
    weigh: impl Fn(&K, &V) -> u32 + Send + Sync + 'static,
) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let mut builder = Cache::builder().eviction_policy(match eviction {
        Eviction::TinyLfu => EvictionPolicy::tiny_lfu(),
        Eviction::Lru => EvictionPolicy::lru(),
    });
    builder = match capacity {
        Capacity::Entries(n) => builder.max_capacity(n),
        Capacity::Bytes(b) => builder.max_capacity(b).weigher(weigh),
    };
    if let Some(ttl) = ttl {
        builder = builder.time_to_live(ttl);
    }
    builder.build()
}

/// Weight under a size capacity: key plus value bytes.
#[allow(clippy::borrowed_box)] // moka's weigher takes `&K`, and K is `Box<str>`.
fn weigh(k: &Box<str>, v: &Arc<[u8]>) -> u32 {
    (k.len() + v.len()).min(u32::MAX as usize) as u32
}

impl Moka {
    fn current(&self) -> Result<Store, TargetError> {
        self.store
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| TargetError::Failed("the cache was not prepared".into()))
    }
}

impl Target for Moka {
    fn workers(&self) -> Workers<'_> {
        Workers::Blocking(self)
    }
    fn hooks(&self) -> Option<&dyn TrialHooks> {
        Some(self)
    }
    fn facts(&self) -> Facts {
        Facts {
            outcomes: true,
            ..Facts::new(MemoryScope::Process)
        }
    }
}

impl TrialHooks for Moka {
    fn prepare(&self, trial: &TrialContext) -> Result<Option<CacheState>, TargetError> {
        let capacity = trial
            .case
            .capacity
            .unwrap_or(Capacity::Entries(self.keyspace.plan.keys));
        let mut slot = self
            .store
            .write()
            .map_err(|_| TargetError::Failed("cache lock poisoned".into()))?;
        // Free the previous trial's cache before the memory baseline.
        *slot = None;
        let before = rigor_engine::alloc::thread_net_bytes();
        let store = build(capacity, self.eviction, self.keyspace.plan.ttl, weigh);
        let ks = &self.keyspace;
        for i in 0..ks.preload_count(capacity) {
            store.insert(ks.name(i).into(), Arc::from(ks.value(i)));
        }
        store.run_pending_tasks();
        let after = rigor_engine::alloc::thread_net_bytes();
        let state = CacheState {
            entries: store.entry_count(),
            memory: before
                .zip(after)
                .map(|(b, a)| (a - b).max(0) as u64),
            memory_source: "heap held by the cache after preload (jemalloc, allocated minus freed on the building thread)".into(),
            capacity_note: Some(format!(
                "max_capacity {}{} ({:?} eviction); moka weighted size after preload {}",
                capacity,
                match capacity {
                    Capacity::Entries(_) => " entries",
                    Capacity::Bytes(_) => " (weigher: key + value bytes)",
                },
                self.eviction,
                store.weighted_size()
            )),
        };
        *slot = Some(store);
        Ok(Some(state))
    }

    fn entries_now(&self) -> Option<u64> {
        // No pending-task run: that is maintenance work the workers would
        // contend with. moka's count is approximate until then.
        Some(self.current().ok()?.entry_count())
    }

    fn cache_state(&self) -> Option<CacheState> {
        let store = self.current().ok()?;
        store.run_pending_tasks();
        Some(CacheState {
            entries: store.entry_count(),
            memory: None,
            memory_source: String::new(),
            capacity_note: Some(format!(
                "at the end of the trial: weighted size {}",
                store.weighted_size()
            )),
        })
    }
}

impl BlockingWorkers for Moka {
    fn worker(&self, ctx: &WorkerContext) -> Result<Box<dyn Worker>, TargetError> {
        Ok(Box::new(MokaWorker {
            store: self.current()?,
            keyspace: self.keyspace.clone(),
            stream: keys::cache_stream(&self.keyspace.plan, ctx.seed, ctx.index),
            fill: self.keyspace.plan.miss == MissPolicy::Fill,
        }))
    }
}

struct MokaWorker {
    store: Store,
    keyspace: Arc<Keyspace>,
    stream: Vec<u32>,
    fill: bool,
}

impl MokaWorker {
    #[inline]
    fn set(&self, i: usize) {
        let ks = &self.keyspace;
        self.store.insert(ks.name(i).into(), Arc::from(ks.value(i)));
    }
}

impl Worker for MokaWorker {
    fn input_of(&self, _: u64) -> Option<usize> {
        None
    }

    #[inline]
    fn call(&mut self, op: u64) -> Result<Outcome, OpError> {
        let entry = self.stream[(op % self.stream.len() as u64) as usize];
        let i = (entry & !WRITE_BIT) as usize;
        if entry & WRITE_BIT != 0 {
            self.set(i);
            return Ok(Outcome::Set);
        }
        match self.store.get(self.keyspace.name(i)) {
            Some(v) => {
                std::hint::black_box(v);
                Ok(Outcome::Get { hit: true })
            }
            None => {
                if self.fill {
                    self.set(i);
                }
                Ok(Outcome::Get { hit: false })
            }
        }
    }
}

impl Kind for Factory {
    type Spec = MokaSpec;

    fn build(spec: &MokaSpec, _: &TargetPlan, plan: &Plan) -> Result<Box<dyn Target>, TargetError> {
        let cache = plan
            .cache
            .as_ref()
            .ok_or_else(|| TargetError::Invalid("the scenario has no `cache:`".into()))?;
        Ok(Box::new(Moka {
            keyspace: Keyspace::new(cache, plan.workload.seed),
            eviction: spec.eviction,
            store: RwLock::new(None),
        }))
    }

    fn check(_: &MokaSpec, _: &TargetPlan, plan: &Plan) -> Result<(), TargetError> {
        match &plan.cache {
            Some(_) => Ok(()),
            None => Err(TargetError::Invalid("a moka target needs `cache:`".into())),
        }
    }
}
