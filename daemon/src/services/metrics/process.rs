//! The process's own metrics, read from `/proc/self` (stat, status, fd, limits) at each scrape under the names every
//! Prometheus client uses (`process_*`): resident and virtual memory, CPU seconds, open and
//! allowed file descriptors, start time. Elsewhere than Linux they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug)]
pub(super) struct Process;

/// What `/proc/self` says now.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Sample {
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub virtual_bytes: i64,
    pub resident_bytes: i64,
    pub open_fds: i64,
    pub max_fds: Option<i64>,
}

/// Clock ticks per second of `/proc/*/stat`'s times: 100 on every Linux orgid runs on (`USER_HZ`,
/// fixed by the kernel's ABI whatever `CONFIG_HZ` is).
const TICKS: f64 = 100.0;

impl Sample {
    pub fn read() -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let mut s = parse_stat(&stat, &boot)?;
        // In kB whatever the page size (stat's count is in pages).
        s.resident_bytes = std::fs::read_to_string("/proc/self/status").ok().and_then(|t| vm_rss(&t))?;
        s.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
        s.max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| max_fds(&l));
        Some(s)
    }
}

/// From `/proc/self/stat` (after the command name, which may hold spaces and parentheses) and
/// the boot time in `/proc/stat`.
fn parse_stat(stat: &str, proc_stat: &str) -> Option<Sample> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields counted from `state` (field 3 of proc(5)) as 0.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    let (utime, stime, start) = (num(11)?, num(12)?, num(19)?);
    let vsize = f.get(20)?.parse::<i64>().ok()?;
    let btime = proc_stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse::<f64>().ok()?;
    Some(Sample {
        cpu_seconds: (utime + stime) / TICKS,
        start_time_seconds: btime + start / TICKS,
        virtual_bytes: vsize,
        resident_bytes: 0,
        open_fds: 0,
        max_fds: None,
    })
}

/// `VmRSS:` of `/proc/self/status`, in bytes.
fn vm_rss(status: &str) -> Option<i64> {
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim();
    kb.parse::<i64>().ok().map(|k| k * 1024)
}

fn max_fds(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = Sample::read() else { return Ok(()) };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let start = ConstGauge::new(s.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            start.metric_type(),
        )?)?;
        let mut gauges = vec![
            ("process_resident_memory_bytes", "Resident memory size in bytes", s.resident_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes", s.virtual_bytes),
            ("process_open_fds", "Number of open file descriptors", s.open_fds),
        ];
        if let Some(max) = s.max_fds {
            gauges.push(("process_max_fds", "Maximum number of open file descriptors", max));
        }
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn stat_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // proc(5): pid (comm) state ppid … utime(14) stime(15) … starttime(22) vsize(23)
        let stat = "4242 (or gid) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 1000 \
                    123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(stat, "cpu  1 2 3\nbtime 1700000000\n").unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 123_456_789);
        assert_eq!(vm_rss("Name:\torgid\nVmRSS:\t   20480 kB\nRssAnon: 1 kB\n"), Some(20480 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_fds(limits), Some(1024));
    }

    #[test]
    fn this_process_has_memory_fds_and_a_start_time() {
        let s = Sample::read().unwrap();
        assert!(s.resident_bytes > 1_000_000 && s.open_fds >= 3, "{s:?}");
        let now = chrono::Utc::now().timestamp() as f64;
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 3600.0, "{s:?}");
    }
}
