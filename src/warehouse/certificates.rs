//! The register of numbered documents (学籍证明): every number issued is one small JSON object
//! in the warehouse, `_xueji/certificates/<学校标识码>/<year>/<seq>.json`, created with the
//! store's put-if-absent. Two renders that race for a number cannot both get it, on a local
//! disk or on S3, and a number is never given twice. `xueji sql` shows the register as the
//! table `certificates`.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::Serialize;

use super::Warehouse;

const DIR: &str = "certificates";

/// One issued number, as the register keeps it: who it was issued for, never their ID number.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub serial: String,
    pub report: String,
    pub school_id: String,
    pub registration_no: String,
    pub name: String,
    /// The snapshot the document was printed from.
    pub snapshot_date: String,
    /// Local time of issue, RFC 3339.
    pub issued_at: String,
}

/// The columns of `certificates`.
fn schema() -> Arc<Schema> {
    let names = [
        "serial",
        "report",
        "school_id",
        "registration_no",
        "name",
        "snapshot_date",
        "issued_at",
    ];
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// The number printed: school, year, and the school's count of the year, e.g. 5201020001-2026-00017.
fn serial(school_id: &str, year: i32, seq: u64) -> String {
    format!("{school_id}-{year}-{seq:05}")
}

/// Give the next number of `school_id` for this year to one document and record it.
pub async fn issue(
    wh: &Warehouse,
    report: &str,
    school_id: &str,
    registration_no: &str,
    name: &str,
    snapshot_date: &str,
) -> Result<Issued> {
    anyhow::ensure!(
        !school_id.is_empty() && school_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "报表 {report}：学校标识码“{school_id}”无效，无法编号"
    );
    let now = chrono::Local::now();
    let year = chrono::Datelike::year(&now);
    let (store, root) = wh.store()?;
    let dir = root
        .clone()
        .join("_xueji")
        .join(DIR)
        .join(school_id)
        .join(year.to_string());
    // Start after the highest number issued; a racing writer only makes us try the next one.
    let listed: Vec<_> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .with_context(|| format!("无法读取学籍证明登记簿 {dir}"))?;
    let mut seq = listed
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    loop {
        let rec = Issued {
            serial: serial(school_id, year, seq),
            report: report.to_string(),
            school_id: school_id.to_string(),
            registration_no: registration_no.to_string(),
            name: name.to_string(),
            snapshot_date: snapshot_date.to_string(),
            issued_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        };
        let mut line = serde_json::to_vec(&rec)?;
        line.push(b'\n');
        let path = dir.clone().join(format!("{seq:05}.json"));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match store.put_opts(&path, PutPayload::from(line), opts).await {
            Ok(_) => return Ok(rec),
            Err(object_store::Error::AlreadyExists { .. }) => seq += 1,
            Err(e) => return Err(anyhow::Error::new(e).context(format!("无法登记学籍证明编号 {}", rec.serial))),
        }
    }
}

/// Register `certificates` in a session: read when a statement names it, not before.
pub fn register(wh: &Warehouse, ctx: &SessionContext) -> Result<()> {
    let url = wh.root().join(&format!("_xueji/{DIR}/"))?;
    if url.scheme() != "file" {
        // The session reads the register through the same store the warehouse writes with.
        let (store, _) = wh.store()?;
        let bucket = url::Url::parse(&format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()))?;
        ctx.register_object_store(&bucket, store as Arc<dyn ObjectStore>);
    }
    let options = ListingOptions::new(Arc::new(JsonFormat::default())).with_file_extension(".json");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url.as_str())?)
        .with_listing_options(options)
        .with_schema(schema());
    ctx.register_table("certificates", Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_sort_as_issued() {
        assert_eq!(serial("5201020001", 2026, 17), "5201020001-2026-00017");
        assert!(serial("5201020001", 2026, 99) < serial("5201020001", 2026, 100));
    }
}
