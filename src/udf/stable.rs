//! `stable_id(kind, key)`: a problem group's identifier, keyed with the warehouse's secret so that
//! it cannot be recomputed from an ID number without the warehouse. The secret is the function's
//! state: on a cluster it travels inside the plan (the codecs of `crate::cluster` write it with the
//! function), and a node that receives a plan without it refuses rather than keying with 0.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

#[derive(PartialEq, Eq, Hash)]
pub struct StableId {
    secret: Option<u64>,
    signature: Signature,
}

/// Plans are printed (EXPLAIN, logs): never the secret.
impl std::fmt::Debug for StableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StableId")
            .field("keyed", &self.secret.is_some())
            .finish()
    }
}

/// `stable_id` keyed with `secret`; with `None`, a function that refuses to run.
pub fn stable_id_udf(secret: Option<u64>) -> ScalarUDF {
    ScalarUDF::new_from_impl(StableId {
        secret,
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

/// The secret a `stable_id` function carries, if `udf` is one.
pub fn secret_of(udf: &ScalarUDF) -> Option<Option<u64>> {
    let f: &dyn Any = udf.inner().as_ref();
    f.downcast_ref::<StableId>().map(|s| s.secret)
}

impl ScalarUDFImpl for StableId {
    fn name(&self) -> &str {
        "stable_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(secret) = self.secret else {
            return Err(DataFusionError::Execution(
                "stable_id：本节点没有仓库密钥（计划未携带）/ stable_id: no warehouse secret on this node".into(),
            ));
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (kind, key) = (super::str_arg(&arrays[0])?, super::str_arg(&arrays[1])?);
        let out: StringArray = (0..key.len())
            .map(|i| {
                (kind.is_valid(i) && key.is_valid(i)).then(|| super::stable_id(secret, kind.value(i), key.value(i)))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}
