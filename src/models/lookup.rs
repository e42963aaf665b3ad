//! 全国学籍查询 (seed 001 第16章): a pupil's registrations, found by name and ID number or by name
//! and 全国学籍号, with the province, school, stage, status, whether each is a 问题学籍 and when it
//! last changed; the identity shown masked, as lists that leave the school mask it. `xueji lookup`
//! and the API's `/v1/lookup` both answer from here.
//!
//! A lookup is exact, never partial or fuzzy (it must not become a search engine over children):
//! the name as ingest stores it (trimmed, inner spaces removed), the ID number as written but for
//! the case of its check character `X`, the 学籍号 in upper case. The values reach DataFusion as
//! parameters (`$1`…), never as SQL text.
//!
//! It reads the identity from `students_log` (each record's latest change on or before the date,
//! as the `students` view has it, without building that view for the whole warehouse) and the
//! rest from the marts of that same date: `student_status`, `dedup_members`, `school_regions`.
//! The date is one `student_status` was run for (the latest on or before the one asked), so the
//! identity and the status describe the same night.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use crate::warehouse::{self, ModelRun, Warehouse};

/// The marts a lookup reads besides `students_log`.
pub const MODELS: [&str; 3] = ["student_status", "dedup_members", "school_regions"];

/// The longest name a lookup takes (the import's limit) and the longest ID number.
const MAX_NAME: usize = 50;
const MAX_ID: usize = 30;

/// What the pupil is looked up by, besides the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum By {
    IdNumber(String),
    RegistrationNo(String),
}

/// A lookup as the screen takes it: 姓名 and 身份证件号, or 姓名 and 全国学籍号.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub by: By,
}

/// Why a lookup was refused, in Chinese and English. The messages never repeat the values given:
/// they are a child's identity.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub zh: String,
    pub en: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.zh, self.en)
    }
}

fn invalid(zh: impl Into<String>, en: impl Into<String>) -> Invalid {
    Invalid {
        zh: zh.into(),
        en: en.into(),
    }
}

/// A name as ingest stores it: trimmed, without the spaces inside (W_NAME_SPACES).
fn normalise_name(s: &str) -> String {
    s.trim_matches(char::is_whitespace)
        .chars()
        .filter(|c| *c != ' ' && *c != '\u{3000}')
        .collect()
}

impl Query {
    /// Check and normalise what was typed. Seed 001 第16章: "输入学生XX和XX件号,或者XX和全国学籍号"
    /// (the scrape writes XX for 姓名 and 身份证) — the name always, and exactly one of the numbers.
    pub fn parse(name: Option<&str>, id_number: Option<&str>, registration_no: Option<&str>) -> Result<Query, Invalid> {
        let name = name.map(normalise_name).unwrap_or_default();
        if name.is_empty() {
            return Err(invalid(
                "缺少姓名：全国学籍查询须输入学生姓名和身份证件号，或姓名和全国学籍号",
                "the name is required, with the ID number or the 学籍号",
            ));
        }
        // The import's rule for a name (R_NAME_CHARS): letters, and the dot of a minority name.
        let letters = name
            .chars()
            .all(|c| c.is_alphabetic() && !c.is_ascii_digit() || c == '·' || c == '•' || c == '.');
        if !letters || name.chars().count() > MAX_NAME {
            return Err(invalid(
                format!("姓名应为汉字或字母（少数民族姓名可用“·”），不超过 {MAX_NAME} 个字"),
                format!("a name is letters (and · in a minority name), at most {MAX_NAME} characters"),
            ));
        }
        let id = id_number.map(str::trim).filter(|s| !s.is_empty());
        let no = registration_no.map(str::trim).filter(|s| !s.is_empty());
        let by = match (id, no) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "身份证件号和全国学籍号只能给一个",
                    "give the ID number or the 学籍号, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "缺少身份证件号或全国学籍号：须与姓名一起给出其中一个",
                    "the ID number or the 学籍号 is required with the name",
                ));
            }
            (Some(id), None) => {
                let ok = id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"()-".contains(&b));
                if !ok {
                    return Err(invalid(
                        format!("身份证件号应为半角数字和字母，不超过 {MAX_ID} 位（查询须完全一致，不支持通配符）"),
                        format!("an ID number is ASCII digits and letters, at most {MAX_ID} (exact; no wildcards)"),
                    ));
                }
                // The check character as the standard writes it; `lookup` matches either case.
                let mut id = id.to_string();
                if id.ends_with('x') {
                    id.pop();
                    id.push('X');
                }
                By::IdNumber(id)
            }
            (None, Some(no)) => {
                let no = no.to_ascii_uppercase();
                let b = no.as_bytes();
                // The import's rule (R_REGISTRATION_NO): G, J or L and 18 more.
                let ok = b.len() == 19
                    && matches!(b[0], b'G' | b'J' | b'L')
                    && b[1..18].iter().all(u8::is_ascii_digit)
                    && (b[18].is_ascii_digit() || b[18] == b'X');
                if !ok {
                    return Err(invalid(
                        "全国学籍号应为 19 位：G、J 或 L 加 18 位（查询须完全一致）",
                        "a 学籍号 is 19 characters: G, J or L and 18 more (exact)",
                    ));
                }
                By::RegistrationNo(no)
            }
        };
        Ok(Query { name, by })
    }

    /// The query as an audit line or a response repeats it: masked like the registrations.
    pub fn masked(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let (by, value) = match &self.by {
            By::IdNumber(v) => ("id_number", v),
            By::RegistrationNo(v) => ("registration_no", v),
        };
        m.insert("by".into(), by.into());
        m.insert("name".into(), crate::udf::mask_name(&self.name).into());
        m.insert(by.into(), crate::udf::mask_id(value).into());
        m
    }
}

/// What a session holds for lookups: the dates `student_status` was run for.
#[derive(Debug, Clone)]
pub struct Source {
    pub dates: Vec<NaiveDate>,
}

impl Source {
    /// The date a lookup reads: the latest run on or before `as_of` (default: the latest).
    pub fn date(&self, as_of: Option<NaiveDate>) -> Option<NaiveDate> {
        self.dates
            .iter()
            .copied()
            .filter(|d| as_of.is_none_or(|a| *d <= a))
            .max()
    }
}

/// Register in `ctx` what a lookup reads: `students_log` at the last committed night and the
/// marts of [`MODELS`] (as `<model>_all`) at their last runs, unless registered already. None
/// when nothing was committed yet or `student_status` was never run.
pub async fn register(
    wh: &Warehouse,
    ctx: &SessionContext,
    runs: &BTreeMap<String, ModelRun>,
) -> Result<Option<Source>> {
    let Some(status) = runs.get("student_status") else {
        return Ok(None);
    };
    let Some(&version) = wh.committed_versions(ctx).await?.get("students") else {
        return Ok(None);
    };
    let log = warehouse::scan(&wh.at_version("students", version).await?, ctx).await?;
    ctx.deregister_table("students_log")?;
    ctx.register_table("students_log", log)?;
    for m in MODELS {
        let all = format!("{m}_all");
        if ctx.table_exist(all.as_str())? {
            continue;
        }
        match runs.get(m) {
            Some(run) => warehouse::register_model(wh, ctx, m, run.version, None).await?,
            // A mart never run: empty, and a lookup still answers (without a school name or a
            // problem flag it cannot know).
            None => {
                let schema = super::out_schema(m)?.arrow_with_date();
                ctx.register_table(all.as_str(), Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            }
        }
    }
    Ok(Some(Source {
        dates: status.dates.clone(),
    }))
}

/// A session over the warehouse holding what a lookup reads (`xueji lookup`'s; the server keeps
/// one per snapshot).
pub async fn open(location: &str, threads: usize, memory_mb: usize) -> Result<(SessionContext, Option<Source>)> {
    let wh = Warehouse::open(location)?;
    let ctx = warehouse::session(threads, memory_mb)?;
    let runs = wh.model_runs(&ctx).await?;
    let source = register(&wh, &ctx, &runs).await?;
    Ok((ctx, source))
}

/// One registration found, as the screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// 姓名, masked (`张*涵`).
    pub name: String,
    /// 全国学籍号, masked (`G341023************`).
    pub registration_no: String,
    /// 身份证件号, masked (`341023************`).
    pub id_number: String,
    pub province_code: Option<String>,
    /// 所在省份.
    pub province_name: Option<String>,
    /// The school's county (what a jurisdiction is cut by).
    pub county_code: Option<String>,
    pub school_id: Option<String>,
    pub school_name: Option<String>,
    /// 就读学段: 小学, 初中, 高中.
    pub stage: Option<String>,
    /// 年级, e.g. 小学三年级 (none past the stage's last grade).
    pub grade: Option<String>,
    /// 就读状态 (student_status.status): 在校, 休学, 转出, 毕业, …
    pub status: Option<String>,
    /// 是否问题学籍: a member of a problem group not yet resolved.
    pub problem: bool,
    /// Each unresolved kind with its state, e.g. `身份证件号重复（待处理）`.
    pub problem_kinds: Vec<String>,
    /// The night the record last changed (the `students` view's `changed_on`).
    pub changed_on: String,
    /// The date of the movement that decided the status, if one did.
    pub status_since: Option<String>,
    /// 最新学籍变动时间: the later of the two.
    pub latest_change: String,
}

impl Found {
    /// What the national screen shows of a registration outside the viewer's jurisdiction: the
    /// province, stage, status, problem flag and date (seed 001 第16章's result), not the school.
    pub fn without_school(mut self) -> Found {
        self.county_code = None;
        self.school_id = None;
        self.school_name = None;
        self.grade = None;
        self
    }
}

/// The columns of the screen's result, with their Chinese labels (the CLI's table).
pub const COLUMNS: [(&str, &str); 11] = [
    ("name", "姓名"),
    ("registration_no", "全国学籍号"),
    ("id_number", "身份证件号"),
    ("province_name", "所在省份"),
    ("school_id", "学校标识码"),
    ("school_name", "学校名称"),
    ("stage", "就读学段"),
    ("grade", "年级"),
    ("status", "就读状态"),
    ("problem", "是否问题学籍"),
    ("latest_change", "最新学籍变动时间"),
];

fn stage_name(stage: &str) -> Option<&'static str> {
    match stage {
        "1" => Some("小学"),
        "2" => Some("初中"),
        "3" => Some("高中"),
        _ => None,
    }
}

fn grade_name(stage: &str, grade: &str) -> Option<String> {
    let name = stage_name(stage)?;
    // 初中 has four grades under 五四制; a class past its stage has graduated (no grade).
    let last = match stage {
        "1" => 6,
        "2" => 4,
        _ => 3,
    };
    let g: usize = grade.parse().ok()?;
    let numeral = ["一", "二", "三", "四", "五", "六"];
    (1..=last).contains(&g).then(|| format!("{name}{}年级", numeral[g - 1]))
}

fn at(a: &StringArray, i: usize) -> Option<String> {
    a.is_valid(i).then(|| a.value(i).to_string())
}

/// The registrations of a lookup as of `date` (a date of [`Source::dates`]), ordered by record.
pub async fn lookup(ctx: &SessionContext, date: NaiveDate, q: &Query) -> Result<Vec<Found>> {
    let mut params = vec![ScalarValue::Utf8(Some(q.name.clone()))];
    let key = match &q.by {
        By::IdNumber(id) => {
            // The check character in either case: `X` as the standard writes it, `x` as typed.
            params.push(ScalarValue::Utf8(Some(id.clone())));
            let lower = match id.strip_suffix('X') {
                Some(head) => format!("{head}x"),
                None => id.clone(),
            };
            params.push(ScalarValue::Utf8(Some(lower)));
            "id_number IN ($2, $3)"
        }
        By::RegistrationNo(no) => {
            params.push(ScalarValue::Utf8(Some(no.clone())));
            "registration_no = $2"
        }
    };
    let d = date.format("%Y-%m-%d");
    // Records that ever matched, then each one's latest change on or before the date, which must
    // still match and not be a delete: a pupil renamed since is found under the new name only.
    let sql = format!(
        "WITH hit AS (
             SELECT DISTINCT record_key FROM students_log
             WHERE snapshot_date <= DATE '{d}' AND name = $1 AND {key}
         ),
         cur AS (
             SELECT l.record_key, l.school_id, l.name, l.id_number, l.registration_no, l.change,
                    l.snapshot_date AS changed_on,
                    ROW_NUMBER() OVER (PARTITION BY l.record_key ORDER BY l.snapshot_date DESC) AS rn_
             FROM students_log l
             JOIN hit h ON h.record_key = l.record_key
             WHERE l.snapshot_date <= DATE '{d}'
         ),
         found AS (
             SELECT * FROM cur WHERE rn_ = 1 AND change <> 'delete' AND name = $1 AND {key}
         )
         SELECT f.record_key, f.name, f.id_number, f.registration_no, f.school_id,
                CAST(f.changed_on AS VARCHAR) AS changed_on,
                CAST(st.stage AS VARCHAR) AS stage, CAST(st.grade AS VARCHAR) AS grade, st.status,
                CAST(st.status_since AS VARCHAR) AS status_since, st.province_code, st.county_code,
                sr.school_name, dm.kind_label, dm.decision_state, CAST(dm.is_resolved AS VARCHAR) AS is_resolved
         FROM found f
         LEFT JOIN (SELECT record_key, stage, grade, status, status_since, province_code, county_code
                    FROM student_status_all WHERE snapshot_date = DATE '{d}') st
           ON st.record_key = f.record_key
         LEFT JOIN (SELECT school_id, school_name FROM school_regions_all WHERE snapshot_date = DATE '{d}') sr
           ON sr.school_id = f.school_id
         LEFT JOIN (SELECT record_key, kind, kind_label, decision_state, is_resolved
                    FROM dedup_members_all WHERE snapshot_date = DATE '{d}') dm
           ON dm.record_key = f.record_key
         ORDER BY f.record_key, dm.kind_label"
    );
    let batches = ctx.sql(&sql).await?.with_param_values(params)?.collect().await?;
    let regions = &crate::schema::catalog().regions;
    // By record: a registration in two problem groups comes back on two rows.
    let mut by_record: BTreeMap<String, Found> = BTreeMap::new();
    for b in &batches {
        let col = |n: &str| -> Result<StringArray> {
            warehouse::strings(
                b.column_by_name(n)
                    .with_context(|| format!("全国学籍查询：结果缺少列 {n}"))?,
            )
        };
        let (key, name, id, no, school) = (
            col("record_key")?,
            col("name")?,
            col("id_number")?,
            col("registration_no")?,
            col("school_id")?,
        );
        let (changed, stage, grade, status, since) = (
            col("changed_on")?,
            col("stage")?,
            col("grade")?,
            col("status")?,
            col("status_since")?,
        );
        let (province, county, school_name) = (col("province_code")?, col("county_code")?, col("school_name")?);
        let (kind, state, resolved) = (col("kind_label")?, col("decision_state")?, col("is_resolved")?);
        for i in 0..b.num_rows() {
            let record = at(&key, i).unwrap_or_default();
            let f = by_record.entry(record).or_insert_with(|| {
                let changed_on = at(&changed, i).unwrap_or_default();
                let status_since = at(&since, i);
                let latest_change = match &status_since {
                    Some(s) if *s > changed_on => s.clone(),
                    _ => changed_on.clone(),
                };
                let stage_code = at(&stage, i).unwrap_or_default();
                let province_code = at(&province, i).or_else(|| at(&county, i).map(|c| c.chars().take(2).collect()));
                Found {
                    name: crate::udf::mask_name(&at(&name, i).unwrap_or_default()),
                    registration_no: crate::udf::mask_id(&at(&no, i).unwrap_or_default()),
                    id_number: crate::udf::mask_id(&at(&id, i).unwrap_or_default()),
                    province_name: province_code
                        .as_deref()
                        .and_then(|p| regions.name(p))
                        .map(str::to_string),
                    province_code,
                    county_code: at(&county, i),
                    school_id: at(&school, i),
                    school_name: at(&school_name, i),
                    stage: stage_name(&stage_code).map(str::to_string),
                    grade: at(&grade, i).and_then(|g| grade_name(&stage_code, &g)),
                    status: at(&status, i),
                    problem: false,
                    problem_kinds: Vec::new(),
                    changed_on,
                    status_since,
                    latest_change,
                }
            });
            if let Some(k) = at(&kind, i)
                && at(&resolved, i).as_deref() != Some("true")
            {
                f.problem = true;
                f.problem_kinds
                    .push(format!("{k}（{}）", at(&state, i).unwrap_or_default()));
            }
        }
    }
    Ok(by_record.into_values().collect())
}

/// The registrations as the terminal shows them: one row each, Chinese column labels.
pub fn table(found: &[Found]) -> Result<RecordBatch> {
    let cell = |f: &Found, c: &str| -> String {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        match c {
            "name" => f.name.clone(),
            "registration_no" => f.registration_no.clone(),
            "id_number" => f.id_number.clone(),
            "province_name" => o(&f.province_name),
            "school_id" => o(&f.school_id),
            "school_name" => o(&f.school_name),
            "stage" => o(&f.stage),
            "grade" => o(&f.grade),
            "status" => o(&f.status),
            "problem" if f.problem => format!("是：{}", f.problem_kinds.join("；")),
            "problem" => "否".into(),
            "latest_change" => f.latest_change.clone(),
            _ => String::new(),
        }
    };
    let cols = COLUMNS.iter().map(|&(c, label)| {
        let values: StringArray = found.iter().map(|f| Some(cell(f, c))).collect();
        (label, Arc::new(values) as ArrayRef)
    });
    Ok(RecordBatch::try_from_iter(cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_exact_and_never_a_search() {
        let q = Query::parse(Some(" 张 三 "), Some(" 34102320151021075x "), None).unwrap();
        assert_eq!(q.name, "张三", "as ingest stores a name");
        assert_eq!(q.by, By::IdNumber("34102320151021075X".into()));
        let q = Query::parse(Some("张三"), None, Some("g34102320151021075x")).unwrap();
        assert_eq!(q.by, By::RegistrationNo("G34102320151021075X".into()));
        // Seed 001 第16章: "输入学生XX和XX件号,或者XX和全国学籍号" (XX: 姓名, 身份证).
        assert!(Query::parse(None, Some("341023201510210759"), None).is_err());
        assert!(Query::parse(Some("张三"), None, None).is_err());
        assert!(Query::parse(Some("张三"), Some("341023201510210759"), Some("G341023201510210759")).is_err());
        for wild in [
            "3410232015%",
            "34102320151021075*",
            "341023_01510210759",
            "341023 201510210759",
        ] {
            assert!(Query::parse(Some("张三"), Some(wild), None).is_err(), "{wild}");
        }
        assert!(Query::parse(Some("张%"), Some("341023201510210759"), None).is_err());
        assert!(Query::parse(Some("张三"), None, Some("G3410232015")).is_err());
        let e = Query::parse(Some("张三"), Some("3410232015102107'59"), None).unwrap_err();
        assert!(!e.zh.contains("3410"), "the message never repeats the number");
        let m = Query::parse(Some("张子涵"), Some("341023201510210759"), None)
            .unwrap()
            .masked();
        assert_eq!(m["name"], "张*涵");
        assert_eq!(m["id_number"], "341023************");
    }

    #[test]
    fn grades_and_stages_read_as_on_the_screen() {
        assert_eq!(grade_name("1", "3").as_deref(), Some("小学三年级"));
        assert_eq!(grade_name("2", "1").as_deref(), Some("初中一年级"));
        assert_eq!(grade_name("2", "4").as_deref(), Some("初中四年级"), "五四制");
        assert_eq!(grade_name("2", "5"), None, "past the stage's last grade");
        assert_eq!(grade_name("3", "4"), None);
        assert_eq!(grade_name("9", "1"), None);
    }
}
