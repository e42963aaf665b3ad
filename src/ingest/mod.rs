//! `xueji ingest`: read registration snapshots, movements and school masters (XLSX/CSV, UTF-8 or
//! GBK), validate every field by the schema files, stage accepted rows and findings as Parquet,
//! then commit the night to the warehouse and write one import report per file.
//!
//! Guarantees: input rows = accepted + rejected for every file; a file that cannot be read as a
//! template gets one file-level error and changes nothing; the result does not depend on thread
//! count or on the order of the source arguments.

pub mod explain;
pub mod guard;
pub mod report;
pub mod source;
pub mod stage;
pub mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::cols::{SchoolCols, StudentCols};
use crate::schema::{Catalog, Severity, TableSchema, catalog};
use stage::{FindingRow, FindingSink, RowSink};
use validate::{SchoolInfo, Validator};

/// What happened to one source file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileReport {
    /// Path relative to the source argument it was found under (stable across machines).
    pub file: String,
    pub table: String,
    pub encoding: String,
    pub sheet: String,
    pub rows_in: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub warnings: u64,
    pub file_error: Option<(String, String)>,
    pub by_rule: BTreeMap<String, u64>,
    pub millis: u64,
    /// Student rows read per 学校标识码 (accepted or rejected): tonight's snapshot scope, and
    /// which file submitted which school.
    #[serde(skip)]
    pub schools: BTreeMap<String, SchoolRows>,
}

/// One school's student rows in one file.
#[derive(Debug, Clone, Default)]
pub struct SchoolRows {
    pub accepted: u64,
    pub rejected: u64,
    /// The first row (as Excel shows it) of the school in the file.
    pub first_row: u64,
}

/// A source file and the name it is known by.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub name: String,
}

/// Expand the SOURCES arguments: files as given, directories recursively (.xlsx .xls .csv).
///
/// A source is named by its path from the folder the user named (that folder's own name first),
/// or by its parent folder and file name when named directly. Two different files that would get
/// the same name (`x/data/students.csv` and `y/data/students.csv` named as files) are named by
/// more of their paths until the names differ: every per-file decision, staged row and report is
/// keyed by the name, so two files must never share one. A file named twice is read once.
pub fn list_sources(args: &[PathBuf]) -> Result<Vec<SourceFile>> {
    // (file, its shown name's component count, canonical path components)
    let mut found: Vec<(PathBuf, usize, Vec<String>)> = Vec::new();
    let mut push = |p: PathBuf, shown: usize| {
        let canon = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        let comps: Vec<String> = canon
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        found.push((p, shown, comps));
    };
    for a in args {
        if a.is_dir() {
            let mut stack = vec![a.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).with_context(|| format!("无法读取目录 {}", d.display()))? {
                    let p = e?.path();
                    // Hidden entries and Excel's lock files (`~$名单.xlsx`, left while a workbook is
                    // open) are not sources; nor is a directory marked with IGNORE_MARKER.
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if name.starts_with('.') || name.starts_with("~$") {
                        continue;
                    }
                    if p.is_dir() {
                        if !p.join(IGNORE_MARKER).exists() {
                            stack.push(p);
                        }
                    } else if p
                        .extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| ["xlsx", "xls", "xlsm", "csv"].contains(&x.to_ascii_lowercase().as_str()))
                    {
                        let depth = p.strip_prefix(a).map_or(1, |r| r.components().count());
                        push(p, depth + usize::from(a.file_name().is_some()));
                    }
                }
            }
        } else {
            push(
                a.clone(),
                if a.parent().and_then(|p| p.file_name()).is_some() {
                    2
                } else {
                    1
                },
            );
        }
    }
    found.sort_by(|a, b| a.2.cmp(&b.2));
    found.dedup_by(|a, b| a.2 == b.2);
    let name_of = |shown: usize, comps: &[String]| comps[comps.len() - shown.clamp(1, comps.len())..].join("/");
    loop {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, shown, comps)) in found.iter().enumerate() {
            by_name.entry(name_of(*shown, comps)).or_default().push(i);
        }
        let mut grew = false;
        for idx in by_name.values().filter(|v| v.len() > 1) {
            for &i in idx {
                if found[i].1 < found[i].2.len() {
                    found[i].1 += 1;
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    let mut out: Vec<SourceFile> = found
        .into_iter()
        .map(|(path, shown, comps)| SourceFile {
            name: name_of(shown, &comps),
            path,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A directory holding a file of this name is left out when its parent directory is ingested
/// (`xueji gen` marks its `truth/` so: `xueji ingest DIR` reads the night's files only).
pub const IGNORE_MARKER: &str = ".xueji-ignore";

/// Totals of a staging run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageMetrics {
    pub files: usize,
    pub file_errors: usize,
    pub rows_in: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub warnings: u64,
    /// Accepted rows per table.
    pub tables: BTreeMap<String, u64>,
    /// 学校标识码 of every student row read (accepted or rejected): the scope of tonight's snapshot.
    /// Left out of `--json` output: it lists every school of the province.
    #[serde(skip)]
    pub student_scope: Vec<String>,
    /// Files refused at file level: whatever was staged from them is left out of the commit.
    pub failed_files: Vec<String>,
    /// Schools that a second file submitted again tonight: that file's rows of the school are
    /// rejected (`R_SCHOOL_TWICE`), not stored.
    pub held_out: Vec<HeldOut>,
    /// 学校标识码 of the schools on 五四制 (known or sent tonight): the commit's deletion guard
    /// dates their classes' graduation by it.
    #[serde(skip)]
    pub five_four_schools: Vec<String>,
    /// `W_CLASS_YEAR` warnings left out because an approved 留级, 跳级, 休学 or 复学 explains them.
    pub explained: u64,
    pub seconds: f64,
}

/// A school's rows in a file that are not stored because another file submitted the school
/// first tonight.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub file: String,
    pub school_id: String,
    /// The file whose rows of the school are stored.
    pub kept_file: String,
    /// The file's rows of the school (accepted before this, and rejected).
    pub rows: u64,
    pub first_row: u64,
}

/// A school's registrations come from one file a night: with the school in several files (a
/// county's CSV and the school's own workbook, or copies of one file in two formats), the first
/// file by name keeps it, and the others' rows of that school are rejected as `R_SCHOOL_TWICE`
/// naming the kept file. Storing both would count every pupil twice (and pay the 一补 twice).
/// Files refused at file level submit nothing and so never compete.
fn one_file_per_school(reports: &mut [FileReport]) -> Vec<HeldOut> {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for i in 0..reports.len() {
        if reports[i].file_error.is_some() {
            continue;
        }
        let schools: Vec<String> = reports[i].schools.keys().cloned().collect();
        for school in schools {
            let Some(&k) = first.get(&school) else {
                first.insert(school, i);
                continue;
            };
            let kept_file = reports[k].file.clone();
            let r = &mut reports[i];
            let rows = r.schools.remove(&school).expect("listed");
            r.accepted -= rows.accepted;
            r.rejected += rows.accepted;
            *r.by_rule.entry("R_SCHOOL_TWICE".into()).or_default() += rows.accepted;
            out.push(HeldOut {
                file: r.file.clone(),
                school_id: school,
                kept_file,
                rows: rows.accepted + rows.rejected,
                first_row: rows.first_row,
            });
        }
    }
    out
}

/// Stage all sources into `dir`: phase 1 the school masters (validation needs them), then the rest.
pub fn stage_all(
    files: &[SourceFile],
    dir: &Path,
    date: NaiveDate,
    known_schools: HashMap<String, SchoolInfo>,
    class_moves: &std::collections::HashSet<String>,
    threads: usize,
) -> Result<(Vec<FileReport>, StageMetrics)> {
    let t0 = Instant::now();
    let cat = catalog();
    let progress = crate::progress::Progress::new("导入", "行", None);
    let (masters, rest): (Vec<_>, Vec<_>) = files.iter().cloned().partition(|f| peek_is_schools(&f.path, cat));
    let worker_ids = AtomicUsize::new(0);
    let mut schools = known_schools;
    let phase = Phase {
        dir,
        date,
        threads,
        ids: &worker_ids,
        progress: &progress,
        files_done: AtomicUsize::new(0),
        files_total: files.len(),
    };
    let (mut reports, found) = run_phase(&masters, Arc::new(schools.clone()), &phase)?;
    schools.extend(found);
    let mut five_four: Vec<String> = schools
        .iter()
        .filter(|(_, s)| s.five_four)
        .map(|(id, _)| id.clone())
        .collect();
    five_four.sort_unstable();
    let (r2, _) = run_phase(&rest, Arc::new(schools), &phase)?;
    progress.finish();
    reports.extend(r2);
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    let held_out = one_file_per_school(&mut reports);
    let explained = explain::explain_class_years(dir, &mut reports, class_moves)?;
    let mut m = StageMetrics {
        files: reports.len(),
        held_out,
        explained,
        five_four_schools: five_four,
        ..Default::default()
    };
    for r in &reports {
        m.file_errors += usize::from(r.file_error.is_some());
        m.rows_in += r.rows_in;
        m.accepted += r.accepted;
        m.rejected += r.rejected;
        m.warnings += r.warnings;
        if !r.table.is_empty() {
            *m.tables.entry(r.table.clone()).or_default() += r.accepted;
        }
    }
    let mut scope: Vec<String> = reports
        .iter()
        .filter(|r| r.file_error.is_none())
        .flat_map(|r| r.schools.keys().cloned())
        .collect();
    scope.sort_unstable();
    scope.dedup();
    m.student_scope = scope;
    m.failed_files = reports
        .iter()
        .filter(|r| r.file_error.is_some())
        .map(|r| r.file.clone())
        .collect();
    m.seconds = t0.elapsed().as_secs_f64();
    Ok((reports, m))
}

/// A CSV whose header row is the schools master's.
fn peek_is_schools(path: &Path, cat: &'static Catalog) -> bool {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return false;
    }
    source::open(path, cat).is_ok_and(|s| s.table.table.name == "schools")
}

type PhaseOut = (Vec<FileReport>, HashMap<String, SchoolInfo>);

/// What both phases of a staging run share.
struct Phase<'a> {
    dir: &'a Path,
    date: NaiveDate,
    threads: usize,
    ids: &'a AtomicUsize,
    progress: &'a crate::progress::Progress,
    files_done: AtomicUsize,
    files_total: usize,
}

fn run_phase(files: &[SourceFile], schools: Arc<HashMap<String, SchoolInfo>>, p: &Phase<'_>) -> Result<PhaseOut> {
    let (dir, date, threads, ids) = (p.dir, p.date, p.threads, p.ids);
    let next = AtomicUsize::new(0);
    let out = Mutex::new((Vec::new(), HashMap::new()));
    let first_err: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(files.len().max(1)) {
            s.spawn(|| {
                let worker = ids.fetch_add(1, Ordering::SeqCst);
                let res = (|| -> Result<()> {
                    let mut w = Worker::new(dir, worker, date, schools.clone(), p.progress.clone())?;
                    let cat = catalog();
                    let take = || {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        files.get(i).map(|f| (f, source::open_ahead(&f.path, cat)))
                    };
                    // The next file is opened before this one is processed: see `Opening`.
                    let mut ahead = take();
                    while let Some((f, opening)) = ahead.take() {
                        ahead = take();
                        let rep = w.process(f, opening)?;
                        let done = p.files_done.fetch_add(1, Ordering::Relaxed) + 1;
                        p.progress.note(format!("文件 {done}/{}", p.files_total));
                        out.lock().expect("lock").0.push(rep);
                    }
                    let found = w.finish()?;
                    out.lock().expect("lock").1.extend(found);
                    Ok(())
                })();
                if let Err(e) = res {
                    first_err.lock().expect("lock").get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().expect("lock") {
        return Err(e);
    }
    Ok(out.into_inner().expect("lock"))
}

/// Rows between two progress counts of a worker.
const PROGRESS_ROWS: u64 = 4096;

struct Worker {
    dir: PathBuf,
    id: usize,
    date: NaiveDate,
    schools: Arc<HashMap<String, SchoolInfo>>,
    sinks: HashMap<String, RowSink>,
    findings: FindingSink,
    found_schools: HashMap<String, SchoolInfo>,
    progress: crate::progress::Progress,
}

impl Worker {
    fn new(
        dir: &Path,
        id: usize,
        date: NaiveDate,
        schools: Arc<HashMap<String, SchoolInfo>>,
        progress: crate::progress::Progress,
    ) -> Result<Self> {
        Ok(Worker {
            dir: dir.to_path_buf(),
            id,
            date,
            schools,
            sinks: HashMap::new(),
            findings: FindingSink::new(dir, id)?,
            found_schools: HashMap::new(),
            progress,
        })
    }

    fn process(&mut self, f: &SourceFile, opening: source::Opening) -> Result<FileReport> {
        let t0 = Instant::now();
        let cat = catalog();
        let mut rep = FileReport {
            file: f.name.clone(),
            ..Default::default()
        };
        let mut src = match opening.wait(cat) {
            Ok(s) => s,
            Err(e) => {
                self.file_error(&mut rep, "", e.rule, &e.detail)?;
                rep.millis = t0.elapsed().as_millis() as u64;
                return Ok(rep);
            }
        };
        let table: &'static TableSchema = src.table;
        rep.table = table.table.name.clone();
        rep.encoding = src.encoding.into();
        rep.sheet = src.sheet.clone();
        let v = Validator::new(cat, table, self.date, self.schools.clone());
        let sc = (table.table.name == "students").then(|| StudentCols::new(table));
        let schc = (table.table.name == "schools").then(|| SchoolCols::new(table));
        if !self.sinks.contains_key(&table.table.name) {
            self.sinks
                .insert(table.table.name.clone(), RowSink::new(table, &self.dir, self.id)?);
        }
        let mut values = vec![String::new(); table.columns.len()];
        let mut hash_buf = Vec::with_capacity(1024);
        while let Some(row) = src.next_row() {
            let row_no = match row {
                Ok(r) => r,
                Err(e) => {
                    // A file that breaks part-way is refused whole: the commit leaves out every row
                    // staged from a file with a file-level error, so nothing is half-loaded.
                    self.file_error(&mut rep, &table.table.name, e.rule, &e.detail)?;
                    (rep.rows_in, rep.accepted, rep.rejected, rep.warnings) = (0, 0, 0, 0);
                    rep.schools.clear();
                    rep.millis = t0.elapsed().as_millis() as u64;
                    return Ok(rep);
                }
            };
            if src.row_is_blank() {
                continue;
            }
            rep.rows_in += 1;
            if rep.rows_in.is_multiple_of(PROGRESS_ROWS) {
                self.progress.inc(PROGRESS_ROWS);
            }
            for (slot, m) in values.iter_mut().zip(&src.mapping) {
                slot.clear();
                if let Some(k) = m {
                    slot.push_str(src.cell(*k));
                }
            }
            let found = v.check(&mut values);
            let key = base_key(table, &values, sc.as_ref());
            let mut errors = 0;
            for fd in &found {
                let sev = v.severity(fd.rule);
                if sev == Severity::Error {
                    errors += 1;
                } else {
                    rep.warnings += 1;
                }
                *rep.by_rule.entry(fd.rule.to_string()).or_default() += 1;
                let col = &table.columns[fd.column];
                self.findings.push(FindingRow {
                    file: &f.name,
                    table: &table.table.name,
                    row: Some(row_no),
                    column: Some((&col.name, &col.header)),
                    value: Some(&fd.value),
                    rule: fd.rule,
                    severity: sev.label(),
                    message: &cat.rule(fd.rule).message,
                    expected: &fd.expected,
                    base_key: Some(&key),
                })?;
            }
            if let Some(c) = &sc
                && !values[c.school_id].is_empty()
            {
                let school = &values[c.school_id];
                if !rep.schools.contains_key(school) {
                    let first = SchoolRows {
                        first_row: row_no,
                        ..Default::default()
                    };
                    rep.schools.insert(school.clone(), first);
                }
                let e = rep.schools.get_mut(school).expect("inserted");
                *(if errors > 0 { &mut e.rejected } else { &mut e.accepted }) += 1;
            }
            if errors > 0 {
                rep.rejected += 1;
                continue;
            }
            rep.accepted += 1;
            if let Some(c) = &schc {
                self.found_schools.insert(
                    values[c.school_id].clone(),
                    SchoolInfo::new(
                        &values[c.school_kind],
                        &values[c.ownership],
                        &values[c.county_code],
                        &values[c.school_system],
                    ),
                );
            }
            let hash = row_hash(&values, &mut hash_buf);
            self.sinks
                .get_mut(&table.table.name)
                .expect("inserted")
                .push(&values, &key, hash, &f.name, row_no)?;
        }
        self.progress.inc(rep.rows_in % PROGRESS_ROWS);
        debug_assert_eq!(rep.rows_in, rep.accepted + rep.rejected);
        rep.millis = t0.elapsed().as_millis() as u64;
        Ok(rep)
    }

    fn file_error(&mut self, rep: &mut FileReport, table: &str, rule: &'static str, detail: &str) -> Result<()> {
        let cat = catalog();
        let msg = &cat.rule(rule).message;
        rep.file_error = Some((
            rule.to_string(),
            if detail.is_empty() {
                msg.clone()
            } else {
                format!("{msg}：{detail}")
            },
        ));
        *rep.by_rule.entry(rule.to_string()).or_default() += 1;
        self.findings.push(FindingRow {
            file: &rep.file,
            table,
            row: None,
            column: None,
            value: None,
            rule,
            severity: Severity::File.label(),
            message: msg,
            expected: detail,
            base_key: None,
        })
    }

    fn finish(self) -> Result<HashMap<String, SchoolInfo>> {
        for (_, s) in self.sinks {
            s.finish()?;
        }
        self.findings.finish()?;
        Ok(self.found_schools)
    }
}

/// The identity of a row before occurrence numbering: what a registration is known by.
pub fn base_key(t: &TableSchema, v: &[String], sc: Option<&StudentCols>) -> String {
    match sc {
        Some(c) if !v[c.registration_no].is_empty() => format!("{}|{}", v[c.school_id], v[c.registration_no]),
        Some(c) => format!(
            "{}|{}:{}|{}|{}",
            v[c.school_id], v[c.id_type], v[c.id_number], v[c.name], v[c.birth_date]
        ),
        None => t
            .table
            .key
            .split('+')
            .map(|k| v[t.index_of(k).expect("key column")].as_str())
            .collect::<Vec<_>>()
            .join("|"),
    }
}

/// Content hash of a cleaned row: tells an unchanged registration from a changed one across nights.
/// The row is joined into `buf` and hashed in one call (the same value as streaming each field,
/// at a fraction of the cost).
pub fn row_hash(v: &[String], buf: &mut Vec<u8>) -> i64 {
    buf.clear();
    for s in v {
        buf.extend_from_slice(s.as_bytes());
        buf.push(0x1f);
    }
    xxh3_64(buf) as i64
}

#[cfg(test)]
mod tests {
    /// Warehouses committed before the one-call hash must see unchanged rows as unchanged.
    #[test]
    fn row_hash_equals_the_streaming_hash() {
        let v: Vec<String> = ["2341023001", "张三", "", "居民身份证"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for s in &v {
            h.update(s.as_bytes());
            h.update(&[0x1f]);
        }
        assert_eq!(super::row_hash(&v, &mut Vec::new()), h.digest() as i64);
    }

    /// A directory given to `xueji ingest` is read for its sources: not Excel's lock file of an
    /// open workbook, not hidden files, not a directory marked as not sources (`xueji gen`'s
    /// `truth/`). A file named explicitly is read whatever its name.
    #[test]
    fn a_directory_s_lock_files_hidden_files_and_marked_directories_are_not_sources() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("night");
        for f in [
            "a.csv",
            "b/c.xlsx",
            "~$c.xlsx",
            ".hidden.csv",
            "truth/records.csv",
            ".git/x.csv",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(d.join("truth").join(super::IGNORE_MARKER), "").unwrap();
        let names = |args: &[std::path::PathBuf]| -> Vec<String> {
            super::list_sources(args).unwrap().into_iter().map(|f| f.name).collect()
        };
        assert_eq!(names(std::slice::from_ref(&d)), ["night/a.csv", "night/b/c.xlsx"]);
        assert_eq!(names(&[d.join("~$c.xlsx")]), ["night/~$c.xlsx"], "named explicitly");
    }
}
