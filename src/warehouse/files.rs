//! A Delta table at one version as a plan over its active Parquet files, for sessions that run
//! on a cluster ([`ScanFiles`]). delta-rs's own scan cannot travel to another process (its
//! physical node has no codec), and a plain listing of the table's folders would also read the
//! files that later versions replaced. Here the client resolves the version into its files, one
//! Parquet listing per partition value over exactly those files, each projected with its
//! partition value as a constant and the whole a union: DataFusion's own nodes, which every
//! node of the cluster can plan and run.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use datafusion::scalar::ScalarValue;
use deltalake_core::DeltaTable;
use url::Url;

/// Marks a session whose plans run on a cluster: [`super::scan`] then gives file lists, and
/// [`super::register_collected`] has the executors write its sets to `scratch`
/// (`super::scratch`) when given.
#[derive(Debug, Default, Clone)]
pub struct ScanFiles {
    pub scratch: Option<Url>,
}

/// The table `t` as a union of Parquet listings of its active files, one per partition value.
pub fn file_list(t: &DeltaTable) -> Result<Arc<dyn TableProvider>> {
    let state = t.snapshot()?;
    let schema = state.snapshot().arrow_schema();
    let parts: Vec<String> = state.metadata().partition_columns().to_vec();
    let file_schema = Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !parts.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    // Files by their partition values (as the log writes them), in a stable order.
    // Each file's URL from the table's root URL (percent-encoded as a URL, so that a local path
    // with spaces or Chinese characters stays one; delta-rs's own URI form is a bare path).
    let mut root = t.log_store().root_url().to_string();
    if !root.ends_with('/') {
        root.push('/');
    }
    let mut groups: BTreeMap<Vec<Option<String>>, Vec<String>> = BTreeMap::new();
    for f in state.log_data().iter() {
        let values = f.partition_values_map();
        let key: Vec<Option<String>> = parts.iter().map(|p| values.get(p).cloned().flatten()).collect();
        groups
            .entry(key)
            .or_default()
            .push(format!("{root}{}", f.object_store_path().as_ref()));
    }
    if groups.is_empty() {
        return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
    }
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let mut union: Option<LogicalPlanBuilder> = None;
    for (values, mut files) in groups {
        files.sort();
        let urls = files
            .iter()
            .map(|u| ListingTableUrl::parse(u).with_context(|| format!("文件地址无效：{u}")))
            .collect::<Result<Vec<_>>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options.clone())
            .with_schema(file_schema.clone());
        let listing = Arc::new(ListingTable::try_new(config)?);
        let source = datafusion::datasource::provider_as_source(listing);
        // Every column in the table's order, a partition column as its constant value.
        let exprs = schema
            .fields()
            .iter()
            .map(|f| match parts.iter().position(|p| p == f.name()) {
                Some(k) => {
                    let v = match &values[k] {
                        Some(s) => ScalarValue::try_from_string(s.clone(), f.data_type())?,
                        None => ScalarValue::try_from(f.data_type())?,
                    };
                    Ok(lit(v).alias(f.name()))
                }
                None => Ok(Expr::Column(Column::from_name(f.name()))),
            })
            .collect::<Result<Vec<Expr>>>()?;
        let branch = LogicalPlanBuilder::scan("f", source, None)?.project(exprs)?.build()?;
        union = Some(match union {
            None => LogicalPlanBuilder::from(branch),
            Some(u) => u.union(branch)?,
        });
    }
    let plan = union.expect("non-empty").build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
