//! What the server process costs, read from `/proc` (Linux only): CPU time
//! of the server (and of PostgreSQL's processes, when it runs on the same
//! core) and the server's peak resident memory.

use std::fs;

/// Clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`;
/// 100 on every Linux this runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of `pid`, or 0 when it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; fields after ')' are plain.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let ticks: u64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    ticks as f64 / TICKS_PER_SECOND
}

/// `/proc/<pid>/stat`'s fields after the command name.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Field 3 (state) is a letter; keep positions by mapping it to 0.
    Some(
        rest.split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// CPU seconds of `root` and its children, living and exited: the root's
/// own time, the time of children it has reaped (`cutime`, `cstime`), and
/// the time of its children still running. Counted at two instants, the
/// difference is what the tree spent between them, whichever children came
/// and went (PostgreSQL's backends and autovacuum workers do).
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let Some(fields) = stat_fields(root) else {
        return 0.0;
    };
    // utime, stime, cutime, cstime are fields 14–17 of the line: indexes
    // 11..15 after ')' (index 0 is the state letter).
    let mut ticks: u64 = fields.get(11..15).map(|f| f.iter().sum()).unwrap_or(0);
    for child in children(root) {
        if let Some(f) = stat_fields(child) {
            ticks += f.get(11..13).map(|f| f.iter().sum::<u64>()).unwrap_or(0);
        }
    }
    ticks as f64 / TICKS_PER_SECOND
}

/// The direct children of `pid` (Linux `children` lists of all its threads).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

/// Current resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, name: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts a new peak: `VmHWM` becomes the current RSS (`clear_refs` 5;
/// allowed for processes of the same user).
pub fn reset_peak_rss(pid: u32) {
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
