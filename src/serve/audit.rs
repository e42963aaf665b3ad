//! The audit log of `xueji serve`: one JSON line per request (who, what, which rows, when), on
//! disk before the response's first byte leaves; a response carrying rows adds a `done` line
//! with the bytes actually written to the client and whether the body went out whole. Lines from
//! concurrent requests are written together and made durable with one `fsync` (group commit), so
//! the log costs a disk flush per batch of requests, not per request.
//!
//! The log is bounded against what clients send: a path or query is cut to [`MAX_FIELD`] bytes
//! (marked), secrets (a `?access_token=`, anything named like a key, a token of ours anywhere in
//! the URL) are blanked, and requests without a valid token are written at most
//! `per_second` a second, the rest counted in one `suppressed` line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::oneshot;

/// A line to append (empty: only wait for the lines before it) and, for a writer that waits,
/// where to say when it is on disk.
type Job = (Vec<u8>, Option<oneshot::Sender<std::io::Result<()>>>);

/// A handle to the writer thread; clones share it.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    path: PathBuf,
    /// Why the last batch could not be written; None while writes succeed.
    failing: Arc<Mutex<Option<String>>>,
}

/// One line of the log.
#[derive(Debug, Serialize, Default)]
pub struct Entry<'a> {
    /// `response` when the response starts, `done` when a body carrying rows has gone out (or
    /// stopped).
    pub event: &'a str,
    pub at: String,
    pub request: u64,
    pub token: Option<&'a str>,
    pub jurisdiction: Option<&'a str>,
    pub remote: Option<String>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<bool>,
    /// Rows in the response (a page, known before it is sent) or, in the `done` line, rows the
    /// connection took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// `done`: body bytes written to the client's connection (for an incomplete body, at most
    /// this many).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// `done`: whether the whole body was written out (false: the client went away or stopped
    /// reading, or the query failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 全国学籍查询: what was looked up (masked), the date read, how many registrations were
    /// found and how many lay inside the jurisdiction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<serde_json::Value>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuditLog {
    /// Open (append to) the log and start its writer thread.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("无法创建审计日志目录 {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("无法打开审计日志 {}", path.display()))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let failing = Arc::new(Mutex::new(None));
        let (state, shown) = (failing.clone(), path.display().to_string());
        std::thread::Builder::new().name("xueji-audit".into()).spawn(move || {
            // A write that failed half-way left a torn line: the next batch starts a new one.
            let mut torn = false;
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                jobs.extend(rx.try_iter());
                let lines = jobs.iter().filter(|(l, _)| !l.is_empty()).count();
                let mut res = Ok(());
                if lines > 0 {
                    if torn {
                        res = file.write_all(b"\n");
                    }
                    for (line, _) in &jobs {
                        if res.is_ok() && !line.is_empty() {
                            res = file.write_all(line);
                        }
                    }
                    torn = res.is_err();
                    res = res.and_then(|_| file.sync_data());
                    let now_failing = res.as_ref().err().map(|e| e.to_string());
                    let mut was = lock(&state);
                    match (&*was, &now_failing) {
                        (None, Some(e)) => eprintln!(
                            "错误：无法写入审计日志 {shown}（{e}），暂停提供数据 / the audit log cannot be written; no data is served"
                        ),
                        (Some(_), None) => eprintln!("审计日志 {shown} 恢复写入 / the audit log is written again"),
                        _ => {}
                    }
                    *was = now_failing;
                }
                for (_, done) in jobs {
                    if let Some(done) = done {
                        let _ = done.send(
                            res.as_ref()
                                .map(|_| ())
                                .map_err(|e| std::io::Error::new(e.kind(), e.to_string())),
                        );
                    }
                }
            }
        })?;
        Ok(AuditLog {
            tx,
            path: path.to_path_buf(),
            failing,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the log could not be written the last time it was tried; None when it could.
    pub fn failing(&self) -> Option<String> {
        lock(&self.failing).clone()
    }

    /// Append a line and wait until it is on disk.
    pub async fn write(&self, e: &Entry<'_>) -> Result<()> {
        self.write_line(line(e)?).await
    }

    /// Append a line made by [`line`] and wait until it is on disk.
    pub async fn write_line(&self, line: Vec<u8>) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((line, Some(done)))
            .map_err(|_| anyhow::anyhow!("审计日志线程已停止"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("审计日志线程已停止"))?
            .with_context(|| format!("无法写入审计日志 {}", self.path.display()))
    }

    /// Append a line without waiting for it (the lines of requests that get no data).
    pub fn send(&self, e: &impl Serialize) {
        if let Ok(line) = line(e) {
            let _ = self.tx.send((line, None));
        }
    }

    /// Wait until every line sent before is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send((Vec::new(), Some(done))).is_ok() {
            let _ = wait.await;
        }
    }
}

/// An entry as a line of the log.
pub fn line(e: &impl Serialize) -> Result<Vec<u8>> {
    let mut line = serde_json::to_vec(e)?;
    line.push(b'\n');
    Ok(line)
}

pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The longest path, and the longest query, an audit line keeps.
pub const MAX_FIELD: usize = 512;

/// `s` cut to `max` bytes (at a character boundary), marked with its full length when cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[truncated, {} bytes]", &s[..cut], s.len())
}

/// Whether a query parameter's name says its value is a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "pass",
        "auth",
        "signature",
        "credential",
        "session",
        "cookie",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// How the log shows the value of a parameter that names a pupil (`/v1/lookup`'s): masked as
/// lists that leave the school mask it.
fn personal(name: &str) -> Option<fn(&str) -> String> {
    match name {
        "id_number" | "registration_no" => Some(crate::udf::mask_id),
        "name" => Some(crate::udf::mask_name),
        _ => None,
    }
}

/// A raw query string as the log keeps it: the value of every parameter named like a secret
/// (`access_token`, `api_key`, `secret`, …) blanked, a pupil's name, ID number and 学籍号 masked,
/// the rest as sent.
pub fn redact_query(q: &str) -> String {
    if q.is_empty() {
        return String::new();
    }
    q.split('&')
        .map(|part| {
            let (raw, value) = part.split_once('=').unwrap_or((part, ""));
            let name = url::form_urlencoded::parse(raw.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if secret_name(&name) {
                format!("{raw}=[redacted]")
            } else if let Some(mask) = personal(&name) {
                // Decoded whole (everything after the first `=`), masked, encoded again.
                let decoded = url::form_urlencoded::parse(format!("v={value}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let masked: String = url::form_urlencoded::byte_serialize(mask(&decoded).as_bytes()).collect();
                format!("{raw}={masked}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `s` with every run of 15 or more digits (a resident ID number, the digits of a 学籍号), and a
/// check character `x` or `X` ending it, cut to its first 6 digits and `*`: an ID number put in
/// any parameter or path never reaches the log whole. Nothing the API takes is that long (a
/// 学校标识码 has 10 digits, an offset at most 10).
pub fn redact_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run < 15 {
            i += run;
            continue;
        }
        let mut end = i + run;
        if end < b.len() && (b[end] == b'x' || b[end] == b'X') {
            end += 1;
        }
        // ASCII digits are whole characters, so these are character boundaries.
        out.push_str(&s[copied..i + 6]);
        out.extend(std::iter::repeat_n('*', end - i - 6));
        i = end;
        copied = end;
    }
    out.push_str(&s[copied..]);
    out
}

/// `s` with every token of ours in it (`xj_` and at least 16 hex digits, the underscore perhaps
/// percent-encoded) blanked: a token put in a path or an odd parameter is never logged either.
pub fn redact_tokens(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        let rest = &b[i..];
        let prefix = if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"xj_") {
            3
        } else if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"xj%5f") {
            5
        } else {
            0
        };
        if prefix > 0 {
            let run = rest[prefix..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if run >= 16 {
                out.push_str(&s[copied..i]);
                out.push_str("xj_[redacted]");
                i += prefix + run;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// The path and the query of a request as its audit line shows them: secrets blanked, ID numbers
/// masked, then cut to [`MAX_FIELD`] bytes each.
pub fn clean_target(path: &str, query: &str) -> (String, String) {
    (
        bounded(&redact_ids(&redact_tokens(path)), MAX_FIELD),
        bounded(&redact_ids(&redact_tokens(&redact_query(query))), MAX_FIELD),
    )
}

/// The rate limit on the lines of requests without a valid token: at most `per_second` lines in
/// a second; the rest are only counted, and one `suppressed` line a second gives their number.
pub struct Noise {
    per_second: u32,
    state: Mutex<NoiseState>,
}

#[derive(Default)]
struct NoiseState {
    window: Option<Instant>,
    logged: u32,
    /// Requests counted and not logged, by status.
    dropped: BTreeMap<u16, u64>,
    since: Option<String>,
}

/// The `suppressed` line.
#[derive(Serialize)]
struct Suppressed {
    event: &'static str,
    at: String,
    since: Option<String>,
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    limit_per_second: u32,
    reason: &'static str,
}

impl Noise {
    pub fn new(per_second: u32) -> Self {
        Noise {
            per_second,
            state: Mutex::new(NoiseState::default()),
        }
    }

    /// Whether the line of an unauthenticated request is written (else it is only counted).
    pub fn admit(&self, status: u16) -> bool {
        let mut s = lock(&self.state);
        let t = Instant::now();
        if s.window.is_none_or(|w| t.duration_since(w) >= Duration::from_secs(1)) {
            s.window = Some(t);
            s.logged = 0;
        }
        if s.logged < self.per_second {
            s.logged += 1;
            return true;
        }
        *s.dropped.entry(status).or_default() += 1;
        if s.since.is_none() {
            s.since = Some(now());
        }
        false
    }

    /// Write the `suppressed` line of the requests counted since the last one, if any.
    pub fn summarise(&self, log: &AuditLog) {
        let (dropped, since) = {
            let mut s = lock(&self.state);
            if s.dropped.is_empty() {
                return;
            }
            (std::mem::take(&mut s.dropped), s.since.take())
        };
        log.send(&Suppressed {
            event: "suppressed",
            at: now(),
            since,
            requests: dropped.values().sum(),
            statuses: dropped,
            limit_per_second: self.per_second,
            reason: "未认证的请求每秒只记录前几条，其余只计数 / requests without a valid token over the limit are counted, not logged one by one",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_blanked_and_long_fields_cut() {
        assert_eq!(
            redact_query("format=csv&access_token=xj_abc&API_KEY=1&limit=5"),
            "format=csv&access_token=[redacted]&API_KEY=[redacted]&limit=5"
        );
        assert_eq!(redact_query("%61ccess_token=x"), "%61ccess_token=[redacted]");
        let t = format!("xj_{}", "0a".repeat(24));
        assert_eq!(redact_tokens(&format!("/v1/lists/{t}/x")), "/v1/lists/xj_[redacted]/x");
        assert_eq!(redact_tokens(&format!("a=xj%5F{}", &t[3..])), "a=xj_[redacted]");
        assert_eq!(redact_tokens("xj_short"), "xj_short");
        let long = "学".repeat(1000);
        let cut = bounded(&long, MAX_FIELD);
        assert!(
            cut.len() < MAX_FIELD + 40 && cut.ends_with("…[truncated, 3000 bytes]"),
            "{cut}"
        );
        assert_eq!(bounded("/v1/lists", MAX_FIELD), "/v1/lists");
    }

    #[test]
    fn a_pupil_looked_up_is_masked_in_the_log() {
        assert_eq!(
            redact_query("name=%E5%BC%A0%E5%AD%90%E6%B6%B5&id_number=34102320151021075x&date=2026-10-15"),
            "name=%E5%BC%A0*%E6%B6%B5&id_number=341023************&date=2026-10-15"
        );
        assert_eq!(
            redact_query("registration_no=G341023201510210759"),
            "registration_no=G341023************"
        );
        assert_eq!(
            redact_ids("/v1/lookup/341023201510210759?q=x34102320151021075X&school=2341023001"),
            "/v1/lookup/341023************?q=x341023************&school=2341023001"
        );
        assert_eq!(redact_ids("学341023150101123"), "学341023*********", "15-digit legacy");
        let (_, q) = clean_target("/v1/lookup", "idno=341023201510210759&limit=5");
        assert_eq!(q, "idno=341023************&limit=5", "whatever the parameter is called");
    }

    #[test]
    fn noise_is_counted_past_the_limit() {
        let n = Noise::new(3);
        let admitted = (0..10).filter(|_| n.admit(401)).count();
        assert_eq!(admitted, 3);
        assert_eq!(lock(&n.state).dropped[&401], 7);
    }
}
