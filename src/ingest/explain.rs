//! A 班号 of another cohort than the 入学年月 (W_CLASS_YEAR) is what 留级, 跳级 and 休学→复学 do
//! to a pupil: the warning is for the rows nothing explains. After staging, the warnings of
//! pupils with such an approved movement — on record in the warehouse or in tonight's files —
//! are taken out of the findings and off their file's counts.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::FileReport;

/// The rule silenced, and the movements that explain it (seed 000 第三篇 三.12: the 入学年月
/// stays that of the stage's first grade "无论学生如何转学", while the class is the cohort the pupil
/// sits in now).
pub const RULE: &str = "W_CLASS_YEAR";
pub const CLASS_MOVES: [&str; 5] = ["留级", "跳级", "休学", "复学", "回国复学"];

/// A text column of a staged batch, by name.
fn text(b: &RecordBatch, name: &str) -> Result<StringArray> {
    crate::warehouse::strings(b.column(b.schema().index_of(name)?))
}

/// 学籍号 of pupils with an approved class-changing movement in tonight's staged movements,
/// leaving out the `failed` files (refused whole: their rows are not committed).
fn staged_moves(dir: &Path, failed: &HashSet<&str>) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for part in parts(&dir.join("movements"))? {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&part)?)?.build()?;
        for b in reader {
            let b = b?;
            let (no, kind, status, file) = (
                text(&b, "registration_no")?,
                text(&b, "movement_type")?,
                text(&b, "status")?,
                text(&b, "source_file")?,
            );
            for i in 0..b.num_rows() {
                if no.is_valid(i)
                    && status.is_valid(i)
                    && status.value(i) == "审核通过"
                    && kind.is_valid(i)
                    && CLASS_MOVES.contains(&kind.value(i))
                    && !failed.contains(file.value(i))
                {
                    out.insert(no.value(i).to_string());
                }
            }
        }
    }
    Ok(out)
}

fn parts(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut v: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    Ok(v)
}

/// Remove the W_CLASS_YEAR findings of pupils with a class-changing movement (`known`: from the
/// warehouse; tonight's staged movements are added) and take them off their files' counts.
/// Returns how many were explained.
pub fn explain_class_years(dir: &Path, reports: &mut [FileReport], known: &HashSet<String>) -> Result<u64> {
    // A file refused at file level has no counts left and nothing of it is committed: its
    // movements explain nothing and its findings stay as they are.
    let failed: HashSet<&str> = reports
        .iter()
        .filter(|r| r.file_error.is_some())
        .map(|r| r.file.as_str())
        .collect();
    let tonight = staged_moves(dir, &failed)?;
    if known.is_empty() && tonight.is_empty() {
        return Ok(0);
    }
    let moved = |regno: &str| known.contains(regno) || tonight.contains(regno);
    let mut by_file: BTreeMap<String, u64> = BTreeMap::new();
    for part in parts(&dir.join("findings"))? {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&part)?)?;
        let schema = builder.schema().clone();
        let tmp = part.with_extension("tmp");
        let mut writer = ArrowWriter::try_new(File::create(&tmp)?, schema.clone(), None)?;
        let mut dropped = 0;
        for b in builder.build()? {
            let b = b?;
            let (rule, key, file) = (text(&b, "rule_code")?, text(&b, "base_key")?, text(&b, "source_file")?);
            let keep: BooleanArray = (0..b.num_rows())
                .map(|i| {
                    // A student's base key is `school|学籍号` when the row has a 学籍号.
                    let explained = rule.value(i) == RULE
                        && !failed.contains(file.value(i))
                        && key.is_valid(i)
                        && key.value(i).split_once('|').is_some_and(|(_, no)| moved(no));
                    if explained {
                        *by_file.entry(file.value(i).to_string()).or_default() += 1;
                    }
                    Some(!explained)
                })
                .collect();
            let kept = filter_record_batch(&b, &keep)?;
            dropped += b.num_rows() - kept.num_rows();
            writer.write(&kept)?;
        }
        writer.close()?;
        if dropped > 0 {
            std::fs::rename(&tmp, &part).with_context(|| format!("无法改写暂存文件 {}", part.display()))?;
        } else {
            std::fs::remove_file(&tmp)?;
        }
    }
    let mut total = 0;
    for r in reports.iter_mut() {
        if let Some(&n) = by_file.get(&r.file) {
            r.warnings -= n;
            total += n;
            let left = r.by_rule.get_mut(RULE).map(|c| {
                *c -= n;
                *c
            });
            if left == Some(0) {
                r.by_rule.remove(RULE);
            }
        }
    }
    Ok(total)
}
