//! `WITH x AS MATERIALIZED (…)` in a model or a `xueji sql` query: the CTE is computed first, held
//! in memory (or written as Parquet: a model computed in passes, a cluster), and the rest of the
//! statement planned against its exact size.
//!
//! The keyword is PostgreSQL's and DuckDB's, and DuckDB honours it, so the cross-check still runs
//! the file as it is. DataFusion's own dialect does not accept it, and DataFusion cannot know how
//! many rows a filter keeps: it guesses from the unfiltered table, and a join may then hold a
//! million rows in its hash table to probe seventy thousand. A model marks the small, selective
//! part it joins the rest to; that part must stay small at provincial scale, as it is held in
//! memory outside the memory pool — unless the model is computed in passes (`super::passes`),
//! whose sets are written as Parquet.

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CteAsMaterialized, Query, Statement, With};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use url::Url;

use crate::warehouse::register_collected_in;

/// Whether `sql` may use the keyword; statements without it are left exactly as written.
pub fn marks_materialized(sql: &str) -> bool {
    sql.to_ascii_uppercase().contains("MATERIALIZED")
}

fn parse_statement(sql: &str) -> Result<Statement> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)?;
    match (statements.pop(), statements.is_empty()) {
        (Some(st), true) => Ok(st),
        _ => anyhow::bail!("应为一条语句 / expected one statement"),
    }
}

/// The query of a statement, or of the statement an `EXPLAIN [ANALYZE]` shows.
fn query_of(st: &mut Statement) -> Option<&mut Query> {
    match st {
        Statement::Query(q) => Some(q),
        Statement::Explain { statement, .. } => query_of(statement),
        _ => None,
    }
}

/// The statement with every `MATERIALIZED` dropped: the same result, computed inline. This is what
/// `xueji check` plans, and what a reader without the keyword would run. What the PostgreSQL
/// dialect cannot read is returned as written, for DataFusion's own message.
pub fn inline(sql: &str) -> String {
    let Some(mut st) = marks_materialized(sql).then(|| parse_statement(sql).ok()).flatten() else {
        return sql.to_string();
    };
    for cte in query_of(&mut st)
        .into_iter()
        .flat_map(|q| q.with.iter_mut())
        .flat_map(|w| w.cte_tables.iter_mut())
    {
        cte.materialized = None;
    }
    st.to_string()
}

/// The names of the CTEs of `sql` marked `AS MATERIALIZED`.
pub fn materialized_ctes(sql: &str) -> Vec<String> {
    let Some(mut st) = marks_materialized(sql).then(|| parse_statement(sql).ok()).flatten() else {
        return Vec::new();
    };
    query_of(&mut st)
        .into_iter()
        .flat_map(|q| q.with.iter())
        .flat_map(|w| w.cte_tables.iter())
        .filter(|c| c.materialized == Some(CteAsMaterialized::Materialized))
        .map(|c| c.alias.name.value.clone())
        .collect()
}

/// The table a materialized CTE `cte` of `owner` becomes.
pub fn held_name(owner: &str, cte: &str) -> String {
    format!("__{owner}_{cte}")
}

/// Statement `sql` with the query of its CTE `cte` replaced by `query`.
pub fn with_cte_query(sql: &str, cte: &str, query: &str) -> Result<String> {
    let mut st = parse_statement(sql)?;
    let Statement::Query(q) = parse_statement(query)? else {
        anyhow::bail!("不是查询语句 / not a query: {query}")
    };
    let target = query_of(&mut st)
        .and_then(|s| s.with.as_mut())
        .and_then(|w| w.cte_tables.iter_mut().find(|c| c.alias.name.value == cte))
        .with_context(|| format!("语句中没有公共表 {cte} / no CTE of that name"))?;
    target.query = q;
    Ok(st.to_string())
}

/// Runs the materialized CTEs of statement `sql` (a model's, or one given to `xueji sql`) in
/// order, each registered as a table named after `owner` and the CTE ([`held_name`]), and returns
/// the statement that reads them in their place, with the names of those tables (the caller drops
/// them when done). A set is held in memory, or written as Parquet under `dir` when given (or
/// under the session's scratch folder on a cluster).
pub async fn materialize(
    ctx: &SessionContext,
    owner: &str,
    sql: &str,
    dir: Option<&Url>,
) -> Result<(String, Vec<String>)> {
    if !marks_materialized(sql) {
        return Ok((sql.to_string(), Vec::new()));
    }
    // What the PostgreSQL dialect cannot read goes to DataFusion as written, for its own message.
    let Ok(mut st) = parse_statement(sql) else {
        return Ok((sql.to_string(), Vec::new()));
    };
    let mut held: Vec<String> = Vec::new();
    if let Some(with) = query_of(&mut st).and_then(|q| q.with.as_mut()) {
        for i in 0..with.cte_tables.len() {
            if with.cte_tables[i].materialized != Some(CteAsMaterialized::Materialized) {
                continue;
            }
            // The CTE may read those before it: they travel with it (an earlier materialized one
            // as the table it has already become).
            let mut part = (*with.cte_tables[i].query).clone();
            let earlier = with.cte_tables[..i].to_vec();
            if !earlier.is_empty() {
                match part.with.as_mut() {
                    Some(w) => w.cte_tables.splice(0..0, earlier).for_each(drop),
                    None => {
                        part.with = Some(With {
                            with_token: with.with_token.clone(),
                            recursive: with.recursive,
                            cte_tables: earlier,
                        })
                    }
                }
            }
            let name = &with.cte_tables[i].alias.name;
            let table = held_name(owner, &name.value);
            if let Err(e) = register_collected_in(ctx, &table, &part.to_string(), dir).await {
                // The caller never sees the names of those already held: they go here.
                for t in &held {
                    ctx.deregister_table(t.as_str())?;
                }
                return Err(e.context(format!("{name}（AS MATERIALIZED）无法计算 / cannot be computed")));
            }
            let Statement::Query(read) = parse_statement(&format!("SELECT * FROM {table}"))? else {
                anyhow::bail!("{table}: not a query")
            };
            with.cte_tables[i].query = read;
            with.cte_tables[i].materialized = None;
            held.push(table);
        }
    }
    Ok((st.to_string(), held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_materialized_cte_is_computed_once_and_read_in_its_place() {
        let ctx = SessionContext::new();
        let sql = "WITH a AS MATERIALIZED (SELECT 1 AS x UNION ALL SELECT 2), \
                   b AS (SELECT x * 10 AS y FROM a), \
                   c AS MATERIALIZED (SELECT y FROM b WHERE y > 10) \
                   SELECT a.x, c.y FROM a CROSS JOIN c ORDER BY a.x";
        let (run, held) = materialize(&ctx, "m", sql, None).await.unwrap();
        assert_eq!(held, ["__m_a", "__m_c"]);
        assert!(!marks_materialized(&run), "{run}");
        let got = ctx.sql(&run).await.unwrap().collect().await.unwrap();
        let want = ctx.sql(&inline(sql)).await.unwrap().collect().await.unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&got).unwrap().to_string(),
            arrow::util::pretty::pretty_format_batches(&want).unwrap().to_string()
        );
        assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // A statement without the keyword is not touched, not even reformatted.
        let plain = "SELECT 1 -- as written";
        assert_eq!(
            materialize(&ctx, "m", plain, None).await.unwrap(),
            (plain.to_string(), vec![])
        );
        assert_eq!(inline(plain), plain);
    }
}
