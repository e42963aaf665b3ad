//! `xueji render`: printable reports from finished models. Today: the per-school 问题学籍清单
//! (each problem group a school's registrations are in, every member, and what the school may
//! do). Templates live in `reports/` and compute nothing: the SQL below shapes every value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Serialize;

use crate::pipeline;

const PROBLEM_LIST: &str = include_str!("../reports/problem_list.html");
const PROBLEM_INDEX: &str = include_str!("../reports/problem_index.html");
const LAYOUT: &str = include_str!("../reports/layout.html");

pub struct RenderOptions {
    pub warehouse: String,
    pub date: Option<NaiveDate>,
    pub out: PathBuf,
    pub threads: usize,
    pub memory_mb: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct RenderOutcome {
    pub snapshot_date: String,
    pub files: Vec<String>,
}

/// One row per (school that sees the group, group, member). Members of other schools are
/// shown as the school sees them: school and county, masked name and ID number, no 学籍号.
const QUERY: &str = "
WITH mine AS (SELECT DISTINCT school_id AS viewer, group_id FROM dedup_members)
SELECT v.viewer, COALESCE(sv.school_name, v.viewer) AS viewer_name, sv.county_code AS viewer_county,
       g.group_id, g.kind_label, g.member_count, g.responsible_level,
       COALESCE(g.responsible_unit_name, g.responsible_unit) AS responsible_unit, g.status,
       m.member_no, m.school_id = v.viewer AS own,
       COALESCE(m.school_name, m.school_id) AS school_name, m.county_code,
       CASE WHEN m.school_id = v.viewer THEN m.name ELSE mask_name(m.name) END AS name,
       m.gender, CAST(m.birth_date AS VARCHAR) AS birth_date,
       CASE WHEN m.school_id = v.viewer THEN m.id_number ELSE mask_id(m.id_number) END AS id_number,
       CASE WHEN m.school_id = v.viewer THEN m.registration_no ELSE '' END AS registration_no,
       CAST(m.registered_on AS VARCHAR) AS registered_on,
       CASE WHEN m.is_first_registered THEN '是' ELSE '' END AS first_registered,
       m.allowed_actions, COALESCE(m.action, '') AS action, m.decision_state,
       CASE WHEN m.school_id <> v.viewer THEN '由该校处理'
            WHEN m.decision_state = '待处理' THEN '请选择' || m.allowed_actions || '之一并提交区县审核'
            WHEN m.decision_state = '区县未通过' THEN '区县未通过：请重新处理'
            WHEN m.decision_state = '仲裁未通过' THEN '仲裁未通过：请变更或删除'
            WHEN m.decision_state = '处理方式不允许' THEN '身份证件号错误不能佐证：请变更或删除'
            WHEN m.decision_state = '再次重复' THEN '已处理的学籍又与新学籍重复：请重新处理'
            WHEN m.decision_state = '待上级仲裁' THEN '等待' || g.responsible_level || '仲裁，无需操作'
            WHEN m.decision_state = '待区县审核' THEN '等待区县审核，无需操作'
            ELSE '已解决，无需操作' END AS next_step,
       COALESCE(m.id_defect, '') AS id_defect
FROM mine v
JOIN dedup_groups g ON g.group_id = v.group_id
JOIN dedup_members m ON m.group_id = v.group_id
LEFT JOIN schools sv ON sv.school_id = v.viewer
ORDER BY v.viewer, g.kind, g.group_id, m.member_no";

#[derive(Serialize)]
struct Group {
    group_id: String,
    kind_label: String,
    member_count: String,
    responsible: String,
    status: String,
    members: Vec<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct SchoolList {
    school_id: String,
    school_name: String,
    county_code: String,
    groups: Vec<Group>,
    open: usize,
}

/// Write `问题学籍清单/<学校标识码>.html` for every school with a problem registration, and an
/// index page; returns the files written.
pub async fn render(o: &RenderOptions) -> Result<RenderOutcome> {
    let results = pipeline::sql_all(&o.warehouse, &[QUERY, "SELECT CAST(MAX(snapshot_date) AS VARCHAR) FROM dedup_members"], o.date, o.threads, o.memory_mb)
        .await
        .context("无法读取问题学籍模型：请先运行 xueji run")?;
    let date = pipeline::text_rows(&results[1])?.1.into_iter().flatten().next().unwrap_or_default();
    let mut schools: BTreeMap<String, SchoolList> = BTreeMap::new();
    let (names, rows) = pipeline::text_rows(&results[0])?;
    for row in rows {
        let v: BTreeMap<String, String> = names.iter().cloned().zip(row).collect();
        let school = schools.entry(v["viewer"].clone()).or_insert_with(|| SchoolList {
            school_id: v["viewer"].clone(),
            school_name: v["viewer_name"].clone(),
            county_code: v["viewer_county"].clone(),
            groups: Vec::new(),
            open: 0,
        });
        if school.groups.last().is_none_or(|g| g.group_id != v["group_id"]) {
            if v["status"] != "已解决" {
                school.open += 1;
            }
            school.groups.push(Group {
                group_id: v["group_id"].clone(),
                kind_label: v["kind_label"].clone(),
                member_count: v["member_count"].clone(),
                responsible: format!("{}（{}）", v["responsible_unit"], v["responsible_level"]),
                status: v["status"].clone(),
                members: Vec::new(),
            });
        }
        school.groups.last_mut().expect("pushed above").members.push(v);
    }
    let dir = o.out.join("问题学籍清单");
    std::fs::create_dir_all(&dir).with_context(|| format!("无法创建目录 {}", dir.display()))?;
    let mut env = minijinja::Environment::new();
    env.add_template("layout.html", LAYOUT)?;
    env.add_template("problem_list.html", PROBLEM_LIST)?;
    env.add_template("problem_index.html", PROBLEM_INDEX)?;
    let mut out = RenderOutcome { snapshot_date: date.clone(), files: Vec::new() };
    for s in schools.values() {
        let path = dir.join(format!("{}.html", s.school_id));
        write(&path, &env.get_template("problem_list.html")?.render(minijinja::context! { school => minijinja::Value::from(minijinja::value::Serde(s)), date => &date })?)?;
        out.files.push(path.display().to_string());
    }
    let index = dir.join("index.html");
    let list: Vec<&SchoolList> = schools.values().collect();
    write(&index, &env.get_template("problem_index.html")?.render(minijinja::context! { schools => minijinja::Value::from(minijinja::value::Serde(&list)), date => &date })?)?;
    out.files.push(index.display().to_string());
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("无法写入 {}", path.display()))
}
