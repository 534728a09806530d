//! The environment a run happened in, the clock's own cost, and timestamps.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::results::{Environment, Harness};

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Reads the machine's description. `rustc` and `git_commit` come from the binary's build.
pub fn capture(
    rigor_version: &str,
    rustc: &str,
    git_commit: Option<&str>,
    cargo_lock: Option<&str>,
) -> Environment {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    Environment {
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        os: format!("{} {}", std::env::consts::OS, kernel)
            .trim()
            .to_string(),
        hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default(),
        rustc: rustc.to_string(),
        rigor_version: rigor_version.to_string(),
        git_commit: git_commit.map(str::to_string),
        cargo_lock: cargo_lock.map(str::to_string),
        peers: Default::default(),
        clock_source: read_trimmed(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        ),
    }
}

/// Measures the cost and resolution of `Instant::now()`.
pub fn calibrate_timer() -> Harness {
    const N: usize = 200_000;
    let mut costs = Vec::with_capacity(21);
    let mut resolution = u64::MAX;
    for _ in 0..21 {
        let start = Instant::now();
        let mut last = start;
        for _ in 0..N / 20 {
            let now = Instant::now();
            let d = now.duration_since(last).as_nanos() as u64;
            if d > 0 && d < resolution {
                resolution = d;
            }
            last = now;
        }
        costs.push(last.duration_since(start).as_nanos() as f64 / (N / 20) as f64);
    }
    Harness {
        timer_cost_ns: crate::stats::median(&costs).unwrap_or_default(),
        timer_resolution_ns: if resolution == u64::MAX {
            0
        } else {
            resolution
        },
        memory_accounting: crate::alloc::counting_installed(),
        timing: "each operation timed alone with one Instant::now() read: an operation's \
                 end is the next one's start, so each latency includes one clock read and \
                 the loop's own recording (`loop_cost_ns`); with `timing: auto` operations \
                 under 1us, and with `timing: batch` all, are timed in batches of at least \
                 10us whose means make the histogram (a trial's `batch` says how many per \
                 batch)"
            .into(),
        loop_cost_ns: Some(crate::drive::loop_cost_ns()),
    }
}

/// The current time as RFC 3339 UTC (`2026-11-25T04:00:00Z`).
pub fn now_rfc3339() -> String {
    let (y, mo, d, h, mi, s) = civil_now();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The current time for directory names (`20261125T040000Z`).
pub fn now_compact() -> String {
    let (y, mo, d, h, mi, s) = civil_now();
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

fn civil_now() -> (i64, u32, u32, u32, u32, u32) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_516), (2026, 3, 4));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
