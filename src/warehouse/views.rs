//! Registering the warehouse in a DataFusion session: the committed version of every table, the
//! change logs as `<table>_log`, and the as-of views `students`, `schools`, `movements`.

use std::sync::Arc;

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use url::Url;

use super::{HISTORY_TABLES, NIGHT_TABLES, NIGHTS, Warehouse};
use crate::schema::catalog;

/// What was registered.
#[derive(Debug, Clone)]
pub struct Registered {
    pub as_of: Option<NaiveDate>,
    pub latest: Option<NaiveDate>,
    pub tables: Vec<String>,
}

/// Register every committed table. `as_of` picks the date of the views (default: the latest night).
pub async fn register_all(wh: &Warehouse, ctx: &SessionContext, as_of: Option<NaiveDate>) -> Result<Registered> {
    let nights = wh.nights(ctx).await?;
    let latest = nights.iter().map(|n| n.snapshot_date).max();
    let as_of = as_of.or(latest);
    let committed = wh.committed_versions(ctx).await?;
    let mut tables = Vec::new();
    for name in NIGHT_TABLES {
        let provider: Arc<dyn TableProvider> = match committed.get(name) {
            Some(&v) => super::scan(&wh.at_version(name, v).await?, ctx).await?,
            // An input table added after this warehouse was made: empty until a night brings it.
            None if HISTORY_TABLES.contains(&name) && !committed.is_empty() => {
                let t = catalog().table(name).expect("input table");
                Arc::new(MemTable::try_new(super::commit::log_schema(t), vec![vec![]])?)
            }
            None => continue,
        };
        let reg = if HISTORY_TABLES.contains(&name) {
            format!("{name}_log")
        } else {
            name.to_string()
        };
        ctx.register_table(reg.as_str(), provider)?;
        tables.push(reg);
        if HISTORY_TABLES.contains(&name)
            && let Some(d) = as_of
        {
            create_as_of_view(ctx, name, d).await?;
            tables.push(name.to_string());
        }
    }
    if let Some(t) = wh.latest(NIGHTS).await? {
        ctx.register_table("nights", super::scan(&t, ctx).await?)?;
        tables.push("nights".into());
    }
    register_reference(ctx)?;
    tables.extend(REFERENCE_TABLES.iter().map(|t| t.to_string()));
    super::certificates::register(wh, ctx)?;
    tables.push("certificates".into());
    crate::udf::register_stable_id(ctx, wh.secret(false).await?);
    // Model outputs: each at the version of the last committed run; `<model>` shows the run of
    // the as-of date (or the latest before it), `<model>_all` every date.
    for (model, run) in wh.model_runs(ctx).await? {
        let date = run
            .dates
            .iter()
            .copied()
            .filter(|d| as_of.is_none_or(|a| *d <= a))
            .max();
        register_model(wh, ctx, &model, run.version, date).await?;
        tables.push(format!("{model}_all"));
        if date.is_some() {
            tables.push(model);
        }
    }
    Ok(Registered { as_of, latest, tables })
}

/// `<name>`: the state of a change-logged table as of `d` (the latest change of each record on
/// or before `d`, deletes left out). The rows that a later change on or before `d` supersedes
/// are found once, here, from the keys and dates alone, and kept in memory as
/// `<name>_superseded_`; the view is then a scan of the log less those rows — no sort or
/// window over whole rows each time a statement names it. The set holds one small row per
/// change since the first night, not one per record.
pub async fn create_as_of_view(ctx: &SessionContext, name: &str, d: NaiveDate) -> Result<()> {
    let t = catalog().table(name).expect("input table");
    let cols: Vec<String> = t.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let table = format!("{name}_superseded_");
    let d = d.format("%Y-%m-%d");
    let cond = format!("<= DATE '{d}'");
    register_superseded(ctx, &format!("{name}_log"), &cond, &table).await?;
    let sql = format!(
        "CREATE OR REPLACE VIEW {name} AS SELECT record_key, {cols}, snapshot_date AS changed_on, source_file, source_row, DATE '{d}' AS as_of_date
         FROM {name}_log l
         WHERE l.snapshot_date {cond} AND l.change <> 'delete'
           AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.k_ = l.record_key AND s.d_ = l.snapshot_date)",
        cols = cols.join(", "),
    );
    ctx.sql(&sql).await?;
    Ok(())
}

/// Register as `table` (in memory) the (record_key `k_`, snapshot_date `d_`) of the rows of the
/// change log `log` that a later change with `snapshot_date <cond>` supersedes.
///
/// A record with more than one row has a row after the log's first date, so only the keys
/// changed after that date are gathered: the first night, every record once, is read for its keys
/// only where they changed later, not aggregated whole (at five million pupils that aggregation
/// took 1.3 s and 1.4 GB each time a session opened). The first date is read from the log's
/// metadata, and as a literal it prunes the first night's files from the gathering scan.
pub async fn register_superseded(ctx: &SessionContext, log: &str, cond: &str, table: &str) -> Result<()> {
    let first = ctx
        .sql(&format!("SELECT MIN(snapshot_date) FROM {log}"))
        .await?
        .collect()
        .await?;
    let first = match first.first().filter(|b| b.num_rows() == 1) {
        Some(b) => Some(datafusion::common::ScalarValue::try_from_array(b.column(0), 0)?).filter(|v| !v.is_null()),
        None => None,
    };
    // An empty log supersedes nothing; the query still runs, for the table's shape.
    let after = first.map_or_else(|| "FALSE".to_string(), |f| format!("snapshot_date > DATE '{f}'"));
    let sql = format!(
        "SELECT l.record_key AS k_, l.snapshot_date AS d_
         FROM {log} l
         JOIN (SELECT record_key, MAX(snapshot_date) AS last_ FROM {log} WHERE snapshot_date {cond} AND {after}
               GROUP BY record_key) m
           ON l.record_key = m.record_key AND l.snapshot_date < m.last_"
    );
    register_collected(ctx, table, &sql).await
}

/// Run `sql` and register its (small) result in memory as `table`, replacing an earlier one: a
/// table with an exact row count, which the planner puts on the build side of a join
/// (collected.rs says why rows, not bytes). On a cluster session with a scratch folder the
/// executors write the result there instead, and `table` reads those files (scratch.rs says why).
pub async fn register_collected(ctx: &SessionContext, table: &str, sql: &str) -> Result<()> {
    register_collected_in(ctx, table, sql, None).await
}

/// [`register_collected`], the rows written as Parquet under `dir` when given (else under the
/// session's scratch folder, if it has one).
pub async fn register_collected_in(ctx: &SessionContext, table: &str, sql: &str, dir: Option<&Url>) -> Result<()> {
    let df = ctx.sql(sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = match dir.cloned().or_else(|| super::scratch::scratch_of(ctx)) {
        Some(dir) => match super::scratch::to_scratch(df, &dir, table, schema.clone()).await? {
            Some(files) => {
                ctx.deregister_table(table)?;
                ctx.register_table(table, files)?;
                return Ok(());
            }
            // An empty set is held in memory (its file has no columns).
            None => Vec::new(),
        },
        None => df.collect().await?,
    };
    // The rows as computed: the plan may type a column otherwise than the statement's schema says
    // (a literal of a UNION ALL read as a view of text), which MemTable refuses.
    let schema = batches.first().map_or(schema, |b| b.schema());
    let provider = Arc::new(super::collected::Collected::new(MemTable::try_new(
        schema,
        vec![batches],
    )?));
    ctx.deregister_table(table)?;
    ctx.register_table(table, provider)?;
    Ok(())
}

/// `<model>_all`: a model's table at `version`; and `<model>`, its rows of `date` when given.
pub async fn register_model(
    wh: &Warehouse,
    ctx: &SessionContext,
    model: &str,
    version: i64,
    date: Option<NaiveDate>,
) -> Result<()> {
    let provider = super::scan(&wh.at_version(model, version).await?, ctx).await?;
    let all = format!("{model}_all");
    ctx.deregister_table(all.as_str())?;
    ctx.register_table(all.as_str(), provider)?;
    if let Some(d) = date {
        create_model_view(ctx, model, d).await?;
    }
    Ok(())
}

/// `<model>`: one date's rows of `<model>_all`.
pub async fn create_model_view(ctx: &SessionContext, model: &str, d: NaiveDate) -> Result<()> {
    ctx.deregister_table(model)?;
    ctx.sql(&format!(
        "CREATE VIEW {model} AS SELECT * FROM {model}_all WHERE snapshot_date = DATE '{}'",
        d.format("%Y-%m-%d")
    ))
    .await?;
    Ok(())
}

/// The reference tables every session has (schemas/reference and the code lists).
pub const REFERENCE_TABLES: [&str; 6] = [
    "regions",
    "codelists",
    "ref_calendar",
    "ref_yibu_standard",
    "ref_ws_t_456",
    "ref_ws_t_586",
];

/// Reference CSVs registered as tables as they are, types inferred (numbers, ISO dates, text).
const REFERENCE_CSV: [(&str, &str); 4] = [
    ("ref_calendar", include_str!("../../schemas/reference/calendar.csv")),
    (
        "ref_yibu_standard",
        include_str!("../../schemas/reference/yibu_standard.csv"),
    ),
    (
        "ref_ws_t_456",
        include_str!("../../schemas/reference/ws_t_456_2014.csv"),
    ),
    (
        "ref_ws_t_586",
        include_str!("../../schemas/reference/ws_t_586_2018.csv"),
    ),
];

fn register_csv(ctx: &SessionContext, name: &str, text: &str) -> Result<()> {
    use arrow::csv::reader::{Format, ReaderBuilder};
    let format = Format::default().with_header(true);
    let (schema, _) = format.infer_schema(text.as_bytes(), None)?;
    let schema = Arc::new(schema);
    let reader = ReaderBuilder::new(schema.clone())
        .with_format(format)
        .build(text.as_bytes())?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(())
}

/// `regions`: the administrative divisions (schemas/reference), with a 6-digit `code6` for every
/// level (a city 4401 is 440100, a province 44 is 440000) and the full name from the province down.
pub fn register_reference(ctx: &SessionContext) -> Result<()> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::datasource::MemTable;

    let r = &catalog().regions;
    let mut rows: Vec<[String; 6]> = Vec::new();
    for (level, list) in [("省级", &r.provinces), ("地市", &r.cities), ("区县", &r.counties)] {
        for d in list.iter() {
            let mut full = String::new();
            for k in [2, 4] {
                // A municipality's "市辖区" says nothing in a full name.
                if d.code.len() > k {
                    full.push_str(
                        r.name(&d.code[..k])
                            .filter(|n| *n != "市辖区" && *n != "县")
                            .unwrap_or(""),
                    );
                }
            }
            full.push_str(&d.name);
            rows.push([
                format!("{:0<6}", d.code),
                d.code.clone(),
                d.name.clone(),
                full,
                level.to_string(),
                d.parent.clone(),
            ]);
        }
    }
    let names = ["code6", "code", "name", "full_name", "level", "parent_code"];
    let cols: Vec<ArrayRef> = (0..6)
        .map(|k| Arc::new(rows.iter().map(|row| Some(row[k].as_str())).collect::<StringArray>()) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_from_iter(names.iter().zip(cols).map(|(n, c)| (*n, c)))?;
    ctx.deregister_table("regions")?;
    ctx.register_table(
        "regions",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    // `codelists`: every code list (list, code, name), so SQL can map a value to its code.
    let cat = catalog();
    let mut lists: Vec<(&str, &str, &str)> = cat
        .codelists
        .iter()
        .flat_map(|(l, cl)| {
            cl.values
                .iter()
                .map(move |v| (l.as_str(), v.code.as_str(), v.name.as_str()))
        })
        .collect();
    lists.sort_unstable();
    let col = |k: usize| Arc::new(lists.iter().map(|r| Some([r.0, r.1, r.2][k])).collect::<StringArray>()) as ArrayRef;
    let batch = RecordBatch::try_from_iter([("list", col(0)), ("code", col(1)), ("name", col(2))])?;
    ctx.deregister_table("codelists")?;
    ctx.register_table(
        "codelists",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    for (name, text) in REFERENCE_CSV {
        register_csv(ctx, name, text)?;
    }
    Ok(())
}
