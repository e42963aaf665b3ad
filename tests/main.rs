//! The integration tests, as one test binary: each group below was its own binary, and every
//! binary links DataFusion, delta-rs and Typst again (~0.8 GB each in a debug build), which
//! filled CI's disk. Run one group with `cargo test --test integration marts::`.

mod common;

mod cluster;
mod dedup;
mod docs;
mod domain;
mod file_errors;
mod graduates;
mod hostile;
mod ingest_truth;
mod key_changes;
mod lookup;
mod marts;
mod monitoring;
mod nightly;
mod nutrition;
mod problems;
mod reports;
mod s3;
mod samples;
mod sensitive;
mod serve;
mod vacuum;
mod variants;
mod warehouse;
