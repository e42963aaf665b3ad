//! The model runner: `sql/*.sql`, one file per output table, each with a short header
//!
//! ```text
//! -- model:  dedup_groups                 the output table (= the file name)
//! -- inputs: dedup_members, regions       every table the statement reads
//! -- schema: dedup_groups                 schemas/models/<schema>.toml, the output columns
//! -- grain:  一个问题组 / one problem group
//! ```
//!
//! run by DataFusion in dependency order over the warehouse as of a snapshot date. Each output is
//! a Delta table partitioned by `snapshot_date`; a run replaces its date's partitions and becomes
//! visible in one append to `_runs` (as a night does with `_nights`). `xueji check` plans every
//! model against empty tables and compares the tables it really reads with its header and its
//! result columns with its schema file.

mod check;
pub mod lookup;
mod materialize;
mod passes;
mod run;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use std::sync::Arc;

pub use check::{CheckReport, check, check_files};
pub use materialize::materialize;
pub use run::{DEFAULT_JOBS, ModelOutcome, RunOptions, RunOutcome, run};

/// The models, embedded so that the binary runs anywhere. A test keeps this list equal to `sql/`.
/// On a warehouse's first run, models ready together start in this order (the long ones early).
pub const SQL_FILES: &[(&str, &str)] = &[
    ("dedup_members.sql", include_str!("../../sql/dedup_members.sql")),
    ("dedup_groups.sql", include_str!("../../sql/dedup_groups.sql")),
    ("dedup_pairs.sql", include_str!("../../sql/dedup_pairs.sql")),
    ("dedup_model.sql", include_str!("../../sql/dedup_model.sql")),
    ("dedup_candidates.sql", include_str!("../../sql/dedup_candidates.sql")),
    ("dedup_clusters.sql", include_str!("../../sql/dedup_clusters.sql")),
    ("student_status.sql", include_str!("../../sql/student_status.sql")),
    ("school_regions.sql", include_str!("../../sql/school_regions.sql")),
    ("list_graduates.sql", include_str!("../../sql/list_graduates.sql")),
    ("movement_checks.sql", include_str!("../../sql/movement_checks.sql")),
    ("list_roster.sql", include_str!("../../sql/list_roster.sql")),
    ("stats_left_behind.sql", include_str!("../../sql/stats_left_behind.sql")),
    ("stats_migrant.sql", include_str!("../../sql/stats_migrant.sql")),
    (
        "list_migrant_contradictions.sql",
        include_str!("../../sql/list_migrant_contradictions.sql"),
    ),
    ("list_boarders.sql", include_str!("../../sql/list_boarders.sql")),
    ("list_yibu.sql", include_str!("../../sql/list_yibu.sql")),
    (
        "list_aid_applicants.sql",
        include_str!("../../sql/list_aid_applicants.sql"),
    ),
    (
        "list_transfers_pending.sql",
        include_str!("../../sql/list_transfers_pending.sql"),
    ),
    (
        "list_movement_violations.sql",
        include_str!("../../sql/list_movement_violations.sql"),
    ),
    ("list_key_changes.sql", include_str!("../../sql/list_key_changes.sql")),
    ("stats_school_form.sql", include_str!("../../sql/stats_school_form.sql")),
    (
        "list_nutrition_beneficiaries.sql",
        include_str!("../../sql/list_nutrition_beneficiaries.sql"),
    ),
    (
        "list_nutrition_schools.sql",
        include_str!("../../sql/list_nutrition_schools.sql"),
    ),
    (
        "stats_nutrition_subsidy.sql",
        include_str!("../../sql/stats_nutrition_subsidy.sql"),
    ),
    (
        "stats_nutrition_screening.sql",
        include_str!("../../sql/stats_nutrition_screening.sql"),
    ),
    (
        "list_meal_ledger_anomalies.sql",
        include_str!("../../sql/list_meal_ledger_anomalies.sql"),
    ),
    (
        "list_registration_numbers.sql",
        include_str!("../../sql/list_registration_numbers.sql"),
    ),
    (
        "stats_registration_numbers.sql",
        include_str!("../../sql/stats_registration_numbers.sql"),
    ),
    (
        "list_disability_info_missing.sql",
        include_str!("../../sql/list_disability_info_missing.sql"),
    ),
];

/// The output schemas, embedded likewise (equal to `schemas/models/`).
pub const SCHEMA_FILES: &[(&str, &str)] = &[
    (
        "dedup_members.toml",
        include_str!("../../schemas/models/dedup_members.toml"),
    ),
    (
        "dedup_groups.toml",
        include_str!("../../schemas/models/dedup_groups.toml"),
    ),
    (
        "dedup_pairs.toml",
        include_str!("../../schemas/models/dedup_pairs.toml"),
    ),
    (
        "dedup_model.toml",
        include_str!("../../schemas/models/dedup_model.toml"),
    ),
    (
        "dedup_candidates.toml",
        include_str!("../../schemas/models/dedup_candidates.toml"),
    ),
    (
        "dedup_clusters.toml",
        include_str!("../../schemas/models/dedup_clusters.toml"),
    ),
    (
        "student_status.toml",
        include_str!("../../schemas/models/student_status.toml"),
    ),
    (
        "school_regions.toml",
        include_str!("../../schemas/models/school_regions.toml"),
    ),
    (
        "list_graduates.toml",
        include_str!("../../schemas/models/list_graduates.toml"),
    ),
    (
        "movement_checks.toml",
        include_str!("../../schemas/models/movement_checks.toml"),
    ),
    (
        "list_roster.toml",
        include_str!("../../schemas/models/list_roster.toml"),
    ),
    (
        "stats_left_behind.toml",
        include_str!("../../schemas/models/stats_left_behind.toml"),
    ),
    (
        "stats_migrant.toml",
        include_str!("../../schemas/models/stats_migrant.toml"),
    ),
    (
        "list_migrant_contradictions.toml",
        include_str!("../../schemas/models/list_migrant_contradictions.toml"),
    ),
    (
        "list_boarders.toml",
        include_str!("../../schemas/models/list_boarders.toml"),
    ),
    ("list_yibu.toml", include_str!("../../schemas/models/list_yibu.toml")),
    (
        "list_aid_applicants.toml",
        include_str!("../../schemas/models/list_aid_applicants.toml"),
    ),
    (
        "list_transfers_pending.toml",
        include_str!("../../schemas/models/list_transfers_pending.toml"),
    ),
    (
        "list_movement_violations.toml",
        include_str!("../../schemas/models/list_movement_violations.toml"),
    ),
    (
        "list_key_changes.toml",
        include_str!("../../schemas/models/list_key_changes.toml"),
    ),
    (
        "stats_school_form.toml",
        include_str!("../../schemas/models/stats_school_form.toml"),
    ),
    (
        "list_nutrition_beneficiaries.toml",
        include_str!("../../schemas/models/list_nutrition_beneficiaries.toml"),
    ),
    (
        "list_nutrition_schools.toml",
        include_str!("../../schemas/models/list_nutrition_schools.toml"),
    ),
    (
        "stats_nutrition_subsidy.toml",
        include_str!("../../schemas/models/stats_nutrition_subsidy.toml"),
    ),
    (
        "stats_nutrition_screening.toml",
        include_str!("../../schemas/models/stats_nutrition_screening.toml"),
    ),
    (
        "list_meal_ledger_anomalies.toml",
        include_str!("../../schemas/models/list_meal_ledger_anomalies.toml"),
    ),
    (
        "list_registration_numbers.toml",
        include_str!("../../schemas/models/list_registration_numbers.toml"),
    ),
    (
        "stats_registration_numbers.toml",
        include_str!("../../schemas/models/stats_registration_numbers.toml"),
    ),
    (
        "list_disability_info_missing.toml",
        include_str!("../../schemas/models/list_disability_info_missing.toml"),
    ),
];

/// Whether a model may read `table` besides other models: an input table's as-of view or change
/// log (the warehouse's history tables), the rejects, or reference data.
pub fn is_base_table(table: &str) -> bool {
    let history = |t: &str| crate::warehouse::HISTORY_TABLES.contains(&t);
    history(table)
        || table.strip_suffix("_log").is_some_and(history)
        || table == "rejects"
        || crate::warehouse::REFERENCE_TABLES.contains(&table)
}

/// One `sql/*.sql` file.
#[derive(Debug, Clone)]
pub struct Model {
    pub file: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub schema: String,
    pub grain: String,
    /// What the model computes and why: the header's comment lines after the `key: value` lines.
    pub doc: String,
    /// The statement, without a trailing semicolon.
    pub sql: String,
    /// `-- buckets:`: computed in passes over buckets of a materialised set (see [`Buckets`]).
    pub buckets: Option<Buckets>,
}

/// A model whose joins outgrow memory at provincial scale, computed in passes:
/// `-- buckets: <cte>.<column> <bytes>` in its header. The CTE `<cte>` is materialised (it must be
/// marked `AS MATERIALIZED`), and each pass reads only its rows whose `<column>` (an integer that
/// is spread evenly: a hash) falls in one bucket ([`passes::in_pass`]); `<bytes>` is what one of
/// those rows costs in a pass's hash tables, from which the number of passes follows the memory
/// pool. The passes' rows together are the model's, which holds only when the statement reads
/// the CTE once and each of its rows comes from one row of the CTE (no aggregate, window,
/// DISTINCT, anti or semi join, or outer join that pads the CTE's side over it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub cte: String,
    pub column: String,
    pub row_bytes: u64,
}

impl Buckets {
    fn parse(v: &str) -> Option<Buckets> {
        let (target, bytes) = v.split_once(char::is_whitespace)?;
        let (cte, column) = target.split_once('.')?;
        let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        (ident(cte) && ident(column)).then_some(())?;
        Some(Buckets {
            cte: cte.to_string(),
            column: column.to_string(),
            row_bytes: bytes.trim().parse().ok().filter(|b| *b > 0)?,
        })
    }
}

/// Output column type in a model schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutType {
    Utf8,
    Int64,
    Float64,
    Date,
    Bool,
}

impl OutType {
    /// The type as the schema files and the reference pages write it.
    pub fn name(self) -> &'static str {
        match self {
            OutType::Utf8 => "utf8",
            OutType::Int64 => "int64",
            OutType::Float64 => "float64",
            OutType::Date => "date",
            OutType::Bool => "bool",
        }
    }

    pub fn arrow(self) -> DataType {
        match self {
            OutType::Utf8 => DataType::Utf8,
            OutType::Int64 => DataType::Int64,
            OutType::Float64 => DataType::Float64,
            OutType::Date => DataType::Date32,
            OutType::Bool => DataType::Boolean,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            OutType::Utf8 => "VARCHAR",
            OutType::Int64 => "BIGINT",
            OutType::Float64 => "DOUBLE",
            OutType::Date => "DATE",
            OutType::Bool => "BOOLEAN",
        }
    }

    /// Whether a planned column type is this type (any string type is utf8, any integer int64).
    fn accepts(self, t: &DataType) -> bool {
        match self {
            OutType::Utf8 => matches!(
                t,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            ),
            OutType::Int64 => t.is_integer() || *t == DataType::Null,
            OutType::Float64 => t.is_floating() || t.is_integer() || *t == DataType::Null,
            OutType::Date => matches!(t, DataType::Date32 | DataType::Null),
            OutType::Bool => matches!(t, DataType::Boolean | DataType::Null),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub col_type: OutType,
    /// Chinese label for reports and dashboards.
    pub label: String,
    #[serde(default)]
    pub sensitive: bool,
    /// How reports that leave the school mask the column.
    #[serde(default)]
    pub mask: Option<MaskKind>,
    #[serde(default)]
    pub doc: String,
}

/// How a sensitive column is masked in lists that leave the school (`520102************`).
///
/// Masking is a policy over the whole row, not per column: what a masked row shows together must
/// not rebuild a pupil's resident ID number (6-digit region, 8-digit birth date, 3-digit sequence
/// whose last digit is odd for a boy, check character). Masked a column at a time, the ID kept
/// its first 6 and last 4 and the same row served the birth date, which is exactly the 8 hidden
/// digits: 774 of 776 sample IDs came back whole (issue 24). So, wherever a row is masked:
///
/// - `id` (身份证件号, 学籍号 = G/J/L + ID, guardians' ID numbers) keeps the region and a 学籍号's
///   letter only. Not the last 4: with them and the birth year, the 365 or so days of the year
///   are all that is left to guess (and the check character rules out 10 in 11 of them).
/// - `birthdate` keeps the year (`2012-**-**`), which the grade nearly gives away anyway.
/// - `address` keeps the county, which the school's county nearly gives away anyway.
///
/// What a masked row then leaves of the ID: the region (known), the birth year (known), the day
/// of the year (365 or 366 choices) and the sequence (1,000 numbers, of which the 500 of the
/// gender's parity fit), the check character following from the rest. That is 365 × 500 =
/// 182,500 candidate numbers at least, each as likely as the next, more than the 10,000 a
/// masked response must leave (tests/serve.rs counts them for every row served, and rebuilds
/// them by brute force for one). The name, phone (first 3 and last 4 digits) and county do not
/// enter the number. The grade with the year can place the birthday before or after 1 September
/// (the school-entry cut-off): 122 days at worst, still 61,000 numbers. Not counted: rows, and
/// the roster's 班内序号, follow the 学籍号 within a class, so a pupil's rank among classmates of
/// the same region and year shows, which narrows the day for the first and last of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    Id,
    Phone,
    Address,
    /// A birth date: the year only. A date column is served as text when it is masked.
    Birthdate,
}

impl MaskKind {
    /// The value as a list that leaves the school shows it (a date as `YYYY-MM-DD` text).
    pub fn apply(self, v: &str) -> String {
        match self {
            MaskKind::Id => crate::udf::mask_id(v),
            MaskKind::Phone => {
                let c: Vec<char> = v.chars().collect();
                if c.len() < 7 {
                    "*".repeat(c.len())
                } else {
                    c[..3]
                        .iter()
                        .chain(std::iter::repeat_n(&'*', c.len() - 7))
                        .chain(&c[c.len() - 4..])
                        .collect()
                }
            }
            // The county (up to its 县, 区 or 旗) and nothing of the street or house.
            MaskKind::Address => crate::udf::mask_address(v),
            MaskKind::Birthdate => crate::udf::mask_birth_date(v),
        }
    }
}

/// Every model column that declares a mask, by column name (one name, one kind everywhere).
pub fn mask_kinds() -> std::collections::HashMap<String, MaskKind> {
    let mut out = std::collections::HashMap::new();
    // Every schema file parses (tested with the models); one that did not would mask nothing.
    for s in SCHEMA_FILES
        .iter()
        .filter_map(|(_, text)| toml::from_str::<OutSchema>(text).ok())
    {
        out.extend(s.columns.into_iter().filter_map(|c| Some((c.name, c.mask?))));
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutMeta {
    pub name: String,
    pub label: String,
    pub grain: String,
}

/// A `schemas/models/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutSchema {
    pub table: OutMeta,
    pub columns: Vec<OutColumn>,
}

impl OutSchema {
    /// The stored schema: the columns, then the `snapshot_date` partition column.
    pub fn arrow_with_date(&self) -> SchemaRef {
        let mut f: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.col_type.arrow(), true))
            .collect();
        f.push(Field::new("snapshot_date", DataType::Date32, true));
        Arc::new(Schema::new(f))
    }

    /// Why a planned result does not fit this schema, if it does not.
    pub fn mismatch(&self, planned: &Schema) -> Option<String> {
        let got: Vec<&Field> = planned.fields().iter().map(|f| f.as_ref()).collect();
        for (i, c) in self.columns.iter().enumerate() {
            match got.get(i) {
                None => return Some(format!("缺少第 {} 列 {}（{:?}）", i + 1, c.name, c.col_type)),
                Some(f) if f.name() != &c.name => {
                    return Some(format!("第 {} 列应为 {}，实为 {}", i + 1, c.name, f.name()));
                }
                Some(f) if !c.col_type.accepts(f.data_type()) => {
                    return Some(format!("列 {} 应为 {:?}，实为 {}", c.name, c.col_type, f.data_type()));
                }
                Some(_) => {}
            }
        }
        (got.len() > self.columns.len()).then(|| {
            format!(
                "多出的列：{}",
                got[self.columns.len()..]
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// The statement that stores a model's result: its columns cast to the declared types, and the
    /// snapshot date.
    fn storing_sql(&self, sql: &str, date: chrono::NaiveDate) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("CAST(m_.\"{n}\" AS {t}) AS \"{n}\"", n = c.name, t = c.col_type.sql()))
            .collect();
        format!(
            "SELECT {}, DATE '{}' AS snapshot_date FROM (\n{sql}\n) AS m_",
            cols.join(", "),
            date.format("%Y-%m-%d")
        )
    }
}

/// Parse a model file's header.
pub fn parse(file: &str, text: &str) -> Result<Model> {
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    let mut doc: Vec<&str> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        if let Some((k, v)) = rest.split_once(':') {
            let k = k.trim();
            if ["model", "inputs", "schema", "grain", "buckets"].contains(&k) && !fields.contains_key(k) {
                fields.insert(k, v.trim().to_string());
                continue;
            }
        }
        doc.push(rest.strip_prefix(' ').unwrap_or(rest).trim_end());
    }
    let doc = doc.join("\n").trim_matches('\n').to_string();
    let get = |k: &str| {
        fields
            .get(k)
            .cloned()
            .with_context(|| format!("sql/{file}: 文件头缺少“-- {k}:”一行 / header line missing"))
    };
    let name = get("model")?;
    let stem = file.strip_suffix(".sql").unwrap_or(file);
    anyhow::ensure!(
        name == stem,
        "sql/{file}: 文件头的模型名 {name} 与文件名不一致 / model name differs from the file name"
    );
    let inputs: Vec<String> = get("inputs")?
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let sql = text.trim_end().trim_end_matches(';').to_string();
    let buckets = match fields.get("buckets") {
        None => None,
        Some(v) => Some(Buckets::parse(v).with_context(|| {
            format!("sql/{file}: “-- buckets: {v}”应为“-- buckets: 公共表.整数列 每行字节数” / expected <cte>.<column> <bytes>")
        })?),
    };
    if let Some(b) = &buckets {
        anyhow::ensure!(
            materialize::materialized_ctes(&sql).contains(&b.cte),
            "sql/{file}: 分桶的公共表 {} 须是语句中标为 AS MATERIALIZED 的公共表 / the bucketed CTE must be one marked AS MATERIALIZED",
            b.cte
        );
    }
    Ok(Model {
        file: file.to_string(),
        name,
        inputs,
        schema: get("schema")?,
        grain: get("grain")?,
        doc,
        sql,
        buckets,
    })
}

/// The embedded models, in dependency order (ties by name, so the order is always the same).
pub fn models() -> Result<Vec<Model>> {
    let all: Vec<Model> = SQL_FILES.iter().map(|(f, t)| parse(f, t)).collect::<Result<_>>()?;
    order(all)
}

/// Order models so that each comes after the models it reads; a cycle is an error.
pub fn order(all: Vec<Model>) -> Result<Vec<Model>> {
    let names: BTreeSet<String> = all.iter().map(|m| m.name.clone()).collect();
    let mut pending: BTreeMap<String, Model> = all.into_iter().map(|m| (m.name.clone(), m)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .values()
            .filter(|m| m.inputs.iter().all(|i| !names.contains(i) || done.contains(i)))
            .map(|m| m.name.clone())
            .collect();
        if ready.is_empty() {
            bail!(
                "模型之间有循环依赖 / models depend on each other in a cycle: {}",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for n in ready {
            done.insert(n.clone());
            out.push(pending.remove(&n).expect("listed"));
        }
    }
    Ok(out)
}

/// The output schema a model names.
pub fn out_schema(name: &str) -> Result<OutSchema> {
    let file = format!("{name}.toml");
    let (_, text) = SCHEMA_FILES
        .iter()
        .find(|(f, _)| *f == file)
        .with_context(|| format!("找不到输出结构文件 schemas/models/{file} / no such schema file"))?;
    let s: OutSchema = toml::from_str(text).map_err(|e| anyhow::anyhow!("schemas/models/{file}: {e}"))?;
    anyhow::ensure!(
        s.table.name == name,
        "schemas/models/{file}: 表名 {} 与文件名不一致",
        s.table.name
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, inputs: &str) -> Model {
        parse(
            &format!("{name}.sql"),
            &format!("-- model: {name}\n-- inputs: {inputs}\n-- schema: {name}\n-- grain: x\nSELECT 1;\n"),
        )
        .unwrap()
    }

    #[test]
    fn a_model_in_passes_names_a_materialized_set_and_the_bytes_of_its_rows() {
        let text = |b: &str, m: &str| {
            format!(
                "-- model: x\n-- inputs: students\n-- schema: x\n-- grain: x\n-- buckets: {b}\nWITH p AS {m} (SELECT 1 AS k) SELECT * FROM p"
            )
        };
        let got = parse("x.sql", &text("p.k 512", "MATERIALIZED")).unwrap().buckets;
        assert_eq!(
            got,
            Some(Buckets {
                cte: "p".into(),
                column: "k".into(),
                row_bytes: 512
            })
        );
        for bad in [
            "p.k",
            "p 512",
            "p.k x",
            "p.k 0",
            "p.k;x 512",
            "p.k) OR (1 512",
            ".k 512",
            "p. 512",
        ] {
            let e = parse("x.sql", &text(bad, "MATERIALIZED")).unwrap_err();
            assert!(format!("{e:#}").contains("-- buckets:"), "{bad}: {e:#}");
        }
        let e = parse("x.sql", &text("p.k 512", "")).unwrap_err();
        assert!(format!("{e:#}").contains("AS MATERIALIZED"), "{e:#}");
        let dedup = models().unwrap().into_iter().find(|m| m.name == "dedup_pairs").unwrap();
        assert_eq!(dedup.buckets.map(|b| b.cte), Some("all_pairs".to_string()));
    }

    #[test]
    fn models_run_after_what_they_read_and_cycles_are_refused() {
        let o = order(vec![m("c", "b, students"), m("b", "a"), m("a", "students")]).unwrap();
        assert_eq!(o.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            o[2].sql,
            "-- model: c\n-- inputs: b, students\n-- schema: c\n-- grain: x\nSELECT 1"
        );
        assert!(
            order(vec![m("a", "b"), m("b", "a")])
                .unwrap_err()
                .to_string()
                .contains("循环")
        );
    }

    #[test]
    fn a_header_must_name_the_file_and_every_field() {
        assert!(
            parse(
                "x.sql",
                "-- model: y\n-- inputs: a\n-- schema: y\n-- grain: g\nSELECT 1"
            )
            .unwrap_err()
            .to_string()
            .contains("文件名")
        );
        assert!(
            parse("x.sql", "-- model: x\n-- inputs: a\n-- grain: g\nSELECT 1")
                .unwrap_err()
                .to_string()
                .contains("schema")
        );
    }

    #[test]
    fn one_column_name_has_one_mask_everywhere() {
        // Reports mask by column name (mask_kinds), the server by the list's schema: they agree
        // only if every column of a name declares the same mask, or none does anywhere.
        let kinds = mask_kinds();
        let schemas: Vec<OutSchema> = SCHEMA_FILES
            .iter()
            .map(|(f, text)| toml::from_str(text).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect();
        for s in &schemas {
            let masked_id = s.columns.iter().any(|c| c.mask == Some(MaskKind::Id));
            for c in &s.columns {
                assert_eq!(
                    c.mask,
                    kinds.get(&c.name).copied(),
                    "{}.{}: one name, one mask everywhere",
                    s.table.name,
                    c.name
                );
                if c.mask.is_some() {
                    assert!(c.sensitive, "{}.{}: a masked column is sensitive", s.table.name, c.name);
                }
                // A row that shows a masked ID number must not show the birth date it hides.
                if masked_id && c.name.contains("birth") {
                    assert_eq!(c.mask, Some(MaskKind::Birthdate), "{}.{}", s.table.name, c.name);
                }
                // Every ID number and 学籍号 (G + the ID number) is masked as one.
                if c.name.starts_with("id_number") || c.name.starts_with("registration_no") {
                    assert_eq!(c.mask, Some(MaskKind::Id), "{}.{}", s.table.name, c.name);
                }
            }
        }
        assert_eq!(kinds.get("birth_date"), Some(&MaskKind::Birthdate));
    }

    #[test]
    fn a_masked_row_shows_the_region_the_birth_year_and_the_county_only() {
        use chrono::Datelike;
        let first17 = "52010220120304123";
        let id = &format!("{first17}{}", crate::idcard::check_char(first17).unwrap());
        assert_eq!(MaskKind::Id.apply(id), "520102************");
        assert_eq!(MaskKind::Id.apply(&format!("G{id}")), "G520102************");
        assert_eq!(MaskKind::Birthdate.apply("2012-03-04"), "2012-**-**");
        assert_eq!(MaskKind::Phone.apply("13812345678"), "138****5678");
        assert_eq!(
            MaskKind::Address.apply("贵州省贵阳市南明区花果园街道1号"),
            "贵州省贵阳市南明区****"
        );
        // Together: region and year known, the year's days × the 500 sequence numbers of the
        // gender's parity left, the check character following. By brute force: 366 × 500.
        let shown = MaskKind::Id.apply(id);
        let year: i32 = MaskKind::Birthdate.apply("2012-03-04")[..4].parse().unwrap();
        let male = true; // 3 is odd
        let mut candidates = 0u64;
        let mut found = false;
        let mut day = chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        while day.year() == year {
            for seq in (0..1000u32).filter(|s| (s % 2 == 1) == male) {
                let first17 = format!("{}{}{seq:03}", &shown[..6], day.format("%Y%m%d"));
                let full = format!("{first17}{}", crate::idcard::check_char(&first17).unwrap());
                found |= full == *id;
                candidates += 1;
            }
            day = day.succ_opt().unwrap();
        }
        assert!(found, "the search holds the real number");
        assert_eq!(candidates, 366 * 500, "2012 is a leap year");
    }

    #[test]
    fn the_embedded_lists_equal_the_folders() {
        let dir = |d: &str, ext: &str| -> BTreeSet<String> {
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|f| f.ends_with(ext))
                .collect()
        };
        assert_eq!(
            dir("sql", ".sql"),
            SQL_FILES.iter().map(|(f, _)| f.to_string()).collect(),
            "add the file to models::SQL_FILES"
        );
        assert_eq!(
            dir("schemas/models", ".toml"),
            SCHEMA_FILES.iter().map(|(f, _)| f.to_string()).collect(),
            "add the file to models::SCHEMA_FILES"
        );
        for m in models().unwrap() {
            out_schema(&m.schema).unwrap();
        }
    }
}
