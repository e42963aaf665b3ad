//! xueji (学籍): a data pipeline and reporting warehouse for China's K-12 student-registration data.
//!
//! Stages, one module each: [`ingest`] (validate and stage sources), [`warehouse`] (Delta tables,
//! nightly commits, as-of views), [`gen`] (synthetic data with ground truth), [`udf`] (SQL
//! functions), [`models`] (the SQL models in `sql/` and their runner), [`cluster`] (the same SQL on a
//! Ballista cluster). [`pipeline`] ties them into the commands the CLI runs.

pub mod bench;
pub mod cli;
pub mod cluster;
pub mod cols;
pub mod docs;
pub mod faults;
pub mod idcard;
pub mod ingest;
pub mod memory;
pub mod models;
pub mod output;
pub mod pipeline;
pub mod pipeline_config;
pub mod progress;
pub mod render;
pub mod safe_csv;
pub mod schema;
pub mod serve;
pub mod synth;
pub mod udf;
pub mod warehouse;
