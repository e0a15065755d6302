//! The daemon's own process, as Prometheus' client libraries expose it (`process_*`): CPU time,
//! memory, file descriptors and start time, read from `/proc` on Linux.
//!
//! Invariants:
//! - Reads only this process's own files (`/proc/self/...`) and the boot time in `/proc/stat`; no
//!   file is read beyond a small bound, and nothing here panics on what it finds.
//! - Where `/proc` is missing or unreadable (another OS, a sandbox), there is no `process_*`
//!   series at all rather than a made-up value; a figure that alone cannot be read (the fd limit,
//!   say) is left out alone.

use std::io::Read;
use std::path::Path;

/// The process's figures, in base units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
}

/// The most read from one `/proc` file: `stat` and `limits` are well under a page.
const MAX_PROC_FILE: u64 = 64 * 1024;

/// This process's figures, or `None` where `/proc` cannot tell.
pub fn read() -> Option<ProcessStats> {
    let proc = Path::new("/proc");
    let stat = read_small(&proc.join("self/stat"))?;
    let boot_time = boot_time(&read_small(&proc.join("stat"))?)?;
    let clock = Clock {
        ticks_per_second: rustix::param::clock_ticks_per_second(),
        page_size: rustix::param::page_size() as u64,
        boot_time,
    };
    let mut stats = parse_stat(&stat, &clock)?;
    stats.open_fds = std::fs::read_dir(proc.join("self/fd"))
        .ok()
        .map(|dir| dir.count() as u64);
    stats.max_fds = read_small(&proc.join("self/limits")).and_then(|l| max_open_files(&l));
    Some(stats)
}

/// What turns `/proc/self/stat`'s ticks and pages into seconds and bytes.
#[derive(Debug, Clone, Copy)]
struct Clock {
    ticks_per_second: u64,
    page_size: u64,
    /// The machine's boot, in seconds since the Unix epoch (`btime` in `/proc/stat`).
    boot_time: u64,
}

fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_PROC_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// `/proc/self/stat`: the command name in parentheses may hold spaces and parentheses itself, so
/// the fields are counted from the last `)`.
fn parse_stat(stat: &str, clock: &Clock) -> Option<ProcessStats> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields are numbered from 1 in proc(5); `rest` starts at field 3 (state).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = clock.ticks_per_second.max(1) as f64;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        start_time_seconds: clock.boot_time as f64 + field(22)? as f64 / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)?.saturating_mul(clock.page_size),
        open_fds: None,
        max_fds: None,
    })
}

/// `btime` in `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`; `unlimited` is no figure.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: Clock = Clock {
        ticks_per_second: 100,
        page_size: 4096,
        boot_time: 1_700_000_000,
    };

    #[test]
    fn a_stat_line_whose_name_holds_spaces_and_parentheses_parses() {
        let stat = "4242 (rack (watch) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 50 0 0 20 0 3 0 12345 104857600 2560 18446744073709551615";
        let stats = parse_stat(stat, &CLOCK).unwrap();
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.start_time_seconds, 1_700_000_123.45);
        assert_eq!(stats.virtual_bytes, 104_857_600);
        assert_eq!(stats.resident_bytes, 2560 * 4096);
    }

    #[test]
    fn a_truncated_or_garbled_stat_line_is_no_figure() {
        assert_eq!(parse_stat("4242 (rackwatch) S 1 2 3", &CLOCK), None);
        assert_eq!(parse_stat("no parentheses at all", &CLOCK), None);
        assert_eq!(parse_stat("", &CLOCK), None);
    }

    #[test]
    fn boot_time_and_the_fd_limit_are_found_by_their_labels() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            max_open_files("Max open files            unlimited            unlimited   files"),
            None
        );
    }

    #[test]
    fn this_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let stats = read().expect("/proc/self on Linux");
            assert!(stats.resident_bytes > 0);
            assert!(stats.open_fds.is_some_and(|n| n >= 3));
            assert!(stats.start_time_seconds > 1.0e9);
        }
    }
}
