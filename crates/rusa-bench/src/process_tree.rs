//! Memory and CPU time of a process and all its descendants, read from `/proc` (Linux).
//!
//! A server may spawn workers (rasa-sdk's Sanic runs a manager process and worker
//! processes), so a figure for "the server" sums over its tree: the root's children are
//! found through the parent pid of every `/proc/<pid>/stat`. A process that ends between
//! the listing and the reading is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
pub const USER_HZ: f64 = 100.0;

/// Memory of a process tree, summed over its processes, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeMemory {
    /// How many processes the tree had.
    pub processes: usize,
    /// Sum of `VmRSS` (pages shared between the processes are counted once per process).
    pub rss_kib: u64,
    /// Sum of `Pss` from `smaps_rollup` (shared pages divided among their sharers).
    pub pss_kib: u64,
}

/// The pid `root` and the pids of all its descendants, root first.
pub fn pids(root: u32) -> anyhow::Result<Vec<u32>> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").context("cannot list /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(ppid) = stat_fields(&stat).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        if let Some(kids) = children.get(&tree[next]) {
            tree.extend(kids);
        }
        next += 1;
    }
    Ok(tree)
}

/// `VmRSS` and `Pss` of `root`'s tree.
pub fn memory(root: u32) -> anyhow::Result<TreeMemory> {
    let mut memory = TreeMemory::default();
    for pid in pids(root)? {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        memory.processes += 1;
        memory.rss_kib += kib_field(&status, "VmRSS:").unwrap_or(0);
        if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            memory.pss_kib += kib_field(&rollup, "Pss:").unwrap_or(0);
        }
    }
    anyhow::ensure!(memory.processes > 0, "process {root} is gone");
    Ok(memory)
}

/// User plus system CPU time used so far by `root`'s tree (all threads of each process,
/// in whole clock ticks: 10 ms each).
pub fn cpu_time(root: u32) -> anyhow::Result<Duration> {
    let mut ticks = 0.0;
    for pid in pids(root)? {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        ticks += stat_ticks(&stat).with_context(|| format!("/proc/{pid}/stat: no CPU time"))?;
    }
    Ok(Duration::from_secs_f64(ticks / USER_HZ))
}

/// User plus system CPU time of this process (the load generator's own share).
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    let ticks = stat_ticks(&stat).context("/proc/self/stat: no CPU time")?;
    Ok(Duration::from_secs_f64(ticks / USER_HZ))
}

/// The fields of a `stat` line after the command name (which may hold spaces and
/// parentheses): index 0 is the state, 1 the parent pid, 11 and 12 utime and stime.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

fn stat_ticks(stat: &str) -> Option<f64> {
    let fields = stat_fields(stat)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line's number.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let stat = "42 (a (weird) name) S 7 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0";
        let fields = stat_fields(stat).unwrap();
        assert_eq!(fields[0], "S");
        assert_eq!(fields[1], "7");
        assert_eq!(stat_ticks(stat), Some(280.0));
        assert_eq!(
            kib_field("VmHWM:\t  10 kB\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048)
        );
    }

    #[test]
    fn this_process_is_the_root_of_its_tree() {
        let me = std::process::id();
        assert_eq!(pids(me).unwrap()[0], me);
        let memory = memory(me).unwrap();
        assert!(memory.processes >= 1 && memory.rss_kib > 0, "{memory:?}");
    }
}
