//! Staging: accepted rows and findings of one worker, as Parquet files in a local directory,
//! flushed every few thousand rows so memory stays bounded whatever the input size.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::validate::{Typed, typed};
use crate::schema::TableSchema;

const BATCH: usize = 8192;

/// System columns appended to every input table's data columns in staging.
pub fn staging_schema(t: &TableSchema) -> SchemaRef {
    let mut f = t.data_fields();
    f.push(Field::new("base_key", DataType::Utf8, false));
    f.push(Field::new("row_hash", DataType::Int64, false));
    f.push(Field::new("source_file", DataType::Utf8, false));
    f.push(Field::new("source_row", DataType::Int64, false));
    Arc::new(Schema::new(f))
}

pub fn findings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("row_no", DataType::Int64, true),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("column_header", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("rule_code", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
        Field::new("expected", DataType::Utf8, true),
        Field::new("base_key", DataType::Utf8, true),
    ]))
}

/// A staging Parquet file, created on the first batch (a worker that sees no rows of a table
/// leaves no empty file behind).
struct PartFile {
    path: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
}

impl PartFile {
    fn new(path: PathBuf, schema: SchemaRef) -> Self {
        PartFile {
            path,
            schema,
            writer: None,
        }
    }

    fn write(&mut self, arrays: Vec<ArrayRef>) -> Result<()> {
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        if self.writer.is_none() {
            let props = WriterProperties::builder()
                .set_compression(Compression::LZ4_RAW)
                .build();
            self.writer = Some(ArrowWriter::try_new(
                File::create(&self.path)?,
                self.schema.clone(),
                Some(props),
            )?);
        }
        self.writer.as_mut().expect("created above").write(&batch)?;
        Ok(())
    }

    fn close(self) -> Result<()> {
        if let Some(w) = self.writer {
            w.close()?;
        }
        Ok(())
    }
}

enum ColBuilder {
    Str(StringBuilder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
    Float(Float64Builder),
    Int(Int64Builder),
}

/// Accepted rows of one table, written to `dir/<table>/part-<worker>-<n>.parquet`.
pub struct RowSink {
    table: &'static TableSchema,
    cols: Vec<ColBuilder>,
    base_key: StringBuilder,
    row_hash: Int64Builder,
    file: StringBuilder,
    row: Int64Builder,
    len: usize,
    out: PartFile,
    pub rows: u64,
}

impl RowSink {
    pub fn new(table: &'static TableSchema, dir: &Path, worker: usize) -> Result<Self> {
        let d = dir.join(&table.table.name);
        std::fs::create_dir_all(&d)?;
        let cols = table
            .columns
            .iter()
            .map(|c| match c.col_type.arrow() {
                DataType::Date32 => ColBuilder::Date(Date32Builder::new()),
                DataType::Boolean => ColBuilder::Bool(BooleanBuilder::new()),
                DataType::Float64 => ColBuilder::Float(Float64Builder::new()),
                DataType::Int64 => ColBuilder::Int(Int64Builder::new()),
                _ => ColBuilder::Str(StringBuilder::new()),
            })
            .collect();
        Ok(RowSink {
            table,
            cols,
            base_key: StringBuilder::new(),
            row_hash: Int64Builder::new(),
            file: StringBuilder::new(),
            row: Int64Builder::new(),
            len: 0,
            out: PartFile::new(d.join(format!("part-{worker:03}.parquet")), staging_schema(table)),
            rows: 0,
        })
    }

    pub fn push(&mut self, values: &[String], base_key: &str, hash: i64, file: &str, row: u64) -> Result<()> {
        for ((b, v), c) in self.cols.iter_mut().zip(values).zip(&self.table.columns) {
            match (b, typed(c.col_type, v)) {
                (ColBuilder::Str(b), Typed::Str) => b.append_value(v),
                (ColBuilder::Date(b), Typed::Date(d)) => b.append_value(d),
                (ColBuilder::Bool(b), Typed::Bool(x)) => b.append_value(x),
                (ColBuilder::Float(b), Typed::Float(x)) => b.append_value(x),
                (ColBuilder::Int(b), Typed::Int(x)) => b.append_value(x),
                (ColBuilder::Str(b), _) => b.append_null(),
                (ColBuilder::Date(b), _) => b.append_null(),
                (ColBuilder::Bool(b), _) => b.append_null(),
                (ColBuilder::Float(b), _) => b.append_null(),
                (ColBuilder::Int(b), _) => b.append_null(),
            }
        }
        self.base_key.append_value(base_key);
        self.row_hash.append_value(hash);
        self.file.append_value(file);
        self.row.append_value(row as i64);
        self.len += 1;
        self.rows += 1;
        if self.len >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    ColBuilder::Str(b) => Arc::new(b.finish()),
                    ColBuilder::Date(b) => Arc::new(b.finish()),
                    ColBuilder::Bool(b) => Arc::new(b.finish()),
                    ColBuilder::Float(b) => Arc::new(b.finish()),
                    ColBuilder::Int(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        arrays.push(Arc::new(self.base_key.finish()));
        arrays.push(Arc::new(self.row_hash.finish()));
        arrays.push(Arc::new(self.file.finish()));
        arrays.push(Arc::new(self.row.finish()));
        self.out.write(arrays)?;
        self.len = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.out.close()
    }
}

/// One finding row, as it goes to the `rejects` table.
pub struct FindingRow<'a> {
    pub file: &'a str,
    pub table: &'a str,
    pub row: Option<u64>,
    pub column: Option<(&'a str, &'a str)>,
    pub value: Option<&'a str>,
    pub rule: &'a str,
    pub severity: &'a str,
    pub message: &'a str,
    pub expected: &'a str,
    pub base_key: Option<&'a str>,
}

pub struct FindingSink {
    b: [StringBuilder; 10],
    row: Int64Builder,
    len: usize,
    out: PartFile,
}

impl FindingSink {
    pub fn new(dir: &Path, worker: usize) -> Result<Self> {
        let d = dir.join("findings");
        std::fs::create_dir_all(&d)?;
        Ok(FindingSink {
            b: std::array::from_fn(|_| StringBuilder::new()),
            row: Int64Builder::new(),
            len: 0,
            out: PartFile::new(d.join(format!("part-{worker:03}.parquet")), findings_schema()),
        })
    }

    pub fn push(&mut self, f: FindingRow<'_>) -> Result<()> {
        let b = &mut self.b;
        b[0].append_value(f.file);
        b[1].append_value(f.table);
        self.row.append_option(f.row.map(|r| r as i64));
        b[2].append_option(f.column.map(|c| c.0));
        b[3].append_option(f.column.map(|c| c.1));
        b[4].append_option(f.value);
        b[5].append_value(f.rule);
        b[6].append_value(f.severity);
        b[7].append_value(f.message);
        b[8].append_value(f.expected);
        b[9].append_option(f.base_key);
        self.len += 1;
        if self.len >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9] = &mut self.b;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(b0.finish()),
            Arc::new(b1.finish()),
            Arc::new(self.row.finish()),
            Arc::new(b2.finish()),
            Arc::new(b3.finish()),
            Arc::new(b4.finish()),
            Arc::new(b5.finish()),
            Arc::new(b6.finish()),
            Arc::new(b7.finish()),
            Arc::new(b8.finish()),
            Arc::new(b9.finish()),
        ];
        self.out.write(arrays)?;
        self.len = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.out.close()
    }
}
