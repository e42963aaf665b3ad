//! A cluster query's result as a table of the client's session: `xueji run --cluster` computes a
//! model on the executors and writes its night through the single-node commit (one Delta
//! version, one `_runs` row), reading the result as the executors send it.
//!
//! Why the client writes: a model's output is the small end of its work (marts are aggregates;
//! the largest list, the roster, is one row per pupil), while the joins and aggregations that
//! cost the time and memory run on the executors. The commit stays the one the single-node run
//! uses, with its checks (schema, replace-where, rollback of a crashed run), so a cluster run is
//! committed exactly as a single-node one, atomically, with no second code path writing Delta.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::DataFrame;
use futures::{StreamExt, TryStreamExt};

/// One partition: the cluster query, submitted when the local plan reads it (again if read again).
#[derive(Debug)]
struct Remote {
    schema: SchemaRef,
    df: DataFrame,
}

impl PartitionStream for Remote {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let df = self.df.clone();
        let stream = futures::stream::once(async move { df.execute_stream().await })
            .try_flatten()
            .boxed();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// The rows `df` (a statement planned on a cluster session) gives, as a table a local session
/// can read: each scan submits the statement to the cluster and streams its result back.
pub fn remote_table(df: DataFrame) -> datafusion::common::Result<Arc<dyn TableProvider>> {
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let part = Arc::new(Remote {
        schema: schema.clone(),
        df,
    });
    Ok(Arc::new(StreamingTable::try_new(schema, vec![part])?))
}
