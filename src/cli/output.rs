//! What the commands print: run and ingest summaries, rendered reports, lookups.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use chrono::NaiveDate;

use crate::pipeline::{self, SqlFormat, default_threads};

/// `xueji lookup`: 0 found, 1 not found, 2 a query or date that cannot be looked up.
#[allow(clippy::too_many_arguments)]
pub(super) async fn lookup(
    warehouse: &str,
    as_of: Option<NaiveDate>,
    name: &str,
    id_number: Option<String>,
    registration_no: Option<String>,
    json: bool,
    threads: usize,
    memory_mb: usize,
) -> Result<ExitCode> {
    use crate::models::lookup as lk;
    let q = match lk::Query::parse(Some(name), id_number.as_deref(), registration_no.as_deref()) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("错误：{} / {}", e.zh, e.en);
            return Ok(ExitCode::from(2));
        }
    };
    let (ctx, source) = lk::open(warehouse, threads, memory_mb).await?;
    let Some(source) = source else {
        eprintln!(
            "错误：仓库 {warehouse} 中还没有学籍状态（student_status）：请先运行 xueji ingest 与 xueji run / no registration status yet"
        );
        return Ok(ExitCode::from(2));
    };
    let Some(date) = source.date(as_of) else {
        let first = source.dates.first().map(|d| d.to_string()).unwrap_or_default();
        eprintln!(
            "错误：{} 及以前没有学籍状态；最早的是 {first} / no status on or before that date",
            as_of.map(|d| d.to_string()).unwrap_or_default()
        );
        return Ok(ExitCode::from(2));
    };
    let found = lk::lookup(&ctx, date, &q).await?;
    if json {
        let body = serde_json::json!({
            "snapshot_date": date.to_string(),
            "masked": true,
            "query": q.masked(),
            "found": found.len(),
            "registrations": found,
        });
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else if found.is_empty() {
        println!(
            "全国学籍查询（截至 {date}）：未查到学籍；姓名与身份证件号（或全国学籍号）须与学籍完全一致 / not found"
        );
    } else {
        println!(
            "全国学籍查询（截至 {date}）：查到 {} 条学籍；姓名、学籍号、证件号已遮蔽 / {} found, masked",
            found.len(),
            found.len()
        );
        pipeline::print_batches(&[lk::table(&found)?], SqlFormat::Table, &mut std::io::stdout().lock())?;
    }
    Ok(if found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn print_run(out: &crate::models::RunOutcome) {
    println!(
        "模型运行 / model run {}（快照日期 {}）：{} 个模型",
        out.seq,
        out.snapshot_date,
        out.models.len()
    );
    for m in &out.models {
        let passes = match m.passes {
            1 => String::new(),
            n => format!("  分 {n} 遍 / {n} passes"),
        };
        println!(
            "  {:<24} {:>10} 行  {:>6.1} 秒{passes}",
            m.model,
            m.rows,
            m.millis as f64 / 1000.0
        );
    }
    println!(
        "  共用时 / models took {:.1} 秒（互不依赖的模型同时运行 / independent models overlap）",
        out.models_millis as f64 / 1000.0
    );
}

pub(super) fn show_ingest(out: &pipeline::IngestOutcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(out)?);
    } else {
        print_ingest(out);
    }
    Ok(())
}

pub(super) fn print_ingest(out: &pipeline::IngestOutcome) {
    let m = &out.metrics;
    println!(
        "快照日期 {}：{} 个文件（{} 个整文件未导入），读入 {} 行 = 成功 {} + 失败 {}；警告 {} 条；用时 {:.1} 秒",
        out.commit.snapshot_date, m.files, m.file_errors, m.rows_in, m.accepted, m.rejected, m.warnings, m.seconds
    );
    for (t, [i, u, d]) in &out.commit.changes {
        println!("  {t}: 新增 {i}，变更 {u}，删除 {d}");
    }
    for r in out.reports.iter().filter(|r| r.file_error.is_some()) {
        let (code, msg) = r.file_error.as_ref().expect("filtered");
        println!("  文件未导入 {}：{msg}（{code}）", r.file);
    }
    if m.explained > 0 {
        println!(
            "  班号与入学年月不一致、已由审核通过的留级/跳级/休学/复学异动说明的 {} 名学生不再提示（W_CLASS_YEAR）",
            m.explained
        );
    }
    for h in &out.metrics.held_out {
        println!(
            "  学校 {} 今晚已由 {} 提交：{} 中该校的 {} 行未导入（R_SCHOOL_TWICE）",
            h.school_id, h.kept_file, h.file, h.rows
        );
    }
    for h in &out.commit.held_deletions {
        println!(
            "  待确认：学校 {} 今晚将删除 {} 条学籍（上一晚 {} 条），删除未执行；确认后用 --confirm-deletions {} 重新导入",
            h.school_id, h.deletions, h.previous, h.school_id
        );
    }
    println!("导入报告 / import report: {}", out.report_index.display());
    if let Some(u) = &out.report_uploaded_to {
        println!("  已上传到 / uploaded to: {u}");
    }
    if let Some(e) = &out.report_error {
        eprintln!("错误：本晚已提交，但导入报告未能全部写出 / committed, but the import reports failed: {e}");
    }
}

/// Exit code 3: the night was committed, but its import reports (or what follows it, `after_error`:
/// the night's rendered reports, the vacuum) were not all done. 1 means nothing was committed.
pub(super) fn committed_code(out: &pipeline::IngestOutcome, after_error: Option<&str>) -> ExitCode {
    if let Some(e) = after_error {
        eprintln!("错误：本晚已提交，但其后的步骤失败 / committed, but a later step failed: {e}");
    }
    if out.report_error.is_some() || after_error.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

/// The reports of a night in `<warehouse>/reports/<date>/` when the warehouse is a local folder.
pub(super) async fn render_local(warehouse: &str, date: &str) -> Result<Option<crate::render::RenderOutcome>> {
    if warehouse.contains("://") {
        return Ok(None);
    }
    let mut o = crate::render::RenderOptions::new(warehouse, &PathBuf::from(warehouse).join("reports").join(date));
    o.date = Some(date.parse()?);
    o.threads = default_threads();
    o.memory_mb = 1024;
    Ok(Some(crate::render::render(&o).await?))
}

pub(super) fn print_render(r: Option<&crate::render::RenderOutcome>) {
    match r {
        Some(r) => {
            let docs: Vec<String> = r.documents.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "报表 / reports（快照日期 {}）：{} 个文件（{}），目录 / index {}",
                r.snapshot_date,
                r.files.len(),
                docs.join("，"),
                r.index
            );
            if !r.issued.is_empty() {
                println!("已登记的证明编号 / numbers issued：{}", r.issued.join("、"));
            }
            for (key, why) in &r.failed {
                eprintln!("错误：报表 {key} 未能生成（其他报表已生成）/ report {key} failed: {why}");
            }
        }
        None => println!(
            "仓库不在本地，未生成报表：请用 xueji render --out DIR / remote warehouse: run xueji render --out DIR"
        ),
    }
}

pub(super) fn print_vacuum(out: &crate::warehouse::vacuum::VacuumOutcome) {
    let verb = if out.dry_run {
        "将删除 / would remove"
    } else {
        "已删除 / removed"
    };
    for t in out.tables.iter().filter(|t| t.files > 0) {
        println!(
            "  {:<32} {:>7} 个文件 files  {:>10.1} MB",
            t.table,
            t.files,
            t.bytes as f64 / 1e6
        );
    }
    println!(
        "清理 / vacuum：{verb} {} 个文件，{:.1} MB（共 {} 张表；被替换不足 {} 小时的文件与各表已提交的版本保留 / files replaced within {} h and every table's committed version kept）",
        out.files,
        out.bytes as f64 / 1e6,
        out.tables.len(),
        out.keep_hours,
        out.keep_hours
    );
}
