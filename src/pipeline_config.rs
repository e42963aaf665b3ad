//! Job definitions in `pipelines/*.toml`: which sources, which warehouse, which night.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::models::RunOptions;
use crate::pipeline::{IngestOptions, default_threads};

/// One nightly job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Warehouse location: a local directory or `s3://bucket/prefix`.
    pub warehouse: String,
    /// Files or folders to ingest (.xlsx .xls .csv).
    pub sources: Vec<PathBuf>,
    /// Snapshot date; the command line's `--date` wins, else today.
    pub date: Option<NaiveDate>,
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
    /// Memory limit in MB before DataFusion spills (default 4096).
    pub memory_mb: Option<usize>,
    /// Where import reports go (default: inside the warehouse).
    pub report_dir: Option<PathBuf>,
    /// Models (sql/) to run after the ingest: absent means all, `[]` none.
    pub models: Option<Vec<String>>,
    /// A school's deletions wait for a confirmation when a night would delete more than this
    /// share of its registrations (default 0.2) ...
    pub deletion_guard_share: Option<f64>,
    /// ... and at least this many (default 10).
    pub deletion_guard_min: Option<u64>,
    /// Schools whose held deletions are let through (`--confirm-deletions`).
    pub confirm_deletions: Option<Vec<String>>,
    /// Seconds to wait for another writer of the warehouse (default 0: fail at once).
    pub wait_lock_secs: Option<u64>,
    /// Run the models on this cluster (`df://HOST:PORT`); the ingest stays on this machine.
    pub cluster: Option<String>,
    /// After a committed night, vacuum the warehouse (`xueji vacuum --keep-hours N`): files
    /// replaced more than this many hours ago go (absent: the warehouse keeps every version).
    pub vacuum_keep_hours: Option<u64>,
}

impl PipelineConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("无法读取作业文件 {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("作业文件 {} 格式错误", path.display()))
    }

    /// Check the whole job before any I/O on the warehouse; report every problem at once.
    /// The ingest, then the model run (None when the job runs no models).
    pub fn into_job(self, date: Option<NaiveDate>) -> Result<(IngestOptions, Option<RunOptions>)> {
        let mut problems = Vec::new();
        if self.sources.is_empty() {
            problems.push("sources 为空：至少要有一个文件或目录".to_string());
        }
        for s in &self.sources {
            if !s.exists() {
                problems.push(format!("来源不存在：{}", s.display()));
            }
        }
        if self.threads == Some(0) {
            problems.push("threads 必须大于 0".into());
        }
        if self.deletion_guard_share.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            problems.push("deletion_guard_share 应在 0 与 1 之间".into());
        }
        if self
            .vacuum_keep_hours
            .is_some_and(|h| h < crate::warehouse::vacuum::MIN_KEEP_HOURS)
        {
            problems.push(format!(
                "vacuum_keep_hours 至少为 {}（正在读旧版本的查询与 xueji serve 会失去文件）",
                crate::warehouse::vacuum::MIN_KEEP_HOURS
            ));
        }
        if self.memory_mb.is_some_and(|m| m < 64) {
            problems.push("memory_mb 至少为 64".into());
        }
        let known: Vec<String> = crate::models::models()?.into_iter().map(|m| m.name).collect();
        for m in self.models.iter().flatten() {
            if !known.contains(m) {
                problems.push(format!("models 中的 {m} 不是模型；可用：{}", known.join(", ")));
            }
        }
        anyhow::ensure!(
            problems.is_empty(),
            "作业配置有 {} 个问题：\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
        let models = self.models.clone();
        let mut o = IngestOptions::new(
            &self.warehouse,
            date.or(self.date).unwrap_or_else(|| chrono::Local::now().date_naive()),
            self.sources,
        );
        o.threads = self.threads.unwrap_or_else(default_threads);
        o.memory_mb = self.memory_mb.unwrap_or(4096);
        o.report_dir = self.report_dir;
        o.guard.max_share = self.deletion_guard_share.unwrap_or(o.guard.max_share);
        o.guard.min_rows = self.deletion_guard_min.unwrap_or(o.guard.min_rows);
        o.guard.confirmed = self.confirm_deletions.unwrap_or_default();
        o.wait_lock_secs = self.wait_lock_secs.unwrap_or(0);
        let run = match models {
            Some(m) if m.is_empty() => None,
            m => Some(RunOptions {
                warehouse: o.warehouse.clone(),
                date: Some(o.date),
                only: m.unwrap_or_default(),
                threads: o.threads,
                memory_mb: o.memory_mb,
                jobs: crate::models::DEFAULT_JOBS,
                cluster: self.cluster,
                passes: None,
                wait_lock_secs: o.wait_lock_secs,
            }),
        };
        Ok((o, run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_all_problems_are_reported() {
        let err = toml::from_str::<PipelineConfig>("warehouse = 'w'\nsources = []\nthreds = 2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("threds"), "{err}");
        let c: PipelineConfig =
            toml::from_str("warehouse = 'w'\nsources = ['/no/such/file.csv']\nthreads = 0").unwrap();
        let err = c.into_job(None).unwrap_err().to_string();
        assert!(
            err.contains("2 个问题") && err.contains("/no/such/file.csv") && err.contains("threads"),
            "{err}"
        );
        let c: PipelineConfig = toml::from_str("warehouse = 'w'\nsources = ['.']\nvacuum_keep_hours = 0").unwrap();
        let err = c.into_job(None).unwrap_err().to_string();
        assert!(err.contains("vacuum_keep_hours 至少为 1"), "{err}");
    }

    #[test]
    fn the_demo_pipeline_parses() {
        let c = PipelineConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.toml")).unwrap();
        assert_eq!(c.date, Some(NaiveDate::from_ymd_opt(2026, 10, 15).unwrap()));
        assert_eq!(c.sources.len(), 10);
        let (_, run) = c.into_job(None).unwrap();
        assert!(run.is_some_and(|r| r.only.is_empty()), "the demo runs every model");
        let none: PipelineConfig = toml::from_str("warehouse = 'w'\nsources = ['.']\nmodels = []").unwrap();
        assert!(none.into_job(None).unwrap().1.is_none());
        let bad: PipelineConfig = toml::from_str("warehouse = 'w'\nsources = ['.']\nmodels = ['dedup_grups']").unwrap();
        assert!(bad.into_job(None).unwrap_err().to_string().contains("dedup_grups"));
    }
}
