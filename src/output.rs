//! What every kind of output shares (reports, the API's downloads, the generator's workbooks):
//! a value as text as people read it, and workbook properties that keep files byte-identical.

use anyhow::Result;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use rust_xlsxwriter::{DocProperties, IntoCustomDateTime};

/// A fixed creation time: otherwise a workbook records "now", and the same input would not give
/// byte-identical files (reports here, the generator's samples in synth).
struct Fixed;
impl IntoCustomDateTime for Fixed {
    fn utc_datetime(self) -> String {
        "2000-01-01T00:00:00Z".into()
    }
}

pub fn fixed_properties() -> DocProperties {
    DocProperties::new().set_creation_datetime(Fixed)
}

/// A value as printed: dates as YYYY-MM-DD, booleans as 是/否, whole floats without ".0".
pub fn text_column(a: &ArrayRef) -> Result<Vec<String>> {
    let n = a.len();
    let mut out = Vec::with_capacity(n);
    match a.data_type() {
        DataType::Boolean => {
            let b = a.as_boolean();
            for i in 0..n {
                out.push(if b.is_null(i) {
                    String::new()
                } else if b.value(i) {
                    "是".into()
                } else {
                    "否".into()
                });
            }
        }
        DataType::Float64 | DataType::Float32 => {
            let c = arrow::compute::cast(a, &DataType::Float64)?;
            let f = c.as_primitive::<Float64Type>();
            for i in 0..n {
                out.push(if f.is_null(i) {
                    String::new()
                } else {
                    number(f.value(i))
                });
            }
        }
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>();
            for i in 0..n {
                out.push(
                    d.value_as_date(i)
                        .filter(|_| d.is_valid(i))
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                );
            }
        }
        _ => {
            let c = arrow::compute::cast(a, &DataType::Utf8)?;
            let s = c.as_string::<i32>();
            for i in 0..n {
                out.push(if s.is_valid(i) {
                    s.value(i).to_string()
                } else {
                    String::new()
                });
            }
        }
    }
    Ok(out)
}

/// A number as a statistician writes it: no trailing ".0", at most two decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{:.2}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}
