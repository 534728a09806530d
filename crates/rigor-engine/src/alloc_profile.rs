//! Where the memory goes: a sampling allocation profiler for `--mode
//! profile`, inside rigor's counting allocator.
//!
//! Design choices worth knowing:
//! - Off, it costs one relaxed load of a static flag per allocation; on,
//!   each thread counts down a random number of bytes (exponential, mean
//!   [`SAMPLE_BYTES`], as jemalloc's and tcmalloc's heap profilers do) and
//!   captures the call stack of the allocation that crosses zero. An
//!   allocation of `s` bytes is thus sampled with probability
//!   `1 - exp(-s / SAMPLE_BYTES)`, and each sample stands for `1/p`
//!   allocations and `s/p` bytes: unbiased estimates of both.
//! - Capturing is raw instruction pointers into a table allocated when the
//!   profiler starts (nothing allocates inside the allocator; a re-entrant
//!   allocation is not sampled); symbols are resolved after the run.
//! - Samples carry the target that was running (set by the run loop
//!   between trials), so hotspots are per target.
//! - Capturing a stack costs microseconds: a profiled run's timings are
//!   perturbed (as they are by the CPU profiler beside it); use profile
//!   mode to see where memory goes, not to measure speed.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Mean bytes between two samples (jemalloc's default `lg_prof_sample` 19).
pub const SAMPLE_BYTES: f64 = 512.0 * 1024.0;
/// Frames kept per sample.
const MAX_FRAMES: usize = 48;

pub(crate) static ACTIVE: AtomicBool = AtomicBool::new(false);
static TAG: AtomicU32 = AtomicU32::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static TABLE: Mutex<Vec<RawSample>> = Mutex::new(Vec::new());

thread_local! {
    /// Bytes left before this thread's next sample; 0 until first drawn.
    static COUNTDOWN: Cell<i64> = const { Cell::new(0) };
    /// This thread is capturing a sample (its allocations are not sampled).
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// This thread's random state (xorshift).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// One captured allocation.
#[derive(Clone, Copy)]
struct RawSample {
    size: usize,
    tag: u32,
    depth: u8,
    frames: [usize; MAX_FRAMES],
}

/// Starts sampling, with room for `capacity` samples (allocated now).
pub fn start(capacity: usize) {
    if let Ok(mut t) = TABLE.lock() {
        t.clear();
        t.reserve_exact(capacity);
    }
    DROPPED.store(0, Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Release);
}

/// Stops sampling (what the profiler itself does afterwards is not sampled).
pub fn stop() {
    ACTIVE.store(false, Ordering::Release);
}

/// Which target runs now: 0 outside trials, `i + 1` for the run's target `i`.
pub fn set_tag(tag: u32) {
    TAG.store(tag, Ordering::Relaxed);
}

/// Called by the counting allocator for every allocation while profiling.
#[cold]
#[inline(never)]
pub(crate) fn on_alloc(size: usize) {
    let _ = COUNTDOWN.try_with(|c| {
        let left = c.get();
        if left == 0 {
            // First allocation on this thread: draw, do not sample.
            c.set(next_interval());
            return;
        }
        let left = left - size as i64;
        if left > 0 {
            c.set(left);
            return;
        }
        c.set(next_interval());
        if CAPTURING.try_with(|f| f.replace(true)).unwrap_or(true) {
            return;
        }
        capture(size);
        let _ = CAPTURING.try_with(|f| f.set(false));
    });
}

/// An exponentially distributed interval, mean [`SAMPLE_BYTES`], at least 1.
fn next_interval() -> i64 {
    let x = RNG.with(|r| {
        let mut x = r.get();
        if x == 0 {
            // Seed from the thread's stack address: different per thread.
            x = (&x as *const u64 as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    });
    let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    ((-u.ln() * SAMPLE_BYTES) as i64).max(1)
}

fn capture(size: usize) {
    let mut frames = [0usize; MAX_FRAMES];
    let mut depth = 0;
    // SAFETY: trace_unsynchronized must not run concurrently with other
    // unsynchronized backtrace calls that share state; the unwinder it uses
    // (libgcc's) is thread-safe, and rigor takes no other backtraces while
    // profiling allocations.
    unsafe {
        backtrace::trace_unsynchronized(|f| {
            frames[depth] = f.ip() as usize;
            depth += 1;
            depth < MAX_FRAMES
        });
    }
    let sample = RawSample {
        size,
        tag: TAG.load(Ordering::Relaxed),
        depth: depth as u8,
        frames,
    };
    match TABLE.lock() {
        Ok(mut t) if t.len() < t.capacity() => t.push(sample),
        _ => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub use rigor_results::{AllocProfile, AllocTarget, Hotspot};

/// Estimated bytes and allocations, and the samples behind them.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    bytes: f64,
    count: f64,
    samples: u64,
}

impl Tally {
    fn add(&mut self, bytes: f64, count: f64) {
        self.bytes += bytes;
        self.count += count;
        self.samples += 1;
    }
}

/// The name of allocations made outside any trial (rigor itself, targets' setup).
pub const OUTSIDE: &str = "outside trials";

/// Hotspots kept per target and ordering.
const TOP: usize = 10;

/// A resolved frame. Release builds keep line tables only, so an inlined
/// function's name is its short name (`call`): the source file tells whose
/// it is.
#[derive(Clone)]
struct Frame {
    name: String,
    /// The source file's full path, when known.
    path: String,
    line: Option<u32>,
}

impl Frame {
    /// The file's name alone.
    fn file(&self) -> &str {
        self.path.rsplit(['/', '\\']).next().unwrap_or("")
    }

    /// `name (file.rs:12)`, for hotspot tables.
    fn site(&self) -> String {
        match (self.file(), self.line) {
            ("", _) => self.name.clone(),
            (f, Some(l)) => format!("{} ({f}:{l})", self.name),
            (f, None) => format!("{} ({f})", self.name),
        }
    }

    /// `name [file.rs]`, for flame graph boxes (no line: one box per function).
    fn label(&self) -> String {
        let name = self.name.replace(';', ":");
        match self.file() {
            "" => name,
            f => format!("{name} [{f}]"),
        }
    }

    /// The global allocator's entry point, called by `alloc::alloc`.
    fn entry(&self) -> bool {
        self.name.starts_with("__rust_") || self.name.starts_with("__rdl_")
    }

    /// The allocator and rigor's profiler itself: dropped from the top of
    /// every stack.
    fn plumbing(&self) -> bool {
        let p = &self.path;
        p.contains("/backtrace-0.")
            || p.ends_with("rigor-engine/src/alloc.rs")
            || p.ends_with("rigor-engine/src/alloc_profile.rs")
            || p.contains("jemalloc")
            || p.ends_with("std/src/thread/local.rs")
            || self.entry()
            || (p.is_empty() && self.name.contains("jemalloc"))
    }

    /// The standard library (its collections, boxes and strings) and
    /// hashbrown: a hotspot is the first frame below them (the code that
    /// asked for a `Vec`, not `Vec::push`).
    fn library(&self) -> bool {
        self.path.contains("/library/alloc/")
            || self.path.contains("/library/core/")
            || self.path.contains("/library/std/")
            || self.path.contains("/hashbrown-")
    }
}

/// Stops sampling and resolves the samples: per target `names[tag - 1]`,
/// its estimates and hotspots, and the folded stacks (`target;root;..;leaf
/// bytes`) for a flame graph of estimated bytes.
pub fn finish(names: &[String]) -> (AllocProfile, Vec<String>) {
    ACTIVE.store(false, Ordering::Release);
    let samples: Vec<RawSample> = TABLE
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    let mut symbols: HashMap<usize, Vec<Frame>> = HashMap::new();
    let mut resolve = |ip: usize| -> Vec<Frame> {
        symbols
            .entry(ip)
            .or_insert_with(|| {
                let mut frames = Vec::new();
                backtrace::resolve(ip as *mut std::ffi::c_void, |s| {
                    frames.push(Frame {
                        name: s
                            .name()
                            .map(|n| format!("{n:#}"))
                            .unwrap_or_else(|| format!("{ip:#x}")),
                        path: s
                            .filename()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default(),
                        line: s.lineno(),
                    });
                });
                if frames.is_empty() {
                    frames.push(Frame {
                        name: format!("{ip:#x}"),
                        path: String::new(),
                        line: None,
                    });
                }
                frames
            })
            .clone()
    };
    let tag_name = |tag: u32| match tag {
        0 => OUTSIDE.to_string(),
        t => names
            .get(t as usize - 1)
            .cloned()
            .unwrap_or_else(|| format!("target {t}")),
    };
    let mut folded: HashMap<String, f64> = HashMap::new();
    let mut per_target: std::collections::BTreeMap<u32, (Tally, HashMap<String, Tally>)> =
        Default::default();
    for s in &samples {
        let p = 1.0 - (-(s.size as f64) / SAMPLE_BYTES).exp();
        let (count, bytes) = (1.0 / p, s.size as f64 / p);
        // Innermost first; inlined frames come out innermost first too.
        let mut stack: Vec<Frame> = s.frames[..s.depth as usize]
            .iter()
            .flat_map(|&ip| resolve(ip))
            .collect();
        // The profiler's and the allocator's frames sit on top, down to
        // the allocator's entry (`__rust_alloc`); below it is the program.
        let cut = stack.iter().position(Frame::entry).map_or_else(
            || stack.iter().take_while(|f| f.plumbing()).count(),
            |i| i + 1,
        );
        stack.drain(..cut.min(stack.len()));
        let site = stack
            .iter()
            .find(|f| !f.library())
            .or(stack.first())
            .map_or_else(|| "?".into(), Frame::site);
        let (all, sites) = per_target.entry(s.tag).or_default();
        all.add(bytes, count);
        sites.entry(site).or_default().add(bytes, count);
        let line = std::iter::once(tag_name(s.tag))
            .chain(stack.iter().rev().map(Frame::label))
            .collect::<Vec<_>>()
            .join(";");
        *folded.entry(line).or_default() += bytes;
    }
    let targets = per_target
        .into_iter()
        .map(|(tag, (all, sites))| {
            let mut sites: Vec<Hotspot> = sites
                .into_iter()
                .map(|(site, t)| Hotspot {
                    site,
                    bytes: t.bytes,
                    count: t.count,
                    samples: t.samples,
                })
                .collect();
            sites.sort_by(|a, b| b.bytes.total_cmp(&a.bytes));
            let by_bytes = sites.iter().take(TOP).cloned().collect();
            sites.sort_by(|a, b| b.count.total_cmp(&a.count));
            let by_count = sites.into_iter().take(TOP).collect();
            AllocTarget {
                id: tag_name(tag),
                bytes: all.bytes,
                count: all.count,
                samples: all.samples,
                by_bytes,
                by_count,
            }
        })
        .collect();
    let mut lines: Vec<String> = folded
        .into_iter()
        .map(|(stack, bytes)| format!("{stack} {}", bytes.round() as u64))
        .collect();
    lines.sort();
    let profile = AllocProfile {
        sample_bytes: SAMPLE_BYTES,
        samples: samples.len() as u64,
        dropped: DROPPED.load(Ordering::Relaxed),
        targets,
    };
    (profile, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_average_the_sample_size() {
        let n = 200_000;
        let mean = (0..n).map(|_| next_interval() as f64).sum::<f64>() / n as f64;
        assert!(
            (mean / SAMPLE_BYTES - 1.0).abs() < 0.02,
            "mean interval {mean}"
        );
    }

    #[test]
    fn frames_are_told_apart_by_their_files() {
        let f = |name: &str, path: &str| Frame {
            name: name.into(),
            path: path.into(),
            line: Some(7),
        };
        let ours = f("call", "/w/crates/rigor-targets/src/calibration.rs");
        assert!(!ours.plumbing() && !ours.library());
        assert_eq!(ours.site(), "call (calibration.rs:7)");
        assert_eq!(ours.label(), "call [calibration.rs]");
        assert!(f("alloc", "/w/crates/rigor-engine/src/alloc.rs").plumbing());
        assert!(f(
            "trace",
            "/r/.cargo/registry/src/x/backtrace-0.3.77/src/backtrace/libunwind.rs"
        )
        .plumbing());
        assert!(f("__rust_alloc", "").plumbing());
        assert!(f("push", "/rustc/abc/library/alloc/src/vec/mod.rs").library());
    }
}
