//! Signs of life on long work (`gen`, `ingest`, `run`, `render`, `bench`): a progress bar on a
//! terminal, a plain line every ten seconds when the output goes to a file or a pipe, nothing with
//! `--json` or `--quiet`. The command line sets the mode once; the library reports through
//! [`Progress`], which is silent unless told otherwise (tests, library users).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off = 0,
    /// A plain line every [`LINE_EVERY`] on standard error.
    Lines = 1,
    /// A bar on the terminal (standard error).
    Bar = 2,
}

static MODE: AtomicU8 = AtomicU8::new(Mode::Off as u8);

/// How often a plain progress line is written.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// Set the mode for this process: off when `quiet`, a bar on a terminal, else plain lines.
pub fn init(quiet: bool) {
    let mode = if quiet {
        Mode::Off
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else {
        Mode::Lines
    };
    MODE.store(mode as u8, Ordering::Relaxed);
}

fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        2 => Mode::Bar,
        1 => Mode::Lines,
        _ => Mode::Off,
    }
}

/// One piece of long work: a count of `unit`s done, out of `total` when known. Cheap to clone and
/// to share between threads; counting when silent costs one atomic add.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    what: String,
    unit: String,
    total: Option<u64>,
    done: AtomicU64,
    bar: Option<ProgressBar>,
    /// Plain lines: when the last one was written, and when the work began.
    lines: Option<Mutex<Instant>>,
    start: Instant,
}

impl Progress {
    /// Work called `what` (e.g. “导入”), counted in `unit` (“行”), `total` of them if known.
    pub fn new(what: &str, unit: &str, total: Option<u64>) -> Self {
        let m = mode();
        let bar = (m == Mode::Bar).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                format!("{what} {{bar:30}} {{human_pos}}/{{human_len}} {unit}  {{per_sec:0}}  剩余 {{eta}}  {{msg}}")
            } else {
                format!("{what} {{spinner}} {{human_pos}} {unit}  {{per_sec:0}}  {{elapsed}}  {{msg}}")
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            inner: Arc::new(Inner {
                what: what.to_string(),
                unit: unit.to_string(),
                total,
                done: AtomicU64::new(0),
                bar,
                lines: (m == Mode::Lines).then(|| Mutex::new(Instant::now())),
                start: Instant::now(),
            }),
        }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        let i = &self.inner;
        let done = i.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &i.bar {
            bar.inc(n);
        }
        if let Some(last) = &i.lines
            && let Ok(mut last) = last.try_lock()
            && last.elapsed() >= LINE_EVERY
        {
            *last = Instant::now();
            eprintln!("{}", i.line(done));
        }
    }

    /// A note beside the count (the file being read, the model running).
    pub fn note(&self, msg: impl Into<String>) {
        if let Some(bar) = &self.inner.bar {
            bar.set_message(msg.into());
        }
    }

    /// The work is over: the bar is cleared, a plain line says how much was done.
    pub fn finish(&self) {
        let i = &self.inner;
        if let Some(bar) = &i.bar {
            bar.finish_and_clear();
        }
        if i.lines.is_some() {
            eprintln!("{}（完成）", i.line(i.done.load(Ordering::Relaxed)));
        }
    }
}

impl Inner {
    fn line(&self, done: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let of = self.total.map(|t| format!(" / {t}")).unwrap_or_default();
        format!(
            "{}：{done}{of} {}，{secs:.0} 秒，每秒 {rate:.0} {}",
            self.what, self.unit, self.unit
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_progress_still_counts_and_a_line_says_how_much() {
        let p = Progress::new("导入", "行", Some(10));
        p.inc(3);
        p.inc(4);
        assert_eq!(p.inner.done.load(Ordering::Relaxed), 7);
        assert!(p.inner.line(7).starts_with("导入：7 / 10 行"), "{}", p.inner.line(7));
    }
}
