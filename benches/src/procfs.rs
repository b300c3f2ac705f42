//! CPU and memory of a process from `/proc`, without `unsafe` (the workspace forbids it, so no
//! `getrusage` through libc): `utime`+`stime` from `/proc/PID/stat` (all threads, including
//! ones that already exited), `VmRSS`/`VmHWM` from `/proc/PID/status`, `Pss` from
//! `/proc/PID/smaps_rollup`. Parsers are pure; the readers are thin.
//!
//! CPU resolution is one clock tick (10 ms at the usual `USER_HZ` of 100), ample for runs of
//! ten seconds and more.

use std::io;

/// Which process: this one or a child by pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pid {
    OwnProcess,
    /// The calling thread only (`/proc/thread-self`).
    OwnThread,
    Other(u32),
}

impl Pid {
    fn path(self, file: &str) -> String {
        match self {
            Pid::OwnProcess => format!("/proc/self/{file}"),
            Pid::OwnThread => format!("/proc/thread-self/{file}"),
            Pid::Other(p) => format!("/proc/{p}/{file}"),
        }
    }
}

/// User and system CPU time, in clock ticks, from the text of `/proc/PID/stat`.
pub fn parse_stat_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'; fields
    // after the last ')' are plain. utime and stime are fields 14 and 15, i.e. the 12th and
    // 13th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace().skip(11);
    let utime = f.next()?.parse().ok()?;
    let stime = f.next()?.parse().ok()?;
    Some((utime, stime))
}

/// `(VmRSS, VmHWM)` in bytes from the text of `/proc/PID/status`.
pub fn parse_status_mem(status: &str) -> Option<(u64, u64)> {
    Some((kib_field(status, "VmRSS:")?, kib_field(status, "VmHWM:")?))
}

/// A `Name:   1234 kB` line's value in bytes.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user + system) the process has used so far.
pub fn cpu_seconds(pid: Pid) -> io::Result<f64> {
    let text = std::fs::read_to_string(pid.path("stat"))?;
    let (u, s) = parse_stat_ticks(&text).ok_or_else(|| bad(&pid.path("stat")))?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    // Tick counts are far below 2^52.
    Ok((u + s) as f64 / hz as f64)
}

/// Resident memory now and its high-water mark, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    pub rss: u64,
    pub hwm: u64,
}

pub fn mem(pid: Pid) -> io::Result<Mem> {
    let text = std::fs::read_to_string(pid.path("status"))?;
    let (rss, hwm) = parse_status_mem(&text).ok_or_else(|| bad(&pid.path("status")))?;
    Ok(Mem { rss, hwm })
}

/// Proportional set size (shared pages divided among their users), in bytes: what a process
/// really adds when many copies of the same binary run, as with one ffmpeg per camera.
pub fn pss(pid: Pid) -> io::Result<u64> {
    let text = std::fs::read_to_string(pid.path("smaps_rollup"))?;
    kib_field(&text, "Pss:").ok_or_else(|| bad(&pid.path("smaps_rollup")))
}

fn bad(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected format of {path}"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_command_name() {
        let s = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                 1234 567 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_ticks(s), Some((1234, 567)));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tvms\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t4\n";
        assert_eq!(parse_status_mem(s), Some((10_240 * 1024, 20_480 * 1024)));
        assert_eq!(parse_status_mem("Name: x\n"), None);
        assert_eq!(kib_field("Pss:  12 kB\n", "Pss:"), Some(12 * 1024));
    }

    #[test]
    fn reads_own_process() {
        let m = mem(Pid::OwnProcess).unwrap();
        assert!(m.rss > 0 && m.hwm >= m.rss);
        assert!(cpu_seconds(Pid::OwnProcess).unwrap() >= 0.0);
        assert!(pss(Pid::OwnProcess).unwrap() > 0);
        let t = cpu_seconds(Pid::OwnThread).unwrap();
        assert!(t >= 0.0 && t <= cpu_seconds(Pid::OwnProcess).unwrap());
    }
}
