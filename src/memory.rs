//! Memory measurement for the commands' JSON outcomes and the benchmarks.

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    peak_of("/proc/self/status")
}

/// Peak resident memory of the running process `pid` in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mb_of(pid: u32) -> Option<f64> {
    peak_of(&format!("/proc/{pid}/status"))
}

fn peak_of(status: &str) -> Option<f64> {
    let s = std::fs::read_to_string(status).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
