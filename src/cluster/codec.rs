//! What xueji adds to Ballista's plan codecs, on the client, the scheduler and every executor:
//!
//! - small tables held in memory (the reference lists; collected sets of a session without a
//!   scratch folder, `crate::warehouse::scratch`) travel inside the plan as Arrow IPC: Ballista
//!   cannot otherwise ship a `MemTable`;
//! - `stable_id` travels with its warehouse secret (see `crate::udf::stable`).
//!
//! Everything else is Ballista's.

use std::io::Cursor;
use std::sync::Arc;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::udf::stable::{secret_of, stable_id_udf};
use crate::warehouse::collected::Collected;

/// The first byte of a table this codec wrote (Ballista's own encodings are protobuf, whose
/// first byte is never 0xFF).
const MEM_TABLE: u8 = 0xFF;

#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

fn err(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("xueji codec: {e}"))
}

/// A table in memory as one Arrow IPC stream (its partitions concatenated).
fn encode_mem(mem: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
    buf.push(MEM_TABLE);
    let mut w = StreamWriter::try_new(&mut *buf, &mem.schema())?;
    for part in &mem.batches {
        let batches = part
            .try_read()
            .map_err(|_| err("a table in memory is being written while it is shipped"))?;
        for b in batches.iter() {
            w.write(b)?;
        }
    }
    w.finish()?;
    Ok(())
}

fn decode_mem(buf: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let reader = StreamReader::try_new(Cursor::new(&buf[1..]), None)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

fn encode_secret(udf: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    match secret_of(udf) {
        Some(Some(secret)) => {
            buf.extend_from_slice(&secret.to_le_bytes());
            true
        }
        _ => false,
    }
}

fn decode_secret(name: &str, buf: &[u8]) -> Option<Arc<ScalarUDF>> {
    (name == "stable_id" && buf.len() == 8).then(|| {
        let secret = u64::from_le_bytes(buf.try_into().expect("8 bytes"));
        Arc::new(stable_id_udf(Some(secret)))
    })
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        if buf.first() == Some(&MEM_TABLE) {
            return decode_mem(buf, schema);
        }
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let any: &dyn std::any::Any = node.as_ref();
        if let Some(mem) = any.downcast_ref::<MemTable>() {
            return encode_mem(mem, buf);
        }
        if let Some(c) = any.downcast_ref::<Collected>() {
            return encode_mem(c.mem(), buf);
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_secret(name, buf).map_or_else(|| self.inner.try_decode_udf(name, buf), Ok)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_secret(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_secret(name, buf).map_or_else(|| self.inner.try_decode_udf(name, buf), Ok)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_secret(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }
}
