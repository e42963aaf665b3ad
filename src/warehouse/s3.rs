//! `s3://` warehouses: delta-rs resolves a table URL through its registries of object-store and
//! log-store factories; this registers an S3 factory built on `object_store`'s AmazonS3 client
//! (credentials, region and endpoint from the usual `AWS_*` environment variables), so that no
//! AWS SDK is linked. Commits use the store's conditional put (`If-None-Match`), which S3 and its
//! compatible servers honour, so two writers cannot both create the same log entry.

use std::sync::{Arc, Once};

use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake_core::{DeltaResult, DeltaTableError, Path};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use url::Url;

struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(&self, url: &Url, config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        store_with(url, config.raw.iter())
            .map_err(|e| DeltaTableError::generic(format!("S3 配置错误 / S3 configuration: {e}")))
    }
}

/// The store at the root of the bucket of `url` and the path inside it: settings from the `AWS_*`
/// environment, then any `options` (keys as in `AmazonS3ConfigKey`).
fn store_with<'a>(
    url: &Url,
    options: impl Iterator<Item = (&'a String, &'a String)>,
) -> anyhow::Result<(Arc<dyn object_store::ObjectStore>, Path)> {
    let mut b = AmazonS3Builder::from_env().with_url(url.as_str());
    for (k, v) in options {
        if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            b = b.with_config(key, v);
        }
    }
    Ok((Arc::new(b.build()?), Path::from_url_path(url.path())?))
}

struct S3Logs;

impl LogStoreFactory for S3Logs {
    fn with_options(
        &self,
        prefixed: ObjectStoreRef,
        root: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed, root, location, options))
    }
}

/// Register the `s3://` handlers once per process.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let scheme = Url::parse("s3://").expect("static URL");
        object_store_factories().insert(scheme.clone(), Arc::new(S3Stores));
        logstore_factories().insert(scheme, Arc::new(S3Logs));
    });
}

/// The store at the root of an `s3://bucket/prefix/` URL, for files that are not tables (reports).
pub fn store_for(url: &Url) -> anyhow::Result<(Arc<dyn object_store::ObjectStore>, Path)> {
    store_with(url, std::iter::empty())
}
