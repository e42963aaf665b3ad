//! `xueji serve` over HTTP on loopback: tokens (none, wrong, expired, not granted), a county
//! token kept inside its county whatever it asks, masking on and off, every format read back by
//! a real reader, pages, the audit log, the OpenAPI document; `changes since` against the
//! generator's truth; and a load of pulls while a nightly commits: no errors, no torn reads.
//! Issue 24's hardening: slow and idle clients, a bounded audit log that misses no request and
//! logs no secret, delivered bytes, page and offset bounds, memory under heavy pulls, token-file
//! writers and reloads, HTTPS.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use xueji::models;
use xueji::serve::access::{Grant, Tokens, add_token, revoke_token};
use xueji::serve::{LISTS, Limits, ServeOptions, Server, TlsFiles, start, start_with};

const NIGHT2: &str = "2026-10-16";

/// A token's grant, named after its id.
pub(crate) fn grant(id: &str, jurisdiction: &str, lists: &[&str], unmask: bool, expires: Option<&str>) -> Grant {
    Grant {
        id: id.into(),
        name: format!("测试单位 {id}"),
        sha256: String::new(),
        jurisdiction: jurisdiction.into(),
        lists: lists.iter().map(|s| s.to_string()).collect(),
        unmask,
        expires: expires.map(date),
    }
}

fn options(wh: &Path, audit: &Path, tokens: &Path) -> ServeOptions {
    ServeOptions {
        warehouse: wh.to_str().unwrap().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: tokens.to_path_buf(),
        audit: audit.to_path_buf(),
        refresh: Duration::from_millis(200),
        threads: 2,
        memory_mb: 1024,
    }
}

async fn serve(wh: &Path, dir: &Path, tokens: &Path) -> Server {
    start(&options(wh, &dir.join("audit.jsonl"), tokens)).await.unwrap()
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    /// Status and JSON body.
    async fn json(&self, token: Option<&str>, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(token, path).await;
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&body))),
        )
    }

    /// The rows of a JSON list response (asserting 200).
    async fn rows(&self, token: &str, path: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let (status, v) = self.json(Some(token), path).await;
        assert_eq!(status, 200, "{path}: {v}");
        let rows: Vec<_> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect();
        if let Some(n) = v.get("row_count") {
            assert_eq!(n.as_u64().unwrap() as usize, rows.len(), "{path}: row_count");
        }
        rows
    }
}

fn s(v: &serde_json::Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// One column of a query, as text.
async fn column(wh: &Path, sql: &str, as_of: Option<&str>) -> Vec<String> {
    dump(wh, sql, as_of).await.into_iter().skip(1).collect()
}

fn assert_error(status: u16, v: &serde_json::Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    let zh = v["error"]["message"].as_str().unwrap();
    assert!(
        zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "a Chinese message: {zh}"
    );
    assert!(!v["error"]["message_en"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_jurisdiction_masking_formats_pages_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    // The county with the most beneficiaries, one of its schools, a school of another county.
    let counties = column(
        &wh,
        "SELECT county_code FROM list_nutrition_beneficiaries GROUP BY county_code ORDER BY COUNT(*) DESC, county_code",
        None,
    )
    .await;
    let (county, other_county) = (counties[0].clone(), counties[1].clone());
    let school = column(
        &wh,
        &format!("SELECT MIN(school_id) FROM list_nutrition_beneficiaries WHERE county_code = '{county}'"),
        None,
    )
    .await
    .remove(0);
    let other_school = column(
        &wh,
        &format!("SELECT MIN(school_id) FROM school_regions WHERE county_code = '{other_county}'"),
        None,
    )
    .await
    .remove(0);

    let tokens = dir.path().join("tokens.toml");
    let county_lists = [
        "list_nutrition_beneficiaries",
        "list_aid_applicants",
        "stats_left_behind",
    ];
    let t_county = add_token(&tokens, grant("county", &county, &county_lists, false, None)).unwrap();
    let t_all = add_token(&tokens, grant("province", "*", &["*"], true, None)).unwrap();
    let t_school = add_token(
        &tokens,
        grant("school", &school, &["list_nutrition_beneficiaries"], false, None),
    )
    .unwrap();
    let t_expired = add_token(&tokens, grant("old", &county, &["*"], false, Some("2020-01-01"))).unwrap();
    let server = serve(&wh, dir.path(), &tokens).await;
    let c = Client {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
    };
    let nb = "/v1/lists/list_nutrition_beneficiaries";

    // Who may not read.
    let (st, v) = c.json(None, nb).await;
    assert_error(st, &v, 401, "no_token");
    let (st, v) = c.json(Some("xj_not_a_token"), nb).await;
    assert_error(st, &v, 401, "bad_token");
    let (st, v) = c.json(Some(&t_expired), nb).await;
    assert_error(st, &v, 401, "expired_token");
    let (st, v) = c.json(Some(&t_county), "/v1/lists/list_roster").await;
    assert_error(st, &v, 403, "list_not_granted");

    // A county token sees its county and nothing else, whatever it asks.
    let want = column(
        &wh,
        &format!("SELECT registration_no FROM list_nutrition_beneficiaries WHERE county_code = '{county}' ORDER BY 1"),
        None,
    )
    .await;
    assert!(want.len() > 20, "the county has beneficiaries");
    let all_rows = c.rows(&t_all, nb).await;
    let total = column(&wh, "SELECT COUNT(*) FROM list_nutrition_beneficiaries", None)
        .await
        .remove(0);
    assert_eq!(
        all_rows.len().to_string(),
        total,
        "the whole list for the unrestricted token"
    );
    let mine = c.rows(&t_county, nb).await;
    assert_eq!(mine.len(), want.len());
    assert!(
        mine.iter().all(|r| r["county_code"] == county.as_str()),
        "only the county's rows"
    );
    let province = &county[..2];
    let wider = c.rows(&t_county, &format!("{nb}?region={province}")).await;
    assert_eq!(wider, mine, "asking for the province gives the county, no more");
    let (st, v) = c.json(Some(&t_county), &format!("{nb}?region={other_county}")).await;
    assert_error(st, &v, 403, "outside_jurisdiction");
    let (st, v) = c.json(Some(&t_county), &format!("{nb}?school={other_school}")).await;
    assert_error(st, &v, 403, "outside_jurisdiction");
    let one = c.rows(&t_county, &format!("{nb}?school={school}")).await;
    assert!(!one.is_empty() && one.iter().all(|r| r["school_id"] == school.as_str()));
    let by_school = c.rows(&t_school, nb).await;
    assert_eq!(by_school, one, "a school token sees its school");
    let (st, v) = c.json(Some(&t_school), &format!("{nb}?region={other_county}")).await;
    assert_error(st, &v, 403, "outside_jurisdiction");
    // A school that does not exist is answered as one outside the jurisdiction (no oracle).
    let (st, v) = c.json(Some(&t_county), &format!("{nb}?school=9999999999")).await;
    assert_error(st, &v, 403, "outside_jurisdiction");
    let (st, v) = c.json(Some(&t_all), &format!("{nb}?school=9999999999")).await;
    assert_error(st, &v, 404, "unknown_school");
    let stats = c.rows(&t_county, "/v1/lists/stats_left_behind").await;
    assert!(!stats.is_empty() && stats.iter().all(|r| r["county_code"] == county.as_str()));

    // Masked for the county, in full for a grant that lifts it.
    let ids = column(&wh, &format!("SELECT id_number FROM list_aid_applicants WHERE county_code = '{county}' AND length(id_number) = 18 ORDER BY 1"), None).await;
    assert!(!ids.is_empty());
    let aid = c
        .rows(&t_county, &format!("/v1/lists/list_aid_applicants?region={county}"))
        .await;
    let shown: BTreeSet<String> = aid.iter().map(|r| s(&r["id_number"])).collect();
    for id in &ids {
        // The region only: the birth date, sequence and check character are all hidden.
        let masked = format!("{}************", &id[..6]);
        assert!(shown.contains(&masked), "{masked} shown masked");
        assert!(!shown.contains(id), "{id} never shown in full to the county");
    }
    assert!(
        aid.iter().all(|r| s(&r["registration_no"]).contains('*')),
        "学籍号 masked too"
    );
    assert!(
        aid.iter()
            .map(|r| s(&r["registration_no"]))
            .filter(|r| r.starts_with('G') && r.chars().count() == 19)
            .all(|r| r.ends_with("************")),
        "a 学籍号 keeps its letter and region only"
    );
    let full = c
        .rows(&t_all, &format!("/v1/lists/list_aid_applicants?region={county}"))
        .await;
    let full_ids: BTreeSet<String> = full.iter().map(|r| s(&r["id_number"])).collect();
    assert!(
        ids.iter().all(|id| full_ids.contains(id)),
        "unmasked for the grant that allows it"
    );

    // Bad parameters: 4xx with a message, never a 500.
    for (q, code) in [
        ("region=abc", "bad_region"),
        ("region=999999", "bad_region"),
        ("format=pdf", "bad_format"),
        ("date=2026-13-01", "bad_date"),
        ("limit=0", "bad_limit"),
        ("limit=x", "bad_number"),
        ("regoin=34", "unknown_parameter"),
        ("format=json&encoding=gbk", "bad_encoding"),
        ("date=2000-01-01", "no_such_date"),
        ("school=12", "bad_school"),
    ] {
        let (st, v) = c.json(Some(&t_county), &format!("{nb}?{q}")).await;
        assert!((400..500).contains(&st), "{q}: {st} {v}");
        assert_eq!(v["error"]["code"], code, "{q}: {v}");
    }
    let (st, v) = c.json(Some(&t_county), "/v1/lists/no_such_list").await;
    assert_error(st, &v, 404, "unknown_list");
    let (st, v) = c.json(Some(&t_county), "/v2/anything").await;
    assert_error(st, &v, 404, "not_found");

    // Every format, read back by a real reader, holds the same rows.
    let want_no: Vec<String> = mine.iter().map(|r| s(&r["registration_no"])).collect();
    let bytes = |q: String| {
        let c = &c;
        let t = t_county.clone();
        async move {
            let r = c.get(Some(&t), &q).await;
            assert_eq!(r.status(), 200, "{q}");
            r.bytes().await.unwrap().to_vec()
        }
    };
    let csv_utf8 = bytes(format!("{nb}?format=csv")).await;
    assert!(csv_utf8.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let mut rd = csv::Reader::from_reader(&csv_utf8[3..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let schema = models::out_schema("list_nutrition_beneficiaries").unwrap();
    assert_eq!(
        header,
        schema.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
    );
    let k = header.iter().position(|h| h == "registration_no").unwrap();
    let csv_rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(csv_rows.iter().map(|r| r[k].to_string()).collect::<Vec<_>>(), want_no);
    let gbk = bytes(format!("{nb}?format=csv&encoding=gbk&header=label")).await;
    let (text, _, bad) = encoding_rs::GB18030.decode(&gbk);
    assert!(!bad);
    assert!(
        text.starts_with("学校标识码,学校名称,区县代码"),
        "Chinese labels: {}",
        &text[..40]
    );
    assert_eq!(
        text.lines().skip(1).collect::<Vec<_>>(),
        String::from_utf8(csv_utf8[3..].to_vec())
            .unwrap()
            .lines()
            .skip(1)
            .collect::<Vec<_>>(),
        "GBK holds the same text"
    );
    let nd = bytes(format!("{nb}?format=ndjson")).await;
    let nd_rows: Vec<serde_json::Value> = nd
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(
        nd_rows.iter().map(|r| s(&r["registration_no"])).collect::<Vec<_>>(),
        want_no
    );
    let pq = bytes(format!("{nb}?format=parquet")).await;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(pq))
        .unwrap()
        .build()
        .unwrap();
    let mut pq_no = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let a = xueji::warehouse::strings(b.column_by_name("registration_no").unwrap()).unwrap();
        pq_no.extend(a.iter().map(|v| v.unwrap().to_string()));
    }
    assert_eq!(pq_no, want_no);
    let xl = bytes(format!("{nb}?format=xlsx")).await;
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(xl)).unwrap();
    use calamine::Reader;
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    let sheet: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(sheet[0][0], "学校标识码");
    let xk = sheet[0].iter().position(|h| h == "学籍号").unwrap();
    assert_eq!(sheet[1..].iter().map(|r| r[xk].clone()).collect::<Vec<_>>(), want_no);

    // Pages put together are the list.
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let r = c.get(Some(&t_county), &format!("{nb}?limit=7&offset={offset}")).await;
        let next = r
            .headers()
            .get("x-xueji-next-offset")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        paged.extend(
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone()),
        );
        match next {
            Some(n) => offset = n,
            None => break,
        }
    }
    assert_eq!(paged, mine);

    // The catalog shows the granted lists; the OpenAPI document is the checked-in one.
    let (_, cat) = c.json(Some(&t_county), "/v1/lists").await;
    let names: Vec<String> = cat["lists"].as_array().unwrap().iter().map(|l| s(&l["name"])).collect();
    assert_eq!(names, county_lists);
    let served = c.get(None, "/openapi.json").await.text().await.unwrap();
    let checked_in = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")).unwrap();
    assert_eq!(
        served, checked_in,
        "docs/openapi.json is what the server serves (cargo run -- docs --out docs)"
    );

    server.stop().await.unwrap();
    // Every request is in the audit log, refusals included; a stream's line counts its rows;
    // no token is ever written there.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for t in [&t_county, &t_all, &t_school, &t_expired] {
        assert!(!log.contains(t.as_str()), "the token itself is never logged");
    }
    let refused = lines
        .iter()
        .filter(|l| l["status"] == 403 && l["token"] == "county")
        .count();
    assert_eq!(refused, 4, "each refusal is audited with its token");
    let done = lines
        .iter()
        .find(|l| l["event"] == "done" && l["token"] == "county" && l["query"] == "format=parquet")
        .expect("a done line for the stream");
    assert_eq!(done["rows"].as_u64().unwrap() as usize, want.len());
    assert_eq!(done["complete"], true);
    let responses = lines.iter().filter(|l| l["event"] == "response").count();
    assert!(responses >= 30, "one line per request: {responses}");
}

/// What one masked row shows of a pupil's 18-character resident ID number (6-digit region,
/// 8-digit birth date, 3-digit sequence whose last digit is odd for a boy, check character),
/// from every column that bears on it: the characters `id_number` and `registration_no` (a
/// letter + the ID number) leave visible, the birth date or year, the gender.
#[derive(Debug, Clone)]
struct Shown {
    chars: [Option<char>; 18],
    year: Option<i32>,
    birth: Option<chrono::NaiveDate>,
    male: Option<bool>,
}

impl Shown {
    /// None when the row shows neither an 18-character ID number nor a 19-character 学籍号.
    fn of(row: &serde_json::Map<String, serde_json::Value>) -> Option<Shown> {
        let text = |k: &str| row.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let id = text("id_number").filter(|v| v.chars().count() == 18);
        let reg = text("registration_no")
            .filter(|v| v.chars().count() == 19)
            .map(|v| v.chars().skip(1).collect::<String>());
        if id.is_none() && reg.is_none() {
            return None;
        }
        // The ID number's own characters first; the 学籍号 fills in what it hides (an attacker
        // takes the two for one number).
        let mut chars = [None; 18];
        for v in id.iter().chain(&reg) {
            for (i, c) in v.chars().enumerate() {
                if c != '*' && chars[i].is_none() {
                    chars[i] = Some(c);
                }
            }
        }
        let birth = text("birth_date");
        Some(Shown {
            chars,
            year: birth.as_deref().and_then(|b| b.get(..4)?.parse().ok()),
            birth: birth.as_deref().and_then(|b| b.parse().ok()),
            male: match text("gender").as_deref() {
                Some("男") => Some(true),
                Some("女") => Some(false),
                _ => None,
            },
        })
    }

    /// Whether character `i` of a candidate may be `c`.
    fn fits(&self, i: usize, c: char) -> bool {
        self.chars[i].is_none_or(|s| s == c)
    }

    fn region(&self) -> Option<String> {
        self.chars[..6]
            .iter()
            .map(|c| (*c).filter(|c| c.is_ascii_digit()))
            .collect()
    }

    /// The birth dates that fit: the date if the row shows it, else the days of the year it
    /// shows (in the ID number's digits or the birth date) that fit the visible date digits. A
    /// row that shows no year is given one anyway (its grade nearly does), of 365 days.
    fn days(&self) -> Vec<chrono::NaiveDate> {
        use chrono::Datelike;
        let digits: Option<String> = self.chars[6..10].iter().copied().collect();
        let year = digits.and_then(|y| y.parse().ok()).or(self.year).unwrap_or(2015);
        let Some(mut d) = chrono::NaiveDate::from_ymd_opt(year, 1, 1) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while d.year() == year {
            let ymd = d.format("%Y%m%d").to_string();
            if self.birth.is_none_or(|b| b == d) && ymd.chars().enumerate().all(|(i, c)| self.fits(6 + i, c)) {
                out.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        out
    }

    /// The sequence numbers that fit the gender's parity and the visible sequence digits.
    fn sequences(&self) -> Vec<u32> {
        (0..1000u32)
            .filter(|q| self.male.is_none_or(|m| (q % 2 == 1) == m))
            .filter(|q| format!("{q:03}").chars().enumerate().all(|(i, c)| self.fits(14 + i, c)))
            .collect()
    }

    /// Every number that fits, built one by one, the check character computed (brute force).
    fn enumerate(&self) -> Vec<String> {
        let Some(region) = self.region() else {
            return Vec::new();
        };
        let sequences = self.sequences();
        let mut out = Vec::new();
        for d in self.days() {
            for q in &sequences {
                let first17 = format!("{region}{}{q:03}", d.format("%Y%m%d"));
                let check = xueji::idcard::check_char(&first17).unwrap();
                if self.fits(17, check) {
                    out.push(format!("{first17}{check}"));
                }
            }
        }
        out
    }

    /// How many numbers fit, counted: days × sequences, the check character following from the
    /// rest. Only a shown check character narrows them further; then they are enumerated (or,
    /// without a region to enumerate from, taken as one in 11). A region not shown counts as one
    /// region: a lower bound.
    fn candidates(&self) -> u64 {
        let n = self.days().len() as u64 * self.sequences().len() as u64;
        match (self.chars[17], self.region()) {
            (None, _) => n,
            (Some(_), Some(_)) => self.enumerate().len() as u64,
            (Some(_), None) => n / 11,
        }
    }
}

/// The full numbers of `secrets` (ID numbers, 学籍号) written anywhere in `body`.
fn leaked_numbers(body: &str, secrets: &HashSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for run in body.split(|c: char| !c.is_ascii_alphanumeric()) {
        for w in [15, 18, 19] {
            for i in 0..(run.len() + 1).saturating_sub(w) {
                if secrets.contains(&run[i..i + w]) {
                    out.insert(run[i..i + w].to_string());
                }
            }
        }
    }
    out
}

/// Issue 24: masked a column at a time, a roster gave back 774 of 776 ID numbers (the first 6
/// and last 4 shown, the 8 hidden digits served as `birth_date`). Masking is now a policy over
/// the row: every masked row of every pupil list, rebuilt by brute force from everything it
/// shows, must leave at least 10,000 candidate numbers, and no full ID number or 学籍号 of the
/// warehouse (pupils' or guardians') may be anywhere in a masked body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_row_leaves_at_least_ten_thousand_candidate_id_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    let tokens = dir.path().join("tokens.toml");
    let t_masked = add_token(&tokens, grant("masked", "*", &["*"], false, None)).unwrap();
    let t_full = add_token(&tokens, grant("full", "*", &["*"], true, None)).unwrap();
    let server = serve(&wh, dir.path(), &tokens).await;
    let c = Client {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
    };
    let secrets: HashSet<String> = column(
        &wh,
        "SELECT v FROM (SELECT id_number AS v FROM students UNION ALL SELECT m1_id_number FROM students
         UNION ALL SELECT m2_id_number FROM students UNION ALL SELECT registration_no FROM students)
         WHERE length(v) >= 15",
        None,
    )
    .await
    .into_iter()
    .collect();
    assert!(secrets.len() > 500, "the sample's ID numbers: {}", secrets.len());

    // Lists that are not one row per pupil (key changes, contradictions, statistics) leak no
    // full number either.
    for l in LISTS.iter().filter(|l| !l.pupils) {
        let path = format!("/v1/lists/{}", l.name);
        let r = c.get(Some(&t_masked), &format!("{path}?format=csv")).await;
        assert_eq!(r.status(), 200, "{path}");
        let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
        let leaked = leaked_numbers(&body, &secrets);
        assert!(leaked.is_empty(), "{path} serves full numbers masked: {leaked:?}");
        if l.name == "list_key_changes" {
            assert!(body.lines().count() > 2, "the sample's key changes are served: {body}");
        }
    }
    let mut checked = 0usize;
    let mut fewest: Option<(u64, String)> = None;
    let mut rebuilt = None;
    for l in LISTS.iter().filter(|l| l.pupils) {
        let path = format!("/v1/lists/{}", l.name);
        for q in ["format=json", "format=csv", "format=ndjson"] {
            let r = c.get(Some(&t_masked), &format!("{path}?{q}")).await;
            assert_eq!(r.status(), 200, "{path}?{q}");
            assert_eq!(r.headers()["x-xueji-masked"], "true");
            let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
            let leaked = leaked_numbers(&body, &secrets);
            assert!(leaked.is_empty(), "{path}?{q} serves full numbers masked: {leaked:?}");
        }
        let masked = c.rows(&t_masked, &path).await;
        let full = c.rows(&t_full, &path).await;
        assert_eq!(masked.len(), full.len(), "{path}");
        for (m, f) in masked.iter().zip(&full) {
            // Rows are ordered on their stored values, so the two responses pair up.
            assert_eq!((&m["school_id"], &m["name"]), (&f["school_id"], &f["name"]), "{path}");
            if let (Some(b), Some(fb)) = (m.get("birth_date"), f.get("birth_date").and_then(|v| v.as_str())) {
                assert_eq!(s(b), format!("{}-**-**", &fb[..4]), "{path}: the birth year only");
            }
            if let (Some(a), Some(fa)) = (
                m.get("current_address"),
                f.get("current_address").and_then(|v| v.as_str()),
            ) && !fa.is_empty()
            {
                let a = s(a);
                let kept = a.strip_suffix("****").unwrap_or_else(|| panic!("{path}: {a} masked"));
                assert!(
                    fa.starts_with(kept) && !kept.chars().any(|c| c.is_ascii_digit()),
                    "{path}: {fa} cut to its county, not {a}"
                );
            }
            let Some(shown) = Shown::of(m) else { continue };
            let n = shown.candidates();
            assert!(n >= 10_000, "{path}: {n} candidate ID numbers left by {m:?}");
            checked += 1;
            if fewest.as_ref().is_none_or(|(k, _)| n < *k) {
                fewest = Some((n, format!("{path}: {m:?}")));
            }
            // Once, on a roster row: the brute force itself, and that it would have worked before.
            if rebuilt.is_some() || l.name != "list_roster" {
                continue;
            }
            let id = f.get("id_number").and_then(|v| v.as_str()).unwrap_or("").to_string();
            let birth: Option<chrono::NaiveDate> = f
                .get("birth_date")
                .and_then(|v| v.as_str())
                .and_then(|b| b.parse().ok());
            let real = xueji::idcard::analyse(&id, date(NIGHT1), |_| true).ok();
            if real.is_some_and(|r| Some(r.birth) == birth && Some(r.male) == shown.male) {
                let all = shown.enumerate();
                assert_eq!(all.len() as u64, n, "counted as enumerated");
                assert!(all.contains(&id), "the search holds the real number");
                assert!(all.iter().all(|x| x[..6] == id[..6] && x[6..10] == id[6..10]));
                // Masked as before (first 6 and last 4, the birth date in full), the same row
                // gives the number back; with the birth year only, a few dozen candidates.
                let mut before = shown.clone();
                for (i, ch) in id.chars().enumerate().skip(14) {
                    before.chars[i] = Some(ch);
                }
                before.birth = birth;
                assert_eq!(before.enumerate(), vec![id.clone()], "rebuilt from the old mask");
                before.birth = None;
                let few = before.candidates();
                assert!(few < 100, "{few} candidates with the old mask and the year");
                rebuilt = Some(id);
            }
        }
    }
    assert!(checked > 100, "rows with an ID number checked: {checked}");
    assert!(rebuilt.is_some(), "a roster row was rebuilt by brute force");
    let (n, row) = fewest.unwrap();
    assert!(n >= 365 * 500, "the fewest candidates, {n}, of {row}");

    // The CSV roster shows what the JSON one does.
    let r = c.get(Some(&t_masked), "/v1/lists/list_roster?format=csv").await;
    let body = r.bytes().await.unwrap();
    let mut rd = csv::Reader::from_reader(&body[3..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
    let json = c.rows(&t_masked, "/v1/lists/list_roster").await;
    let records: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), json.len());
    for k in ["registration_no", "id_number", "birth_date", "current_address"] {
        let j = header.iter().position(|h| h == k).unwrap();
        let from_csv: Vec<&str> = records.iter().map(|r| &r[j]).collect();
        let from_json: Vec<&str> = json.iter().map(|r| r[k].as_str().unwrap_or("")).collect();
        assert_eq!(from_csv, from_json, "{k}");
    }
    server.stop().await.unwrap();
}

/// The sample's pupil rows by county file, with the truth's view of each.
struct Truth {
    rows: Vec<BTreeMap<String, String>>,
}

impl Truth {
    fn load() -> Self {
        let mut r = csv::Reader::from_path(samples().join("truth/records.csv")).unwrap();
        let h = r.headers().unwrap().clone();
        let left: BTreeSet<(String, String)> = {
            let mut m = csv::Reader::from_path(samples().join("truth/movements.csv")).unwrap();
            let mh = m.headers().unwrap().clone();
            m.records()
                .map(|x| {
                    mh.iter()
                        .zip(x.unwrap().iter())
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect::<BTreeMap<_, _>>()
                })
                .filter(|m| m["expect_pupil_status"] != "在校")
                .map(|m| (m["registration_no"].clone(), m["school_id"].clone()))
                .collect()
        };
        let rows = r
            .records()
            .map(|x| {
                h.iter()
                    .zip(x.unwrap().iter())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<BTreeMap<String, String>>()
            })
            .filter(|r| r["plant"].is_empty() && r["expect_rule"].is_empty())
            .filter(|r| !left.contains(&(r["registration_no"].clone(), r["school_id"].clone())))
            .filter(|r| r["graduated"] == "0")
            .collect();
        Truth { rows }
    }
}

/// The sample's sources with the pupils' CSV folder replaced by a copy less some rows.
fn sources_without(dir: &Path, name: &str, drop: &BTreeSet<(String, usize)>) -> Vec<PathBuf> {
    let src = samples().join("students-csv");
    let out = dir.join(name);
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let file = format!("students-csv/{}", p.file_name().unwrap().to_str().unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| !drop.contains(&(file.clone(), i + 1)))
            .map(|(_, l)| l)
            .collect();
        std::fs::write(out.join(p.file_name().unwrap()), kept.join("\n") + "\n").unwrap();
    }
    let mut v: Vec<PathBuf> = sample_sources()
        .into_iter()
        .filter(|p| !p.ends_with("students-csv"))
        .collect();
    v.push(out);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_since_match_the_truth_and_pulls_during_a_nightly_never_tear() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    // One county's 一补 pupils (plain, in school): three absent the first night (they enter),
    // four absent the second (they leave).
    let truth = Truth::load();
    let yibu: Vec<&BTreeMap<String, String>> = truth.rows.iter().filter(|r| r["yibu"] == "1").collect();
    let county = yibu[0]["county_code"].clone();
    let picked: Vec<&&BTreeMap<String, String>> = yibu.iter().filter(|r| r["county_code"] == county).take(7).collect();
    assert_eq!(picked.len(), 7, "the sample has seven 一补 pupils in {county}");
    let key = |r: &BTreeMap<String, String>| (r["csv_file"].clone(), r["csv_row"].parse::<usize>().unwrap());
    let night1_drop: BTreeSet<_> = picked[..3].iter().map(|r| key(r)).collect();
    let night2_drop: BTreeSet<_> = picked[3..].iter().map(|r| key(r)).collect();
    ingest(&wh, NIGHT1, sources_without(dir.path(), "n1", &night1_drop), 2).await;
    run_models(&wh).await;

    let tokens = dir.path().join("tokens.toml");
    let t = add_token(
        &tokens,
        grant("county", &county, &["list_yibu", "stats_school_form"], true, None),
    )
    .unwrap();
    let server = serve(&wh, dir.path(), &tokens).await;
    let base = format!("http://{}", server.addr);
    let count1 = column(
        &wh,
        &format!("SELECT COUNT(*) FROM list_yibu WHERE county_code = '{county}'"),
        None,
    )
    .await
    .remove(0)
    .parse::<u64>()
    .unwrap();

    // Pulls while the second night is ingested and run: each names its snapshot date, and its
    // row count must be that night's, never a mix. A client that reads nothing is held open all
    // the while and holds nobody up.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stalled = http
        .get(format!("{base}/v1/lists/list_yibu?format=csv"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, base, t, stop) = (http.clone(), base.clone(), t.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen: Vec<(String, u64)> = Vec::new();
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && seen.len() < 2000
                && started.elapsed() < Duration::from_secs(240)
            {
                let r = http
                    .get(format!("{base}/v1/lists/list_yibu?format=json"))
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let d = r.headers()["x-xueji-snapshot-date"].to_str().unwrap().to_string();
                let v: serde_json::Value =
                    serde_json::from_slice(&r.bytes().await.unwrap()).expect("a whole JSON body");
                seen.push((d, v["row_count"].as_u64().unwrap()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    ingest(&wh, NIGHT2, sources_without(dir.path(), "n2", &night2_drop), 2).await;
    run_models(&wh).await;
    let count2 = column(
        &wh,
        &format!("SELECT COUNT(*) FROM list_yibu WHERE county_code = '{county}'"),
        None,
    )
    .await
    .remove(0)
    .parse::<u64>()
    .unwrap();
    assert_eq!(count2 + 1, count1, "three entered, four left");
    // Until the server has swapped in the new run.
    let started = Instant::now();
    loop {
        let r = http
            .get(format!("{base}/v1/lists/list_yibu?limit=1"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        if r.headers()["x-xueji-snapshot-date"] == NIGHT2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the new night is served within the refresh"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.await.unwrap());
    }
    let want = BTreeMap::from([(NIGHT1.to_string(), count1), (NIGHT2.to_string(), count2)]);
    for (d, n) in &seen {
        assert_eq!(Some(n), want.get(d), "a pull of {d} has that night's rows");
    }
    assert!(
        seen.iter().any(|(d, _)| d == NIGHT1) && seen.iter().any(|(d, _)| d == NIGHT2),
        "pulls saw both nights: {}",
        seen.len()
    );
    let stalled_body = stalled.bytes().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stalled_body).lines().count() as u64,
        count1 + 1,
        "the stalled client still gets its night, whole"
    );

    // Who entered and who left, against the truth.
    let rows = {
        let r = http
            .get(format!("{base}/v1/lists/list_yibu/changes?since={NIGHT1}"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-xueji-since-date"], NIGHT1);
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        v["rows"].as_array().unwrap().clone()
    };
    let got: BTreeSet<(String, String, String)> = rows
        .iter()
        .map(|r| (s(&r["change"]), s(&r["school_id"]), s(&r["registration_no"])))
        .collect();
    let mut expect = BTreeSet::new();
    for (k, r) in picked.iter().enumerate() {
        expect.insert((
            if k < 3 { "entered" } else { "left" }.to_string(),
            r["school_id"].clone(),
            r["registration_no"].clone(),
        ));
    }
    assert_eq!(got, expect);
    let r = http
        .get(format!("{base}/v1/lists/stats_school_form/changes?since={NIGHT1}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "statistics have no per-pupil changes");
    let r = http
        .get(format!("{base}/v1/lists/list_yibu/changes?since={NIGHT2}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "since must be before the date");
    server.stop().await.unwrap();
}

/// The lines of an audit log; while `lenient`, a line still being written is skipped.
fn audit_lines(path: &Path, lenient: bool) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| match serde_json::from_str(l) {
            Ok(v) => Some(v),
            Err(_) if lenient => None,
            Err(e) => panic!("{e}: {l}"),
        })
        .collect()
}

/// The first line of the log that `want` picks, waited for (a `done` line is written when the
/// body has gone out, after the client has it) up to 30 s.
async fn wait_for_line(path: &Path, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let started = Instant::now();
    loop {
        if let Some(l) = audit_lines(path, true).into_iter().find(|l| want(l)) {
            return l;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no such line in {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A socket that advertises small TCP segments, so that the server's send buffer (sized from the
/// segment size) stays small too: what the server can write to a client that reads nothing
/// stops far short of a large body.
fn small_segments(sock: &tokio::net::TcpSocket) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::fd::AsRawFd;
        let mss: libc::c_int = 536;
        // SAFETY: setsockopt reads the int it is given, of the size given.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_MAXSEG,
                std::ptr::from_ref(&mss).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "TCP_MAXSEG");
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = sock;
}

/// A GET over HTTPS that trusts only the test CA, as the raw response (status line, headers,
/// body).
async fn https_get(addr: SocketAddr, ca: &Path, path: &str, token: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost".to_string()).unwrap();
    let mut s = connector
        .connect(name, tcp)
        .await
        .expect("a TLS handshake with the test CA's certificate");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    while let Ok(n) = s.read(&mut buf).await
        && n > 0
    {
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address a `xueji serve` child prints when it listens (its output is read to the end, so
/// it never writes to a closed pipe).
fn listening_address(child: &mut std::process::Child) -> SocketAddr {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let _ = tx.send(rest.split('（').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server says where it listens");
    addr.parse().unwrap()
}

/// The process's peak resident memory (VmHWM), in kB.
fn peak_memory_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Issue 24, over HTTP(S) on loopback against one warehouse: (8) the bearer scheme in any case,
/// an unknown school answered as a foreign one, `no-store` on every answer; (6) `limit` and
/// `offset` bounded; (4) every request one line with its real method and no secret, and `done`
/// lines that say what the client took; (9) a revoked token refused after a reload, by the
/// file's change or by SIGHUP; (3) bounded lines, unauthenticated floods counted, no data when
/// the log cannot be written; (10) HTTPS, and no plain HTTP off loopback; (2) 300 half-sent
/// requests dropped within seconds while a real client is served; (5) the server's peak memory
/// under heavy concurrent pulls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_audit_floods_revoked_tokens_https_and_heavy_pulls_are_held() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ingest(&wh, NIGHT1, sample_sources(), 2).await;
    run_models(&wh).await;
    let counties = column(
        &wh,
        "SELECT county_code FROM list_nutrition_beneficiaries GROUP BY county_code ORDER BY COUNT(*) DESC, county_code",
        None,
    )
    .await;
    let (county, other_county) = (counties[0].clone(), counties[1].clone());
    let other_school = column(
        &wh,
        &format!("SELECT MIN(school_id) FROM school_regions WHERE county_code = '{other_county}'"),
        None,
    )
    .await
    .remove(0);
    let tokens = dir.path().join("tokens.toml");
    let t_all = add_token(&tokens, grant("all", "*", &["*"], false, None)).unwrap();
    let t_county = add_token(&tokens, grant("county", &county, &["*"], false, None)).unwrap();
    let t_reader = add_token(&tokens, grant("reader", "*", &["*"], false, None)).unwrap();
    let t_stall = add_token(&tokens, grant("stall", "*", &["*"], false, None)).unwrap();
    let t_revoked = add_token(&tokens, grant("revoked", "*", &["*"], false, None)).unwrap();
    let t_hup = add_token(&tokens, grant("hup", "*", &["*"], false, None)).unwrap();
    let log = dir.path().join("audit.jsonl");
    let limits = Limits {
        reload_tokens: Some(Duration::from_millis(200)),
        unauthenticated_lines_per_second: 10,
        ..Limits::default()
    };
    let server = start_with(&options(&wh, &log, &tokens), &limits).await.unwrap();
    // The server closes a connection idle for 5 s; the client lets go of its own before that.
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let c = Client {
        base: format!("http://{}", server.addr),
        http: http.clone(),
    };
    let nb = "/v1/lists/list_nutrition_beneficiaries";

    // 8. The scheme in any case; an unknown school answered as one elsewhere; no-store always.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = c
            .http
            .get(format!("{}{nb}?limit=1", c.base))
            .header("authorization", format!("{scheme} {t_all}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "scheme {scheme}");
    }
    let (st, foreign) = c.json(Some(&t_county), &format!("{nb}?school={other_school}")).await;
    assert_error(st, &foreign, 403, "outside_jurisdiction");
    let (st, unknown) = c.json(Some(&t_county), &format!("{nb}?school=9999999999")).await;
    assert_error(st, &unknown, 403, "outside_jurisdiction");
    assert_eq!(
        foreign.to_string().replace(other_school.as_str(), "S"),
        unknown.to_string().replace("9999999999", "S"),
        "the same answer for a school elsewhere and one that does not exist"
    );
    for (token, path) in [
        (None, nb.to_string()),
        (Some(t_county.as_str()), format!("{nb}?school=9999999999")),
        (Some(t_all.as_str()), "/v2/nothing".to_string()),
        (Some(t_all.as_str()), format!("{nb}?limit=1")),
        (Some(t_all.as_str()), format!("{nb}?format=csv")),
        (Some(t_all.as_str()), "/v1/lists".to_string()),
        (None, "/healthz".to_string()),
    ] {
        let r = c.get(token, &path).await;
        assert_eq!(
            r.headers().get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }

    // 6. `limit` and `offset` are bounded: a 400, never a cut-off body or a 503.
    for (q, code) in [
        ("limit=10001", "bad_limit"),
        ("limit=1000000", "bad_limit"),
        ("offset=1000000001", "bad_offset"),
        ("offset=9223372036854775808", "bad_offset"),
        ("limit=10&offset=18446744073709551615", "bad_offset"),
        ("offset=18446744073709551616", "bad_number"),
    ] {
        let (st, v) = c.json(Some(&t_all), &format!("{nb}?{q}")).await;
        assert_error(st, &v, 400, code);
    }
    let total: usize = column(&wh, "SELECT COUNT(*) FROM list_nutrition_beneficiaries", None)
        .await
        .remove(0)
        .parse()
        .unwrap();
    assert_eq!(
        c.rows(&t_all, &format!("{nb}?limit=10000")).await.len(),
        total.min(10_000),
        "the largest page"
    );
    assert!(
        c.rows(&t_all, &format!("{nb}?limit=5&offset=1000000000"))
            .await
            .is_empty(),
        "an offset past the end: an empty page"
    );

    // 4. Methods the routes do not take, a path that does not decode, HEAD: each answered in
    // JSON and audited below; a token in the query or the path is never logged.
    let yibu = format!("{}/v1/lists/list_yibu", c.base);
    let methods = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"];
    for m in methods {
        let r = c
            .http
            .request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), &yibu)
            .bearer_auth(&t_all)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{m}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{m}");
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_error(405, &v, 405, "method_not_allowed");
    }
    let (st, v) = c.json(Some(&t_all), "/v1/lists/%FF").await;
    assert_error(st, &v, 400, "bad_path");
    let r = c.http.head(&yibu).bearer_auth(&t_all).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(None, &format!("/v1/lists?access_token={t_all}&api_key=k1&format=csv"))
        .await;
    assert_eq!(r.status(), 401, "only the Authorization header carries a token");
    let (st, _) = c.json(Some(&t_all), &format!("/v1/lists/{t_county}")).await;
    assert_eq!(st, 404);

    // 4. `done` says what the client took: a client that reads the roster gets a complete line
    // with every byte; one that reads nothing and goes away, an incomplete one with what its
    // connection took.
    let roster_rows: u64 = column(&wh, "SELECT COUNT(*) FROM list_roster", None)
        .await
        .remove(0)
        .parse()
        .unwrap();
    let full = c
        .get(Some(&t_reader), "/v1/lists/list_roster")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        full.len() > 500_000,
        "a roster larger than socket buffers: {} bytes",
        full.len()
    );
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    small_segments(&sock);
    let mut stalled = sock.connect(server.addr).await.unwrap();
    stalled
        .write_all(
            format!("GET /v1/lists/list_roster HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {t_stall}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(stalled);
    let done = wait_for_line(&log, |l| l["event"] == "done" && l["token"] == "stall").await;
    assert_eq!(done["complete"], false, "{done}");
    let took = done["bytes"].as_u64().unwrap();
    assert!(took < full.len() as u64 / 2, "{took} of {} bytes: {done}", full.len());
    let done = wait_for_line(&log, |l| l["event"] == "done" && l["token"] == "reader").await;
    assert_eq!(done["complete"], true, "{done}");
    assert_eq!(done["bytes"].as_u64(), Some(full.len() as u64), "{done}");
    assert_eq!(done["rows"].as_u64(), Some(roster_rows), "{done}");

    // 9. A revoked token is refused once the changed file is read again, without a restart.
    assert_eq!(c.get(Some(&t_revoked), "/v1/lists").await.status(), 200);
    assert!(revoke_token(&tokens, "revoked").unwrap());
    let started = Instant::now();
    while c.get(Some(&t_revoked), "/v1/lists").await.status() != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the revoked token is still taken"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        c.get(Some(&t_all), "/v1/lists").await.status(),
        200,
        "the others still are"
    );

    // 3. Unauthenticated noise: a 60 KB URL's line is cut; a flood is written ten lines a second
    // and counted for the rest.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let long = "a".repeat(60_000);
    assert_eq!(c.get(None, &format!("/v1/lists?pad={long}")).await.status(), 401);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let flood = Instant::now();
    for _ in 0..100 {
        assert_eq!(c.get(None, "/v1/lists?flood=1").await.status(), 401);
    }
    let flood_took = flood.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.stop().await.unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    let lines = audit_lines(&log, false);
    for t in [&t_all, &t_county, &t_reader, &t_stall, &t_revoked, &t_hup] {
        assert!(!text.contains(&t[3..]), "a token is never logged");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["query"] == "access_token=[redacted]&api_key=[redacted]&format=csv"),
        "secret parameters blanked"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["path"] == "/v1/lists/xj_[redacted]" && l["status"] == 404)
    );
    for m in methods {
        let l = lines
            .iter()
            .find(|l| l["method"] == m)
            .unwrap_or_else(|| panic!("no line for {m}"));
        assert_eq!(
            (l["status"].as_u64(), l["token"].as_str(), l["error"].as_str()),
            (Some(405), Some("all"), Some("method_not_allowed")),
            "{l}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l["path"] == "/v1/lists/%FF" && l["status"] == 400 && l["error"] == "bad_path")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["method"] == "HEAD" && l["path"] == "/v1/lists/list_yibu" && l["status"] == 200),
        "HEAD is logged as HEAD"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l["method"] == "GET" && l["path"] == "/v1/lists/list_yibu"),
        "and not as GET"
    );
    let padded = lines
        .iter()
        .find_map(|l| l["query"].as_str().filter(|q| q.starts_with("pad=")))
        .expect("the long URL's line");
    assert!(
        padded.len() < 600 && padded.ends_with("[truncated, 60004 bytes]"),
        "{padded}"
    );
    assert!(text.lines().all(|l| l.len() < 4096), "every line bounded");
    let first_flood = lines.iter().position(|l| l["query"] == "flood=1").unwrap();
    let logged = lines.iter().filter(|l| l["query"] == "flood=1").count() as u64;
    let counted: u64 = lines[first_flood..]
        .iter()
        .filter(|l| l["event"] == "suppressed")
        .map(|l| l["statuses"]["401"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        logged + counted,
        100,
        "each request logged or counted: {logged} + {counted}"
    );
    assert!(
        logged <= 10 * (flood_took.as_secs() + 2),
        "{logged} lines in {flood_took:?}"
    );

    // 3. An audit log that cannot be written: no data, a 503 naming it, and /healthz says why.
    if Path::new("/dev/full").exists() {
        let broken = start_with(&options(&wh, Path::new("/dev/full"), &tokens), &Limits::default())
            .await
            .unwrap();
        let b = Client {
            base: format!("http://{}", broken.addr),
            http: http.clone(),
        };
        let (st, v) = b.json(Some(&t_all), nb).await;
        assert_error(st, &v, 503, "audit_unavailable");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("审计日志") && msg.contains("/dev/full"), "{msg}");
        let (st, h) = b.json(None, "/healthz").await;
        assert_error(st, &h, 503, "audit_unavailable");
        assert_eq!(h["status"], "audit_unavailable", "{h}");
        broken.stop().await.unwrap();
    }

    // 10. HTTPS with the test certificate; plain HTTP is not answered on its port, and is
    // refused at start on an address other than loopback.
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let secure = start_with(
        &options(&wh, &dir.path().join("audit-tls.jsonl"), &tokens),
        &Limits {
            tls: Some(TlsFiles {
                cert: certs.join("server.pem"),
                key: certs.join("server.key"),
            }),
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    let answer = https_get(secure.addr, &certs.join("ca.pem"), "/v1/lists", &t_all).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("list_roster"),
        "{}",
        answer.chars().take(300).collect::<String>()
    );
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", secure.addr))
        .send()
        .await;
    assert!(
        !plain.is_ok_and(|r| r.status() == 200),
        "plain HTTP is not served on the HTTPS port"
    );
    secure.stop().await.unwrap();
    let mut wide = options(&wh, &dir.path().join("audit-wide.jsonl"), &tokens);
    wide.listen = "0.0.0.0:0".parse().unwrap();
    match start_with(&wide, &Limits::default()).await {
        Ok(_) => panic!("plain HTTP was served on every interface"),
        Err(e) => assert!(format!("{e:#}").contains("--allow-plain-http"), "{e:#}"),
    }

    // 2. Slowloris: 300 connections each with half a request head; a real client is still
    // served within seconds, and the server drops every half-sent request within seconds.
    let lean = start_with(
        &options(&wh, &dir.path().join("audit-slow.jsonl"), &tokens),
        &Limits {
            header_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(lean.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
            .await
            .unwrap();
        held.push(s);
    }
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", lean.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let served = started.elapsed();
    assert!(served < Duration::from_secs(15), "a real client waited {served:?}");
    for mut s in held {
        let left = Duration::from_secs(20).saturating_sub(started.elapsed());
        let mut buf = [0u8; 512];
        let dropped = tokio::time::timeout(left, async move {
            while let Ok(n) = s.read(&mut buf).await
                && n > 0
            {}
        })
        .await;
        assert!(
            dropped.is_ok(),
            "a half-sent request still held after {:?}",
            started.elapsed()
        );
    }
    lean.stop().await.unwrap();

    // 5. The server as run (a child process): heavy pulls at once, whole-roster workbooks among
    // them, and its peak memory stays bounded; a page past the cap is refused, not built.
    // 9. Started to read its tokens on SIGHUP only: a revoked token works until the signal.
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_xueji"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "2",
                "--memory-mb",
                "256",
            ])
            .args(["--reload-tokens-seconds", "0", "--warehouse"])
            .arg(&wh)
            .arg("--tokens")
            .arg(&tokens)
            .arg("--audit")
            .arg(dir.path().join("audit-child.jsonl"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = listening_address(&mut child.0);
    let base = format!("http://{addr}");
    let heavy = [
        "list_roster?format=xlsx",
        "list_roster?format=xlsx",
        "list_roster?format=xlsx",
        "list_roster",
        "list_roster?format=ndjson",
        "list_roster?format=csv",
        "list_roster?format=parquet",
        "list_roster?limit=10000",
        "list_roster?limit=10000&format=xlsx",
    ];
    let pulls: Vec<_> = heavy
        .iter()
        .map(|q| {
            let (http, url, t) = (http.clone(), format!("{base}/v1/lists/{q}"), t_all.clone());
            tokio::spawn(async move {
                let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
                assert_eq!(r.status(), 200, "{url}");
                r.bytes().await.unwrap()
            })
        })
        .collect();
    let r = http
        .get(format!("{base}/v1/lists/list_roster?limit=1000000"))
        .bearer_auth(&t_all)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a page past the cap is refused");
    for (q, p) in heavy.iter().zip(pulls) {
        let body = p.await.unwrap();
        if q.contains("xlsx") && !q.contains("limit") {
            use calamine::Reader;
            let mut wb = calamine::Xlsx::new(std::io::Cursor::new(body.to_vec())).unwrap();
            let range = wb.worksheet_range_at(0).unwrap().unwrap();
            assert_eq!(range.rows().count() as u64, roster_rows + 1, "{q}: a whole workbook");
        }
    }
    let peak_mb = peak_memory_kb(child.0.id()) / 1024;
    eprintln!("xueji serve: peak memory (VmHWM) under heavy pulls {peak_mb} MB");
    assert!(peak_mb < 1024, "the server peaked at {peak_mb} MB");

    let status = |t: &str| {
        let (http, url, t) = (http.clone(), format!("{base}/v1/lists"), t.to_string());
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(status(t_hup.as_str()).await, 200);
    assert!(revoke_token(&tokens, "hup").unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(t_hup.as_str()).await, 200, "not read again before the signal");
    let sent = Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = Instant::now();
    while status(t_hup.as_str()).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload the tokens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(t_all.as_str()).await, 200, "the server lives on after SIGHUP");
    drop(child);
}

/// Issue 24: twelve `xueji token` runs at once printed twelve tokens and stored four. A lock
/// file serialises them and each writes a temporary file of its own: twelve stored, each the
/// one printed, and no lock or temporary file left.
#[test]
fn twelve_concurrent_token_runs_store_twelve_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let runs: Vec<_> = (0..12)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_xueji"))
                .args([
                    "token",
                    "--name",
                    "并发测试",
                    "--jurisdiction",
                    "*",
                    "--list",
                    "*",
                    "--id",
                ])
                .arg(format!("t{i}"))
                .arg("--tokens")
                .arg(&tokens)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let printed: Vec<(String, String)> = runs
        .into_iter()
        .enumerate()
        .map(|(i, run)| {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            (
                format!("t{i}"),
                String::from_utf8(out.stdout).unwrap().trim().to_string(),
            )
        })
        .collect();
    let stored = Tokens::load(&tokens).unwrap();
    assert_eq!(stored.len(), 12);
    for (id, token) in &printed {
        assert_eq!(stored.grant(token).map(|g| g.id.as_str()), Some(id.as_str()), "{id}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("tokens.toml")],
        "no lock or temporary file left"
    );
}
