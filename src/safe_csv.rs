//! CSV meant to be opened in Excel: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return would be run as a formula (`=HYPERLINK(…)` sends a click and the row's data
//! elsewhere), so such a cell is written with a leading `'`, as OWASP recommends for CSV
//! injection. Every CSV xueji writes for people goes through this writer.

use std::borrow::Cow;
use std::io::Write;

/// Whether Excel would run `s` as a formula.
fn runs_as_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `s` as a cell that Excel shows as text.
pub fn cell(s: &str) -> Cow<'_, str> {
    if runs_as_formula(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `b` with every text value passed through [`cell`], for a CSV writer of Arrow batches; columns
/// with nothing to neutralise are kept as they are.
pub fn neutralise_batch(b: &arrow::array::RecordBatch) -> arrow::error::Result<arrow::array::RecordBatch> {
    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use arrow::datatypes::DataType;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
    for c in b.columns() {
        let text = match c.data_type() {
            DataType::Utf8 => c.clone(),
            DataType::Utf8View | DataType::LargeUtf8 => arrow::compute::cast(c, &DataType::Utf8)?,
            _ => {
                columns.push(c.clone());
                continue;
            }
        };
        let strings = text.as_string::<i32>();
        if !strings.iter().flatten().any(runs_as_formula) {
            columns.push(c.clone());
            continue;
        }
        let safe: StringArray = strings.iter().map(|v| v.map(cell)).collect();
        columns.push(arrow::compute::cast(&safe, c.data_type())?);
    }
    arrow::array::RecordBatch::try_new(b.schema(), columns)
}

/// A CSV writer whose every cell passes through [`cell`].
pub struct Writer<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    pub fn new(w: W) -> Self {
        Writer {
            inner: csv::Writer::from_writer(w),
        }
    }

    pub fn write_record<I, T>(&mut self, record: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.inner
            .write_record(record.into_iter().map(|v| cell(v.as_ref()).into_owned()))
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_their_schema_and_numbers() {
        use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let b = RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(StringArray::from(vec![Some("=1+1"), None, Some("张三")])) as _,
            ),
            ("n", Arc::new(Int64Array::from(vec![-1, 2, 3])) as _),
        ])
        .unwrap();
        let out = neutralise_batch(&b).unwrap();
        assert_eq!(out.schema(), b.schema());
        let a = out.column(0).as_string::<i32>();
        assert_eq!((a.value(0), a.is_null(1), a.value(2)), ("'=1+1", true, "张三"));
        assert_eq!(out.column(1).as_primitive::<arrow::datatypes::Int64Type>().value(0), -1);
    }

    #[test]
    fn formulas_become_text_and_other_values_stay() {
        let mut w = Writer::new(Vec::new());
        w.write_record([
            "=HYPERLINK(\"http://x\",\"点我\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\t=1",
            "张三",
            "2024-09",
        ])
        .unwrap();
        let out = String::from_utf8(w.inner.into_inner().unwrap()).unwrap();
        assert_eq!(
            out,
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"点我\"\")\",'+1,'-2,'@SUM(A1),'\t=1,张三,2024-09\n"
        );
    }
}
