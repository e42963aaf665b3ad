//! A query's small result held in memory, for the planner to join the rest against.
//!
//! DataFusion puts on the build side of a hash join the input it believes smaller, comparing sizes
//! in bytes when both sides have one. A Parquet scan's size is its compressed size on disk, and it
//! ignores the filters pushed into the scan; a table in memory reports its real, uncompressed
//! size. Seventy thousand rows in memory then look larger than a million on disk, and the join
//! holds the million. A collected table therefore states its exact row count and no byte size, so
//! the planner compares rows, which mean the same on both sides, and joins in one hash table
//! (no repartitioning of the large side) when the rows are few.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, StatisticsArgs};

#[derive(Debug)]
pub struct Collected(MemTable);

impl Collected {
    pub fn new(mem: MemTable) -> Self {
        Self(mem)
    }

    /// The rows, for a codec that ships them to another process.
    pub fn mem(&self) -> &MemTable {
        &self.0
    }
}

#[async_trait]
impl TableProvider for Collected {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(CollectedExec(
            self.0.scan(state, projection, filters, limit).await?,
        )))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.0.supports_filters_pushdown(filters)
    }
}

/// The in-memory scan, as a leaf that reports rows but no bytes.
#[derive(Debug)]
struct CollectedExec(Arc<dyn ExecutionPlan>);

impl DisplayAs for CollectedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CollectedExec: ")?;
        self.0.fmt_as(t, f)
    }
}

impl ExecutionPlan for CollectedExec {
    fn name(&self) -> &str {
        "CollectedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.0.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.0.execute(partition, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        self.0.metrics()
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        // The in-memory scan is a leaf: it has no inputs to be given.
        let mut s = (*self.0.statistics_from_inputs(&[], args)?).clone();
        s.total_byte_size = Precision::Absent;
        Ok(Arc::new(s))
    }
}
