//! A soak's sampler on the coordinator thread: operations done and the
//! process's (and a server's) memory, every `sample`, never inside an
//! operation's timing.

use super::*;

/// A soak's sampler on the coordinator thread: every `every`, once all
/// workers measure, the operations done and the process's memory.
pub(super) struct Sampler {
    every: Duration,
    first: Option<Instant>,
    next: Option<Instant>,
}

impl Sampler {
    pub(super) fn new(every: Duration) -> Self {
        Sampler {
            every,
            first: None,
            next: None,
        }
    }

    pub(super) fn tick(
        &mut self,
        target: &dyn Target,
        progress: &[Arc<Progress>],
        into: &mut Vec<crate::results::MemorySample>,
    ) {
        let now = Instant::now();
        if self.next.is_some_and(|n| now < n) {
            return;
        }
        let operations = progress
            .iter()
            .map(|p| p.operations.load(Ordering::Relaxed))
            .sum();
        // Rate mode's workers count as measuring through their warm-up:
        // the series starts with the first measured operations.
        if operations == 0 && self.first.is_none() {
            return;
        }
        let first = *self.first.get_or_insert(now);
        // The schedule of samples does not drift with the 10ms polling.
        self.next = Some(self.next.unwrap_or(now) + self.every);
        // rigor's own memory first, then what may ask another process.
        let (allocated, resident, rss) = (
            alloc::allocated_bytes(),
            alloc::resident_bytes(),
            alloc::process_rss_bytes(),
        );
        let server = target.server().and_then(|s| s.memory()).unwrap_or_default();
        into.push(crate::results::MemorySample {
            t_ns: now.duration_since(first).as_nanos() as u64,
            operations,
            allocated,
            resident,
            rss,
            server_rss: server.rss,
            server_heap: server.heap,
            entries: target.hooks().and_then(|h| h.entries_now()),
        });
    }
}
