//! Allocation accounting through jemalloc.
//!
//! - bytes/op: jemalloc's per-thread `thread.allocatedp` counter, read before
//!   and after a worker's measured phase (a pointer read, no syscall).
//! - allocs/op: [`CountingJemalloc`], a thin `GlobalAlloc` wrapper that bumps a
//!   thread-local counter on each allocation. The counter is a const-initialised
//!   `Cell<u64>` without destructor, so touching it never allocates.
//!
//! Binaries opt in with
//! `#[global_allocator] static A: rigor_engine::alloc::CountingJemalloc = rigor_engine::alloc::CountingJemalloc;`.
//! Without it, memory metrics are reported as unavailable, never as zero.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use tikv_jemallocator::Jemalloc;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// jemalloc with a per-thread allocation counter.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingJemalloc;

#[inline]
fn count(size: usize) {
    // `try_with` because allocation can happen while a thread's TLS is torn down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    // `--mode profile` only: one relaxed load of a static otherwise.
    if crate::alloc_profile::ACTIVE.load(Ordering::Relaxed) {
        crate::alloc_profile::on_alloc(size);
    }
}

// SAFETY: every method delegates to jemalloc with the same arguments; the
// counter update neither allocates nor touches the returned memory.
unsafe impl GlobalAlloc for CountingJemalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.alloc(layout) }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.alloc_zeroed(layout) }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded contract.
        unsafe { Jemalloc.realloc(ptr, layout, new_size) }
    }
}

/// Checks once whether the counting allocator is the global allocator, by
/// allocating and watching the counter move.
pub fn counting_installed() -> bool {
    if INSTALLED.load(Ordering::Relaxed) {
        return true;
    }
    let before = thread_allocs();
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    let yes = thread_allocs() > before;
    INSTALLED.store(yes, Ordering::Relaxed);
    yes
}

/// Allocations made by this thread so far (counting allocator only).
#[inline]
pub fn thread_allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// A handle to this thread's jemalloc byte counter.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub struct ThreadBytes(Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>);

impl ThreadBytes {
    /// Looks up this thread's `thread.allocatedp`; `None` inside when jemalloc is not the allocator.
    pub fn current() -> ThreadBytes {
        if !counting_installed() {
            return ThreadBytes(None);
        }
        ThreadBytes(tikv_jemalloc_ctl::thread::allocatedp::read().ok())
    }

    /// Bytes ever allocated by this thread.
    #[inline]
    pub fn get(self) -> Option<u64> {
        self.0.map(|p| p.get())
    }
}

/// Process-wide bytes in physically resident pages mapped by jemalloc,
/// after refreshing jemalloc's statistics snapshot.
pub fn resident_bytes() -> Option<u64> {
    jemalloc_stat(tikv_jemalloc_ctl::stats::resident::read)
}

/// Process-wide bytes the application holds allocated (jemalloc
/// `stats.allocated`: the live heap), after refreshing the statistics.
pub fn allocated_bytes() -> Option<u64> {
    jemalloc_stat(tikv_jemalloc_ctl::stats::allocated::read)
}

/// One of jemalloc's process-wide statistics, after refreshing its
/// snapshot; `None` when jemalloc is not the allocator.
fn jemalloc_stat(read: fn() -> tikv_jemalloc_ctl::Result<usize>) -> Option<u64> {
    if !counting_installed() {
        return None;
    }
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    read().ok().map(|v| v as u64)
}

/// The process's resident set size from `/proc/self/statm` (Linux; the
/// allocator's view is [`resident_bytes`]), in bytes.
pub fn process_rss_bytes() -> Option<u64> {
    rss_of("self")
}

/// The resident set size of process `pid` (`"self"` or a number), bytes,
/// from `/proc/PID/statm` (Linux).
pub fn rss_of(pid: &str) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (page > 0).then(|| pages * page as u64)
}

/// Bytes this thread has allocated minus bytes it has freed, when jemalloc
/// accounting is on. The difference of two readings around a piece of work
/// on one thread is the heap that work still holds: exact, unlike the
/// process-wide counters, which move with every other thread and with
/// jemalloc's thread caches.
pub fn thread_net_bytes() -> Option<i128> {
    if !counting_installed() {
        return None;
    }
    let allocated = tikv_jemalloc_ctl::thread::allocatedp::read().ok()?.get();
    let freed = tikv_jemalloc_ctl::thread::deallocatedp::read().ok()?.get();
    Some(allocated as i128 - freed as i128)
}
