//! Registering the warehouse in a DataFusion session: the committed version of every table, the
//! change logs as `<table>_log`, and the as-of views `students`, `schools`, `movements`.

use anyhow::Result;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

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
        let Some(&v) = committed.get(name) else { continue };
        let provider = wh.at_version(name, v).await?.table_provider().await?;
        let reg = if HISTORY_TABLES.contains(&name) { format!("{name}_log") } else { name.to_string() };
        ctx.register_table(reg.as_str(), provider)?;
        tables.push(reg);
        if HISTORY_TABLES.contains(&name) {
            if let Some(d) = as_of {
                let t = catalog().table(name).expect("input table");
                let cols: Vec<String> = t.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
                let sql = format!(
                    "CREATE VIEW {name} AS SELECT record_key, {cols}, snapshot_date AS changed_on, source_file, source_row, DATE '{d}' AS as_of_date
                     FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY record_key ORDER BY snapshot_date DESC) AS rn_
                           FROM {name}_log WHERE snapshot_date <= DATE '{d}')
                     WHERE rn_ = 1 AND change <> 'delete'",
                    cols = cols.join(", "),
                    d = d.format("%Y-%m-%d")
                );
                ctx.sql(&sql).await?;
                tables.push(name.to_string());
            }
        }
    }
    if let Some(t) = wh.latest(NIGHTS).await? {
        ctx.register_table("nights", t.table_provider().await?)?;
        tables.push("nights".into());
    }
    Ok(Registered { as_of, latest, tables })
}
