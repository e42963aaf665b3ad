//! Fault injection for crash tests: `XUEJI_FAULT=<point>` aborts the process at that point, as a
//! kill would, so tests can prove that a night interrupted anywhere leaves the warehouse readable.

/// Abort here if the environment names this point.
pub fn hit(point: &str) {
    if std::env::var("XUEJI_FAULT").is_ok_and(|p| p == point) {
        eprintln!("XUEJI_FAULT: aborting at {point}");
        std::process::abort();
    }
}
