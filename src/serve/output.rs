//! Rows as the client asked for them: CSV (UTF-8 with a BOM for Excel, or GB18030, the superset
//! of GBK that keeps every rare character of a name), JSON, JSON lines, Parquet or XLSX. Text
//! formats are written batch by batch, so a long list streams; Parquet is written in row groups
//! of 65,536 rows; a workbook can only be sent whole (it is written to a temporary file row by
//! row, in rust_xlsxwriter's constant-memory mode).

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::models::MaskKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    Parquet,
    Xlsx,
}

impl Format {
    pub const NAMES: [&'static str; 5] = ["csv", "json", "ndjson", "parquet", "xlsx"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            "xlsx" => Format::Xlsx,
            _ => return None,
        })
    }

    pub fn content_type(self, gbk: bool) -> &'static str {
        match self {
            Format::Csv if gbk => "text/csv; charset=GB18030",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
            Format::Xlsx => "xlsx",
        }
    }
}

/// What a response shows of each column: its name, Chinese label and mask.
#[derive(Debug, Clone)]
pub struct Shape {
    pub schema: SchemaRef,
    pub labels: Vec<String>,
    pub masks: Vec<Option<MaskKind>>,
}

impl Shape {
    /// The shape of a query's output: text columns become plain UTF-8 (what every reader takes),
    /// masked columns text whatever they were.
    pub fn new(input: &Schema, labels: Vec<String>, masks: Vec<Option<MaskKind>>) -> Self {
        let fields: Vec<Field> = input
            .fields()
            .iter()
            .zip(&masks)
            .map(|(f, m)| {
                if m.is_some() || is_text(f.data_type()) {
                    Field::new(f.name(), DataType::Utf8, f.is_nullable())
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Shape {
            schema: Arc::new(Schema::new(fields)),
            labels,
            masks,
        }
    }

    /// A batch of the query as the response shows it.
    pub fn apply(&self, b: &RecordBatch) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = b
            .columns()
            .iter()
            .zip(&self.masks)
            .zip(self.schema.fields())
            .map(|((a, m), f)| -> Result<ArrayRef> {
                Ok(match m {
                    Some(kind) => {
                        let s = crate::warehouse::strings(a)?;
                        Arc::new(s.iter().map(|v| v.map(|v| kind.apply(v))).collect::<StringArray>())
                    }
                    None if a.data_type() != f.data_type() => arrow::compute::cast(a, f.data_type())?,
                    None => a.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), cols)?)
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8View | DataType::LargeUtf8 | DataType::Dictionary(..))
}

/// A `Write` whose bytes can be taken out as they come (the Parquet writer owns its sink).
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

/// Turns batches into the bytes of one response body.
pub struct Encoder {
    format: Format,
    gbk: bool,
    /// Chinese labels instead of column names in the CSV header.
    label_header: bool,
    shape: Shape,
    /// JSON: whether a row was written yet (for the commas).
    any_row: bool,
    rows: u64,
    parquet: Option<(parquet::arrow::ArrowWriter<Shared>, Shared)>,
    xlsx: Option<(rust_xlsxwriter::Workbook, u32)>,
    /// JSON: the object's fields before `rows`.
    json_head: serde_json::Map<String, serde_json::Value>,
}

/// Excel's last row, less the header.
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

impl Encoder {
    pub fn new(
        format: Format,
        gbk: bool,
        label_header: bool,
        shape: Shape,
        json_head: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Encoder {
            format,
            gbk,
            label_header,
            shape,
            any_row: false,
            rows: 0,
            parquet: None,
            xlsx: None,
            json_head,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn text(&self, s: String) -> Vec<u8> {
        if self.gbk {
            encoding_rs::GB18030.encode(&s).0.into_owned()
        } else {
            s.into_bytes()
        }
    }

    /// The bytes before the first row.
    pub fn begin(&mut self) -> Result<Vec<u8>> {
        Ok(match self.format {
            Format::Csv => {
                let names: Vec<&str> = if self.label_header {
                    self.shape.labels.iter().map(String::as_str).collect()
                } else {
                    self.shape.schema.fields().iter().map(|f| f.name().as_str()).collect()
                };
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(names.iter().map(|n| crate::safe_csv::cell(n).into_owned()))?;
                let head = String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
                if self.gbk {
                    self.text(head)
                } else {
                    [b"\xEF\xBB\xBF".as_slice(), head.as_bytes()].concat()
                }
            }
            Format::Json => {
                let mut head = serde_json::to_string(&self.json_head)?;
                head.pop();
                let columns: Vec<serde_json::Value> = self
                    .shape
                    .schema
                    .fields()
                    .iter()
                    .zip(&self.shape.labels)
                    .map(|(f, l)| serde_json::json!({ "name": f.name(), "label": l }))
                    .collect();
                format!(
                    "{head}{}\"columns\":{},\"rows\":[",
                    if self.json_head.is_empty() { "" } else { "," },
                    serde_json::to_string(&columns)?
                )
                .into_bytes()
            }
            Format::Ndjson => Vec::new(),
            Format::Parquet => {
                let sink = Shared::default();
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_max_row_group_row_count(Some(65_536))
                    .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                self.parquet = Some((
                    parquet::arrow::ArrowWriter::try_new(sink.clone(), self.shape.schema.clone(), Some(props))?,
                    sink,
                ));
                Vec::new()
            }
            Format::Xlsx => {
                let mut wb = rust_xlsxwriter::Workbook::new();
                wb.set_properties(&crate::output::fixed_properties());
                // Rows go to a temporary file as they are written, not into cell objects held
                // until the end (a whole roster took the server to 2.9 GB): only the zipped
                // workbook is held, and only a few are built at a time (mod.rs).
                let ws = wb.add_worksheet_with_constant_memory()?;
                let head = rust_xlsxwriter::Format::new()
                    .set_bold()
                    .set_background_color("#EEF1F5");
                for (j, l) in self.shape.labels.iter().enumerate() {
                    ws.write_string_with_format(0, j as u16, l, &head)?;
                }
                ws.set_freeze_panes(1, 0)?;
                self.xlsx = Some((wb, 1));
                Vec::new()
            }
        })
    }

    /// The bytes of a batch of the query (masked here).
    pub fn batch(&mut self, b: &RecordBatch) -> Result<Vec<u8>> {
        let b = self.shape.apply(b)?;
        self.rows += b.num_rows() as u64;
        if b.num_rows() == 0 {
            return Ok(Vec::new());
        }
        Ok(match self.format {
            Format::Csv => {
                let mut w = arrow::csv::WriterBuilder::new().with_header(false).build(Vec::new());
                w.write(&crate::safe_csv::neutralise_batch(&b)?)?;
                let s = String::from_utf8(w.into_inner())?;
                self.text(s)
            }
            Format::Json | Format::Ndjson => {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
                w.write(&b)?;
                w.finish()?;
                let lines = w.into_inner();
                if self.format == Format::Ndjson {
                    return Ok(lines);
                }
                // JSON strings escape their newlines: each line is one row object.
                let mut out = Vec::with_capacity(lines.len() + b.num_rows());
                for line in lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                    if self.any_row {
                        out.push(b',');
                    }
                    out.extend_from_slice(line);
                    self.any_row = true;
                }
                out
            }
            Format::Parquet => {
                let (w, sink) = self.parquet.as_mut().expect("begun");
                w.write(&b)?;
                sink.take()
            }
            Format::Xlsx => {
                anyhow::ensure!(self.rows <= XLSX_MAX_ROWS, "超过 Excel 的行数上限");
                let (wb, row) = self.xlsx.as_mut().expect("begun");
                let ws = wb.worksheet_from_index(0)?;
                let text = rust_xlsxwriter::Format::new().set_num_format("@");
                let columns: Vec<(bool, Vec<String>)> = b
                    .columns()
                    .iter()
                    .map(|a| Ok((a.data_type().is_numeric(), crate::output::text_column(a)?)))
                    .collect::<Result<_>>()?;
                // Row by row: in constant-memory mode a row is final once the next one is begun.
                for i in 0..b.num_rows() {
                    let r = *row + i as u32;
                    for (j, (numeric, values)) in columns.iter().enumerate() {
                        let v = &values[i];
                        match v.parse::<f64>() {
                            _ if v.is_empty() => {}
                            Ok(n) if *numeric => {
                                ws.write_number(r, j as u16, n)?;
                            }
                            _ => {
                                ws.write_string_with_format(r, j as u16, v, &text)?;
                            }
                        }
                    }
                }
                *row += b.num_rows() as u32;
                Vec::new()
            }
        })
    }

    /// The bytes after the last row.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(match self.format {
            Format::Csv | Format::Ndjson => Vec::new(),
            Format::Json => format!("],\"row_count\":{}}}\n", self.rows).into_bytes(),
            Format::Parquet => {
                let (w, sink) = self.parquet.take().expect("begun");
                w.close()?;
                sink.take()
            }
            Format::Xlsx => {
                let (mut wb, _) = self.xlsx.take().expect("begun");
                wb.save_to_buffer()?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Date32Array;

    #[test]
    fn a_masked_date_is_served_as_text_with_its_year_only() {
        let input = Schema::new(vec![
            Field::new("birth_date", DataType::Date32, true),
            Field::new("apply_date", DataType::Date32, true),
        ]);
        let shape = Shape::new(
            &input,
            vec!["出生日期".into(), "申请日期".into()],
            vec![Some(MaskKind::Birthdate), None],
        );
        assert_eq!(shape.schema.field(0).data_type(), &DataType::Utf8, "masked: text");
        assert_eq!(shape.schema.field(1).data_type(), &DataType::Date32);
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let day = |y, m, d| (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32;
        let a: ArrayRef = Arc::new(Date32Array::from(vec![Some(day(2012, 3, 4)), None]));
        let b = RecordBatch::try_new(Arc::new(input), vec![a.clone(), a]).unwrap();
        let out = shape.apply(&b).unwrap();
        let shown = out.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(shown.value(0), "2012-**-**");
        assert!(shown.is_null(1));
        assert_eq!(out.column(1).data_type(), &DataType::Date32);
    }
}
