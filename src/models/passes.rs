//! A model computed in passes (`-- buckets:` in its header, [`Buckets`]): its sets are written
//! as Parquet, and its statement runs once for each bucket of one set, each pass's rows written
//! as a file; the model's rows are those files.
//!
//! A hash join holds its build side in memory and cannot spill. At 20 million pupils
//! `dedup_pairs` joins 59 million pairs with every registration twice: one side of each join
//! alone outgrew an 18 GB memory pool. In passes, one pass holds its share of the pairs; the
//! passes run one after another (the partitions of one plan would all run at once).

use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use url::Url;

use super::Buckets;
use super::materialize::{held_name, with_cte_query};
use crate::warehouse::{self, scratch};

/// Where a model computed in passes writes its sets and passes: on a cluster, a new folder under
/// the session's scratch folder (the executors write there; [`PassDir::discard`] removes it); on
/// one machine, a new local folder ([`scratch::local_dir`]), removed when this is dropped.
pub enum PassDir {
    Local(tempfile::TempDir, Url),
    Cluster(Url),
}

impl PassDir {
    /// The folder of model `model` on session `on` (`cluster`: a cluster session).
    pub fn new(on: &SessionContext, cluster: bool, model: &str) -> Result<PassDir> {
        if cluster {
            let scratch = scratch::scratch_of(on)
                .context("bug: 集群会话没有临时目录 / a cluster session without a scratch folder")?;
            return Ok(PassDir::Cluster(scratch::new_folder(&scratch, model)?));
        }
        let dir = scratch::local_dir("passes")?;
        let url = Url::from_directory_path(dir.path())
            .map_err(|()| anyhow::anyhow!("暂存目录不是绝对路径：{}", dir.path().display()))?;
        Ok(PassDir::Local(dir, url))
    }

    pub fn url(&self) -> &Url {
        match self {
            PassDir::Local(_, u) | PassDir::Cluster(u) => u,
        }
    }

    /// Remove the folder and what is in it (a warning if that fails: the run removes its scratch
    /// folder at the end, or a later run).
    pub async fn discard(self, wh: &warehouse::Warehouse) {
        match self {
            PassDir::Local(dir, _) => drop(dir),
            PassDir::Cluster(url) => wh.discard_scratch(&url).await,
        }
    }
}

/// Whether the bucketed set `table` has the bucket column as an integer: the passes split it by
/// remainders, which other types would not all meet.
pub async fn check_column(ctx: &SessionContext, table: &str, b: &Buckets) -> Result<()> {
    let t = ctx.table(table).await?;
    let field = t.schema().field_with_unqualified_name(&b.column).map_err(|_| {
        anyhow::anyhow!(
            "分桶的公共表 {} 没有列 {} / the bucketed CTE has no such column",
            b.cte,
            b.column
        )
    })?;
    anyhow::ensure!(
        field.data_type().is_integer(),
        "分桶列 {}.{} 须为整数，实为 {} / the bucket column must be an integer",
        b.cte,
        b.column,
        field.data_type()
    );
    Ok(())
}

/// The condition of pass `i` of `n` on the bucket column: its value is `i` modulo `n` (a negative
/// value counted up from `n`, a null one in the first pass), so that every row is in exactly one
/// pass.
pub fn in_pass(b: &Buckets, i: u64, n: u64) -> String {
    let c = &b.column;
    let nulls = if i == 0 {
        format!(" OR {c} IS NULL")
    } else {
        String::new()
    };
    format!("({c} % {n} + {n}) % {n} = {i}{nulls}")
}

/// The rows of `sql` (model `owner`'s statement, its sets materialised) computed on `ctx` in `n`
/// passes, each written as one Parquet file in a new folder under `dir`; a table over those files
/// (an empty table in memory when no pass has rows).
///
/// A pass first gathers its bucket of the set, so that the planner knows its exact size and holds
/// it, not the registrations, in its hash table (a filter's size is a guess, which the pairs of a
/// whole country would have turned the wrong way).
pub async fn compute(
    ctx: &SessionContext,
    owner: &str,
    sql: &str,
    b: &Buckets,
    n: u64,
    dir: &Url,
) -> Result<Arc<dyn TableProvider>> {
    let set = held_name(owner, &b.cte);
    let bucket = held_name(owner, &format!("{}_bucket", b.cte));
    let folder = scratch::new_folder(dir, &format!("{owner}_passes"))?;
    let mut files = Vec::new();
    let mut schema = None;
    for i in 0..n {
        let pass = async {
            let gather = format!("SELECT * FROM {set} WHERE {}", in_pass(b, i, n));
            warehouse::register_collected_in(ctx, &bucket, &gather, Some(&folder)).await?;
            let df = ctx
                .sql(&with_cte_query(sql, &b.cte, &format!("SELECT * FROM {bucket}"))?)
                .await?;
            schema.get_or_insert_with(|| Arc::new(df.schema().as_arrow().clone()));
            let file = folder.join(&format!("pass-{i:05}.parquet"))?;
            let rows = scratch::write_file(df, &file).await?;
            anyhow::Ok((file, rows))
        }
        .await;
        ctx.deregister_table(bucket.as_str())?;
        let (file, rows) =
            pass.with_context(|| format!("第 {} 遍（共 {n} 遍）失败 / pass {} of {n} failed", i + 1, i + 1))?;
        // A pass without rows writes a file without columns: it is left out.
        if rows > 0 {
            files.push(file);
        }
    }
    let schema = schema.context("没有计算任何一遍 / no pass")?;
    Ok(if files.is_empty() {
        Arc::new(MemTable::try_new(schema, vec![Vec::new()])?)
    } else {
        scratch::files_table(&files, schema)?
    })
}

#[cfg(test)]
mod tests {
    use super::super::materialize;
    use super::*;

    fn sorted(batches: &[arrow::array::RecordBatch]) -> Vec<String> {
        let text = arrow::util::pretty::pretty_format_batches(batches).unwrap().to_string();
        let mut rows: Vec<String> = text
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(String::from)
            .collect();
        rows.sort();
        rows
    }

    /// The passes together give the statement's rows, each once: negative and null values of the
    /// bucket column included, whatever the number of passes; each pass is a file in the folder
    /// given, and a statement whose passes are all empty gives an empty table.
    #[tokio::test]
    async fn the_passes_together_give_every_row_once() {
        let ctx = SessionContext::new();
        let sql = "WITH s AS MATERIALIZED (SELECT * FROM (VALUES (1, 'a'), (-7, 'b'), (NULL, 'c'), (12, 'd'), \
                   (-9223372036854775807, 'e'), (9223372036854775807, 'f'), (4, 'g')) AS t(k, v)), \
                   r AS (SELECT * FROM (VALUES ('a', 10), ('c', 30), ('f', 60), ('g', 70)) AS t(v, w)) \
                   SELECT s.k, s.v, r.w FROM s LEFT JOIN r ON r.v = s.v";
        let b = Buckets {
            cte: "s".into(),
            column: "k".into(),
            row_bytes: 100,
        };
        let whole = sorted(
            &ctx.sql(&materialize::inline(sql))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap(),
        );
        assert_eq!(whole.len(), 7);
        let dir = PassDir::new(&ctx, false, "m").unwrap();
        let (held_sql, held) = materialize::materialize(&ctx, "m", sql, Some(dir.url())).await.unwrap();
        assert_eq!(held, ["__m_s"]);
        check_column(&ctx, "__m_s", &b).await.unwrap();
        for n in [1, 2, 3, 5, 16] {
            let t = compute(&ctx, "m", &held_sql, &b, n, dir.url()).await.unwrap();
            let got = sorted(&ctx.read_table(t).unwrap().collect().await.unwrap());
            assert_eq!(got, whole, "{n} passes");
        }
        let local = dir.url().to_file_path().unwrap();
        let files: Vec<String> = walk(&local);
        assert!(
            files.iter().any(|f| f.ends_with("-__m_s/part.parquet")),
            "the set is a file: {files:?}"
        );
        // One file a pass (an empty pass's too, left out of the table).
        assert_eq!(
            files.iter().filter(|f| f.contains("/pass-")).count(),
            1 + 2 + 3 + 5 + 16,
            "{files:?}"
        );

        let none = format!("{held_sql} WHERE s.k = 999");
        let t = compute(&ctx, "m", &none, &b, 3, dir.url()).await.unwrap();
        assert_eq!(ctx.read_table(t).unwrap().count().await.unwrap(), 0);
        drop(dir);
        assert!(!local.exists(), "the local folder goes with the model");

        let text = Buckets {
            column: "v".into(),
            ..b.clone()
        };
        let e = check_column(&ctx, "__m_s", &text).await.unwrap_err();
        assert!(e.to_string().contains("须为整数"), "{e}");
        let missing = Buckets {
            column: "x".into(),
            ..b
        };
        assert!(
            check_column(&ctx, "__m_s", &missing)
                .await
                .unwrap_err()
                .to_string()
                .contains("没有列 x")
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().to_string_lossy().into_owned());
            }
        }
        out
    }

    #[tokio::test]
    async fn the_number_of_passes_follows_the_pool() {
        let ctx = |mb: usize| crate::warehouse::session(2, mb).unwrap();
        let how_many = async |rows: u64, ctx: &SessionContext| {
            warehouse::passes_of(ctx, None, async { Ok(rows) }, 1024).await.unwrap()
        };
        // 4 GB: a quarter is 1 GB, a million rows of 1 KB.
        assert_eq!(how_many(1 << 20, &ctx(4096)).await, 1);
        assert_eq!(how_many((1 << 20) + 1, &ctx(4096)).await, 2);
        assert_eq!(how_many(59_000_000, &ctx(4096)).await, 57);
        assert_eq!(how_many(59_000_000, &ctx(8192)).await, 29);
        assert_eq!(how_many(0, &ctx(4096)).await, 1);
        assert_eq!(
            how_many(59_000_000, &SessionContext::new()).await,
            1,
            "no limit, one pass"
        );
    }
}
