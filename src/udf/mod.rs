//! Scalar functions registered in every session (so `xueji sql` has them too).
//!
//! - `id_defect(id)`: null for a valid resident ID number, else the defect code
//!   (`W_ID_MALFORMED`, `W_ID_LEGACY15`, `W_ID_DATE`, `W_ID_CHECK`, `W_ID_REGION`), after
//!   normalising spaces, full-width digits and a lower-case x.
//! - `id_normalise(id)`: that normalised form.
//! - `mask_id(id)`: `520102********123X` — the first 6 and last 4 characters kept.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::idcard;
use crate::schema::catalog;

fn map_str(args: &[ColumnarValue], f: impl Fn(&str) -> Option<String>) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let a = as_string_array(&arrays[0])?;
    let out: StringArray = a.iter().map(|v| v.and_then(&f)).collect();
    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
}

pub fn id_defect(raw: &str) -> Option<String> {
    let (norm, _) = idcard::normalise(raw);
    let today = chrono::Local::now().date_naive();
    let regions = &catalog().regions;
    idcard::analyse(&norm, today, |r| regions.known6(r)).err().map(|d| d.rule().to_string())
}

pub fn mask_id(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..6].iter().chain(std::iter::repeat_n(&'*', n - 10)).chain(&chars[n - 4..]).collect()
}

pub fn register(ctx: &SessionContext) {
    let s = |name: &str, f: fn(&str) -> Option<String>| {
        create_udf(name, vec![DataType::Utf8], DataType::Utf8, Volatility::Immutable, Arc::new(move |args: &[ColumnarValue]| map_str(args, f)))
    };
    ctx.register_udf(s("id_defect", id_defect));
    ctx.register_udf(s("id_normalise", |v| Some(idcard::normalise(v).0)));
    ctx.register_udf(s("mask_id", |v| Some(mask_id(v))));
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_keeps_six_and_four() {
        assert_eq!(super::mask_id("52010220150101123X"), "520102********123X");
    }
}
