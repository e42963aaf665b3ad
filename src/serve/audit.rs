//! The audit log of `xueji serve`: one JSON line per request (who, what, which rows, when), on
//! disk before the response's first byte leaves; a streamed list adds a second line with the
//! rows it sent. Lines from concurrent requests are written together and made durable with one
//! `fsync` (group commit), so the log costs a disk flush per batch of requests, not per request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::oneshot;

type Job = (Vec<u8>, oneshot::Sender<std::io::Result<()>>);

/// A handle to the writer thread; clones share it.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    path: PathBuf,
}

/// One line of the log.
#[derive(Debug, Serialize, Default)]
pub struct Entry<'a> {
    /// `response` when the response starts, `done` when a streamed body ends.
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
    /// Rows sent (known before the response for pages; in the `done` line for streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Whether a stream reached its end (false: the client went away or the query failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
        std::thread::Builder::new().name("xueji-audit".into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                jobs.extend(rx.try_iter());
                let mut res = Ok(());
                for (line, _) in &jobs {
                    if res.is_ok() {
                        res = file.write_all(line);
                    }
                }
                let res = res.and_then(|_| file.sync_data());
                for (_, done) in jobs {
                    let _ = done.send(
                        res.as_ref()
                            .map(|_| ())
                            .map_err(|e| std::io::Error::new(e.kind(), e.to_string())),
                    );
                }
            }
        })?;
        Ok(AuditLog {
            tx,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append a line and wait until it is on disk.
    pub async fn write(&self, e: &Entry<'_>) -> Result<()> {
        let mut line = serde_json::to_vec(e)?;
        line.push(b'\n');
        let (done, wait) = oneshot::channel();
        self.tx
            .send((line, done))
            .map_err(|_| anyhow::anyhow!("审计日志线程已停止"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("审计日志线程已停止"))?
            .with_context(|| format!("无法写入审计日志 {}", self.path.display()))
    }
}

pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}
