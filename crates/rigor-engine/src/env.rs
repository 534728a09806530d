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

/// An RFC 3339 instant (`2026-12-04T15:00:00Z`, `2026-12-04T16:00:00.5+01:00`)
/// as ns since the Unix epoch.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!("`{text}` is not an RFC 3339 time ({why}); write it like `2026-12-04T15:00:00Z`, e.g. `date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%SZ`")
    };
    let t = text.trim();
    let num = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected digits"));
        }
        s.parse::<i64>().map_err(|_| bad("a number is too large"))
    };
    if t.len() < 20 || !t.is_char_boundary(19) {
        return Err(bad("too short"));
    }
    let (date, rest) = t.split_at(10);
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || !matches!(rest.as_bytes()[0], b'T' | b't' | b' ') {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let (y, mo, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let clock: Vec<&str> = rest[1..9].split(':').collect();
    if clock.len() != 3 {
        return Err(bad("expected HH:MM:SS"));
    }
    let (h, mi, s) = (num(clock[0])?, num(clock[1])?, num(clock[2])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return Err(bad("a field is out of range"));
    }
    let mut zone = &rest[9..];
    let mut frac_ns = 0i64;
    if let Some(f) = zone.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        let (frac, after) = f.split_at(digits);
        let nine: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        frac_ns = num(&nine)?;
        zone = after;
    }
    let offset_s = match zone {
        "Z" | "z" => 0,
        _ if zone.len() == 6 && matches!(&zone[..1], "+" | "-") && &zone[3..4] == ":" => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (num(&zone[1..3])? * 3600 + num(&zone[4..6])? * 60)
        }
        _ => return Err(bad("expected `Z` or an offset such as `+01:00` at the end")),
    };
    let secs =
        days_from_civil(y, mo as u32, day as u32) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    if secs < 0 {
        return Err(bad("before 1970"));
    }
    Ok(secs as u64 * 1_000_000_000 + frac_ns as u64)
}

/// ns since the Unix epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339_of(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn rfc3339_round_trips_and_names_what_is_wrong() {
        for days in [0, 11_016, 20_516, 20_791] {
            assert_eq!(
                civil_from_days(days_from_civil_of(days)),
                civil_from_days(days)
            );
        }
        let ns = parse_rfc3339("2026-12-04T15:00:00Z").unwrap();
        assert_eq!(rfc3339_of(ns), "2026-12-04T15:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2026-12-04T16:00:00.25+01:00").unwrap(),
            ns + 250_000_000
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        for bad in [
            "2026-12-04",
            "2026-13-04T00:00:00Z",
            "2026-12-04T15:00:00",
            "tomorrow",
        ] {
            assert!(
                parse_rfc3339(bad).unwrap_err().contains("RFC 3339"),
                "{bad}"
            );
        }
    }

    fn days_from_civil_of(days: i64) -> i64 {
        let (y, m, d) = civil_from_days(days);
        days_from_civil(y, m, d)
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_516), (2026, 3, 4));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
