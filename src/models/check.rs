//! `xueji check`: every model planned against empty tables of the right shape, its header compared
//! with the tables the statement really reads, its result with its schema file.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use serde::Serialize;

use super::{SCHEMA_FILES, SQL_FILES, order, out_schema, parse};
use crate::ingest::stage::findings_schema;
use crate::schema::catalog;
use crate::warehouse::{self, log_schema};

#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Models that passed, in run order.
    pub ok: Vec<String>,
    /// What is wrong, one sentence each (Chinese first).
    pub problems: Vec<String>,
}

fn empty(ctx: &datafusion::prelude::SessionContext, name: &str, schema: Arc<Schema>) -> Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    Ok(())
}

/// Check the shipped models.
pub async fn check() -> Result<CheckReport> {
    check_files(SQL_FILES).await
}

/// Check model files given as (file name, text), against the shipped schema files.
pub async fn check_files(files: &[(&str, &str)]) -> Result<CheckReport> {
    let mut rep = CheckReport::default();
    let parsed: Result<Vec<_>> = files.iter().map(|(f, t)| parse(f, t)).collect();
    let all = match parsed.and_then(order) {
        Ok(m) => m,
        Err(e) => {
            rep.problems.push(format!("{e:#}"));
            return Ok(rep);
        }
    };
    let ctx = warehouse::session(1, 256)?;
    let date = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
    for t in catalog().input_tables() {
        empty(&ctx, &format!("{}_log", t.table.name), log_schema(t))?;
        warehouse::create_as_of_view(&ctx, &t.table.name, date).await?;
    }
    let mut rejects: Vec<Field> = findings_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    rejects.push(Field::new("snapshot_date", DataType::Date32, true));
    empty(&ctx, "rejects", Arc::new(Schema::new(rejects)))?;
    warehouse::register_reference(&ctx)?;

    let names: BTreeSet<&str> = all.iter().map(|m| m.name.as_str()).collect();
    for (f, _) in SCHEMA_FILES {
        let stem = f.trim_end_matches(".toml");
        if !all.iter().any(|m| m.schema == stem) {
            rep.problems.push(format!(
                "schemas/models/{f}: 没有模型使用这个结构文件 / no model names this schema"
            ));
        }
    }
    for m in &all {
        let mut bad = Vec::new();
        for i in &m.inputs {
            if !super::is_base_table(i) && !names.contains(i.as_str()) {
                bad.push(format!("文件头列出的输入 {i} 不是仓库表，也不是模型 / unknown input"));
            }
        }
        let schema = match out_schema(&m.schema) {
            Ok(s) => Some(s),
            Err(e) => {
                bad.push(format!("{e:#}"));
                None
            }
        };
        let state = ctx.state();
        // `AS MATERIALIZED` is checked as the inline statement it computes the same result as.
        let sql = super::materialize::inline(&m.sql);
        match state
            .sql_to_statement(&sql, &datafusion::config::Dialect::Generic)
            .and_then(|st| state.resolve_table_references(&st))
        {
            Ok(refs) => {
                let read: BTreeSet<String> = refs.iter().map(|r| r.table().to_string()).collect();
                let declared: BTreeSet<String> = m.inputs.iter().cloned().collect();
                let missing: Vec<&String> = read.difference(&declared).collect();
                let extra: Vec<&String> = declared.difference(&read).collect();
                if !missing.is_empty() {
                    bad.push(format!(
                        "语句读取了文件头未列出的表 / reads tables the header does not list: {missing:?}"
                    ));
                }
                if !extra.is_empty() {
                    bad.push(format!(
                        "文件头列出了语句并未读取的表 / header lists tables the statement does not read: {extra:?}"
                    ));
                }
            }
            Err(e) => bad.push(format!("SQL 无法解析 / does not parse: {e}")),
        }
        if bad.is_empty() {
            match ctx.sql(&sql).await {
                Ok(df) => {
                    if let Some(why) = schema.as_ref().and_then(|s| s.mismatch(df.schema().as_arrow())) {
                        bad.push(format!(
                            "结果与 schemas/models/{}.toml 不符 / result differs from its schema: {why}",
                            m.schema
                        ));
                    }
                }
                Err(e) => bad.push(format!("SQL 无法规划 / does not plan: {e}")),
            }
        }
        // Later models plan against this one's declared shape, whatever happened above.
        if let Some(s) = &schema {
            empty(&ctx, &format!("{}_all", m.name), s.arrow_with_date())?;
            warehouse::create_model_view(&ctx, &m.name, date).await?;
        }
        if bad.is_empty() {
            rep.ok.push(m.name.clone());
        } else {
            rep.problems
                .extend(bad.into_iter().map(|b| format!("sql/{}: {b}", m.file)));
        }
    }
    Ok(rep)
}
