//! Reading a report's rows: its statements run whole or for some units, rows grouped by document
//! and section and masked as each part's shape says, figures and charts, and the documents that
//! `--unit` names.

use super::*;

/// The rows of one part for one document, before they are cut into sections.
pub(super) struct PartRows {
    pub(super) file_name: String,
    pub(super) sections: Vec<(String, Vec<Vec<String>>)>,
}

/// How a part's columns are shown: labels, mask kinds and which are numbers.
pub(super) struct PartShape {
    pub(super) has_section: bool,
    pub(super) columns: Vec<Column>,
    pub(super) masks: Vec<Option<MaskKind>>,
}

pub(super) fn shape(
    report: &ReportDef,
    part: &PartDef,
    batch_schema: &arrow::datatypes::Schema,
    unmasked: bool,
) -> Result<PartShape> {
    let fields = batch_schema.fields();
    anyhow::ensure!(
        fields.len() >= 3 && fields[0].name() == "file_code" && fields[1].name() == "file_name",
        "报表 {}：SQL 的前两列应为 file_code, file_name",
        report.key
    );
    let has_section = fields[2].name() == "section";
    // Labels: a model's schema, or an input table's template headers (students, movements, …).
    let input = part.model.as_deref().and_then(|m| crate::schema::catalog().table(m));
    let model_schema = if input.is_some() {
        None
    } else {
        part.model.as_deref().map(crate::models::out_schema).transpose()?
    };
    let masks_by_name = crate::models::mask_kinds();
    let mut columns = Vec::new();
    let mut masks = Vec::new();
    for f in fields.iter().skip(if has_section { 3 } else { 2 }) {
        let name = f.name();
        let label = part
            .labels
            .get(name)
            .cloned()
            .or_else(|| {
                model_schema
                    .as_ref()
                    .and_then(|s| s.columns.iter().find(|c| &c.name == name).map(|c| c.label.clone()))
            })
            .or_else(|| input.and_then(|t| t.column(name)).map(|c| c.header.clone()))
            .with_context(|| format!("报表 {}：列 {name} 没有中文标题（在 labels 中给出）", report.key))?;
        let numeric = f.data_type().is_numeric();
        columns.push(Column {
            name: name.clone(),
            label,
            numeric,
            fr: 1,
        });
        masks.push(if report.mask && !unmasked {
            masks_by_name.get(name.as_str()).copied()
        } else {
            None
        });
    }
    for t in &part.total {
        anyhow::ensure!(
            columns.iter().any(|c| &c.name == t),
            "报表 {}：合计列 {t} 不在 SQL 结果中",
            report.key
        );
    }
    Ok(PartShape {
        has_section,
        columns,
        masks,
    })
}

/// A row as a document shows it: (file_code, file_name, section, shown values).
pub(super) type TextRow = (String, String, String, Vec<String>);

/// Text rows of a batch, masked as the shape says.
pub(super) fn batch_rows(b: &RecordBatch, shape: &PartShape) -> Result<Vec<TextRow>> {
    let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
    let first = if shape.has_section { 3 } else { 2 };
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let values = cols[first..]
            .iter()
            .zip(&shape.masks)
            .map(|(c, m)| match m {
                Some(k) if !c[i].is_empty() => k.apply(&c[i]),
                _ => c[i].clone(),
            })
            .collect();
        out.push((
            cols[0][i].clone(),
            cols[1][i].clone(),
            if shape.has_section {
                cols[2][i].clone()
            } else {
                String::new()
            },
            values,
        ));
    }
    Ok(out)
}

/// Run a statement whole: rows keyed by file_code.
pub(super) async fn keyed(
    ctx: &SessionContext,
    report: &ReportDef,
    part: &PartDef,
    unmasked: bool,
    units: &[String],
) -> Result<(PartShape, HashMap<String, PartRows>)> {
    let batches = run(ctx, report, &part.sql, units).await?.collect().await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    let mut map: HashMap<String, PartRows> = HashMap::new();
    if batches.is_empty() {
        return Ok((
            PartShape {
                has_section: false,
                columns: Vec::new(),
                masks: Vec::new(),
            },
            map,
        ));
    }
    let shape = shape(report, part, &schema, unmasked)?;
    for b in &batches {
        for (code, name, section, values) in batch_rows(b, &shape)? {
            push_row(
                map.entry(code).or_insert_with(|| PartRows {
                    file_name: name,
                    sections: Vec::new(),
                }),
                section,
                values,
            );
        }
    }
    Ok((shape, map))
}

pub(super) fn push_row(p: &mut PartRows, section: String, values: Vec<String>) {
    match p.sections.last_mut() {
        Some((s, rows)) if *s == section => rows.push(values),
        _ => p.sections.push((section, vec![values])),
    }
}

/// A report statement limited to some units. The filter sits above the statement's ORDER BY in
/// the plan (the optimizer pushes it down to the mart scan, so one school's roster reads that
/// school's rows), and the order the statement asks for is kept: wrapping the SQL in a
/// subquery would let the planner drop an inner ORDER BY.
pub(super) async fn run(
    ctx: &SessionContext,
    report: &ReportDef,
    sql: &str,
    units: &[String],
) -> Result<datafusion::prelude::DataFrame> {
    use datafusion::prelude::{col, lit};
    let df = ctx.sql(sql).await.with_context(|| {
        format!(
            "报表 {} 的 SQL 无法执行（所需的数据集市是否已由 xueji run 生成？）",
            report.key
        )
    })?;
    if units.is_empty() {
        return Ok(df);
    }
    Ok(df.filter(col("file_code").in_list(units.iter().map(|u| lit(u.as_str())).collect(), false))?)
}

/// The figures and charts of every document of a report, read whole (they are small).
pub(super) struct Extras {
    pub(super) facts: HashMap<String, Vec<Fact>>,
    pub(super) charts: HashMap<String, Vec<Chart>>,
}

pub(super) async fn extras(ctx: &SessionContext, report: &ReportDef, units: &[String]) -> Result<Extras> {
    let mut facts: HashMap<String, Vec<Fact>> = HashMap::new();
    for f in &report.facts {
        let batches = run(ctx, report, &f.sql, units).await?.collect().await?;
        // One row per document, one column per figure: the order of the figures is the
        // statement's column order, whatever order the rows come in.
        for b in &batches {
            let schema = b.schema();
            anyhow::ensure!(
                schema.fields().len() >= 2 && schema.field(0).name() == "file_code",
                "报表 {}：facts 的 SQL 应返回 file_code 和至少一列数值（列名即标签）",
                report.key
            );
            let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                let list = facts.entry(cols[0][i].clone()).or_default();
                list.extend(schema.fields().iter().zip(&cols).skip(1).map(|(f, c)| Fact {
                    label: f.name().clone(),
                    value: c[i].clone(),
                }));
            }
        }
    }
    let mut charts: HashMap<String, Vec<Chart>> = HashMap::new();
    for c in &report.charts {
        let batches = run(ctx, report, &c.sql, units).await?.collect().await?;
        let Some(first) = batches.first() else { continue };
        let schema = first.schema();
        anyhow::ensure!(
            schema.fields().len() >= 3,
            "报表 {}：charts 的 SQL 应返回 file_code, category 和至少一列数值",
            report.key
        );
        let series: Vec<String> = schema.fields()[2..]
            .iter()
            .map(|f| c.labels.get(f.name()).cloned().unwrap_or_else(|| f.name().clone()))
            .collect();
        let mut data: BTreeMap<String, Vec<(String, Vec<f64>)>> = BTreeMap::new();
        for b in &batches {
            let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
            for i in 0..b.num_rows() {
                let values = cols[2..].iter().map(|c| c[i].parse::<f64>().unwrap_or(0.0)).collect();
                data.entry(cols[0][i].clone())
                    .or_default()
                    .push((cols[1][i].clone(), values));
            }
        }
        for (code, rows) in data {
            charts.entry(code).or_default().push(Chart {
                title: c.title.clone(),
                svg: chart::bars(&series, &rows),
            });
        }
    }
    Ok(Extras { facts, charts })
}

/// The documents that `--unit` names through a report's `scope`: the file codes of the rows
/// that hold one of the units in any column. A unit that matches nothing is an error, so that a
/// mistyped 学籍号 is not taken for "nothing to print".
pub(super) async fn resolve(
    ctx: &SessionContext,
    report: &ReportDef,
    scope: &str,
    units: &[String],
) -> Result<Vec<String>> {
    use datafusion::prelude::{cast, ident, lit};
    let err = || format!("报表 {} 的 scope SQL 无法执行", report.key);
    let df = ctx.sql(scope).await.with_context(err)?;
    let columns: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    anyhow::ensure!(
        columns.first().is_some_and(|c| c == "file_code"),
        "报表 {}：scope 的 SQL 第一列应为 file_code",
        report.key
    );
    let values: Vec<_> = units.iter().map(|u| lit(u.as_str())).collect();
    let any = columns
        .iter()
        .map(|c| cast(ident(c), DataType::Utf8).in_list(values.clone(), false))
        .reduce(|a, b| a.or(b))
        .expect("file_code is a column");
    let batches = df.filter(any)?.collect().await.with_context(err)?;
    let mut codes = BTreeSet::new();
    let mut matched = BTreeSet::new();
    for b in &batches {
        let cols: Vec<Vec<String>> = b.columns().iter().map(text_column).collect::<Result<_>>()?;
        for i in 0..b.num_rows() {
            codes.insert(cols[0][i].clone());
            matched.extend(cols.iter().map(|c| &c[i]).filter(|v| units.contains(v)).cloned());
        }
    }
    let missing: Vec<&str> = units
        .iter()
        .filter(|u| !matched.contains(*u))
        .map(String::as_str)
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "报表 {}：--unit 给出的 {} 没有找到可出具的学生（应为学校标识码、学籍号或身份证件号；已转出等状态的学籍不能出具）",
        report.title,
        missing.join("、")
    );
    Ok(codes.into_iter().collect())
}
