//! Tables whose change join would outgrow the memory pool are committed in passes, one bucket
//! of record keys each: how many passes, and the staged results of each.

use super::*;

/// Bytes the memory pool books for one row in the hash table of a comparison join (a key and a
/// hash, or a file, row and key): at 20 million pupils about 196 measured with text read as
/// Utf8View and about 226 with a cast to Utf8 (what the session now reads), with a margin.
pub(super) const JOIN_ROW_BYTES: u64 = 256;

/// How many passes hash tables of `bytes` in all are split into so that one pass's takes at most
/// a quarter of a memory pool of `pool_bytes` (a hash join cannot spill, and other operators, or
/// another model, share the pool).
pub(super) fn passes_for(bytes: u64, pool_bytes: u64) -> u64 {
    bytes.div_ceil((pool_bytes / 4).max(1)).max(1)
}

/// The size of the session's memory pool, if it has a limit.
pub(super) fn pool_bytes(ctx: &SessionContext) -> Option<u64> {
    use datafusion::execution::memory_pool::MemoryLimit;
    match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => Some(n as u64),
        _ => None,
    }
}

/// Rows of `FROM …` (answered from file statistics where they exist).
pub async fn count(ctx: &SessionContext, from: &str) -> Result<u64> {
    Ok(ctx.sql(&format!("SELECT 1 FROM {from}")).await?.count().await? as u64)
}

/// `None` (everything at once) for one bucket, else each bucket (b, n) in turn.
pub(super) fn bucket_list(n: u64) -> impl Iterator<Item = Option<(u64, u64)>> {
    (0..n.max(1)).map(move |b| (n > 1).then_some((b, n)))
}

/// Run `sqls` one after another into Parquet files in `dir` (under the staging directory), and
/// register them as `table` of `schema`.
pub(super) async fn stage_results(
    ctx: &SessionContext,
    table: &str,
    dir: &Path,
    schema: SchemaRef,
    sqls: impl Iterator<Item = String>,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = format!("{}/", dir.to_str().context("staging path is not UTF-8")?);
    let opts = crate::warehouse::scratch::temp_parquet();
    for sql in sqls {
        ctx.sql(&sql)
            .await?
            .write_parquet(&path, DataFrameWriteOptions::new(), Some(opts.clone()))
            .await?;
    }
    ctx.deregister_table(table)?;
    register_staged(ctx, table, dir, schema).await
}

/// How many buckets or passes: as given, or from the memory pool of `ctx` for hash tables of
/// `rows` rows (counted only then) of `row_bytes` each; one without a pool limit.
pub async fn passes_of(
    ctx: &SessionContext,
    given: Option<u64>,
    rows: impl std::future::Future<Output = Result<u64>>,
    row_bytes: u64,
) -> Result<u64> {
    Ok(match (given, pool_bytes(ctx)) {
        (Some(n), _) => n.max(1),
        (None, Some(pool)) => passes_for(rows.await?.saturating_mul(row_bytes), pool),
        (None, None) => 1,
    })
}
