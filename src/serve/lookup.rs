//! `/v1/lookup`: 全国学籍查询 (seed 001 第16章) over the API, by 姓名 and 身份证件号 or 姓名 and
//! 全国学籍号, as `GET` with query parameters or as `POST` with a JSON body (which keeps the ID
//! number out of every URL a proxy or access log may keep; the audit log masks it either way).
//!
//! - A token needs `lookup` among its lists (`*` does not grant it): a lookup reaches beyond the
//!   jurisdiction. Seed 001 says the screen "查询全国学生学籍基本信息和状态" and shows 所在省份、
//!   就读学段、就读状态、是否问题学籍、最新学籍变动时间, not the school: so a registration outside
//!   the token's jurisdiction is shown with exactly those (`in_jurisdiction: false`), and one
//!   inside it with its school and grade too.
//! - The identity is always masked, `unmask` or not: the caller typed it already, and the answer
//!   must not give back more than it was asked with.
//! - The screen asks for a 验证码 on every query; an API cannot, so each token may look up
//!   `--lookups-per-minute` pupils a minute (429 beyond), which keeps it from trying ID numbers
//!   by the thousand.
//! - Every call is audited: the masked query, the date read, how many registrations were found
//!   and how many lay inside the jurisdiction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::access::{Grant, Jurisdiction, LOOKUP};
use super::{ApiError, App, Ctx, Reply, Request, authorize, bad, err, lock, unavailable};
use crate::models::lookup::{self as lk, Found, Query};

/// The query parameters (and JSON fields) a lookup takes.
const PARAMS: [&str; 4] = ["name", "id_number", "registration_no", "date"];

/// Lookups a token may make: a bucket of `per_minute`, refilled at `per_minute` a minute.
pub(super) struct Limiter {
    per_minute: u32,
    /// Each token's bucket level and when it was last filled.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub(super) fn new(per_minute: u32) -> Self {
        Limiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one lookup for `token`; when its bucket is empty, how long until the next one.
    fn admit(&self, token: &str) -> Result<(), Duration> {
        let cap = f64::from(self.per_minute.max(1));
        let per_second = cap / 60.0;
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        let (level, at) = buckets.entry(token.to_string()).or_insert((cap, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * per_second).min(cap);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *level) / per_second))
        }
    }
}

/// What a request asked, before it is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Asked {
    name: Option<String>,
    id_number: Option<String>,
    registration_no: Option<String>,
    date: Option<String>,
}

fn from_query(query: &str) -> Result<Asked, ApiError> {
    let mut a = Asked::default();
    for (k, v) in super::query_params(query, &PARAMS)? {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "name" => a.name = v,
            "id_number" => a.id_number = v,
            "registration_no" => a.registration_no = v,
            _ => a.date = v,
        }
    }
    Ok(a)
}

fn from_body(body: &[u8]) -> Result<Asked, ApiError> {
    // serde's own message may quote the value: only where it went wrong is said.
    serde_json::from_slice(body).map_err(|e| {
        bad(
            "bad_body",
            format!(
                "请求体应为 JSON 对象，字段为 name 与 id_number 或 registration_no，可选 date（YYYY-MM-DD），值均为字符串；第 {} 行第 {} 列有误",
                e.line(),
                e.column()
            ),
            format!(
                "the body is a JSON object of strings: name, id_number or registration_no, and date; error at line {}, column {}",
                e.line(),
                e.column()
            ),
        )
    })
}

fn date_of(a: &Asked) -> Result<Option<NaiveDate>, ApiError> {
    a.date
        .as_deref()
        .map(|d| {
            d.parse::<NaiveDate>().map_err(|_| {
                bad(
                    "bad_date",
                    format!("date 的值 {d:?} 不是日期：应为 YYYY-MM-DD"),
                    format!("date={d:?} is not a date (YYYY-MM-DD)"),
                )
            })
        })
        .transpose()
}

/// `GET /v1/lookup?name=…&id_number=…` (or `registration_no=…`).
pub(super) async fn get(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(ctx);
    let outcome = async {
        let grant = admit(&app, &mut req, &headers)?;
        let asked = from_query(q.as_deref().unwrap_or(""))?;
        answer(&app, &mut req, &grant, asked).await
    }
    .await;
    req.finish(outcome)
}

/// `POST /v1/lookup` with `{"name": …, "id_number": …}` (or `registration_no`).
pub(super) async fn post(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut req = Request::new(ctx);
    let outcome = async {
        let grant = admit(&app, &mut req, &headers)?;
        if q.as_deref().is_some_and(|q| !q.is_empty()) {
            return Err(bad(
                "query_with_body",
                "POST 的查询条件只放在 JSON 请求体中，地址中不带参数",
                "a POST carries its query in the JSON body only, none in the URL",
            ));
        }
        let asked = from_body(&body)?;
        answer(&app, &mut req, &grant, asked).await
    }
    .await;
    req.finish(outcome)
}

/// The token's grant, if it may look up and has lookups left this minute.
fn admit(app: &App, req: &mut Request, headers: &HeaderMap) -> Result<Grant, ApiError> {
    let grant = authorize(app, headers)?;
    req.grant = Some(grant.clone());
    if !grant.may_lookup() {
        return Err(err(
            StatusCode::FORBIDDEN,
            "lookup_not_granted",
            format!(
                "令牌 {} 无权使用全国学籍查询（须在令牌的清单中授权 {LOOKUP}）",
                grant.id
            ),
            format!("token {} may not look up pupils (grant {LOOKUP})", grant.id),
        ));
    }
    // Counted before the query is checked: a malformed try is a try.
    if let Err(wait) = app.lookups.admit(&grant.id) {
        let secs = (wait.as_secs_f64().ceil() as u64).max(1);
        let per_minute = app.lookups.per_minute;
        let mut e = err(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_lookups",
            format!("查询过于频繁：每个令牌每分钟最多 {per_minute} 次全国学籍查询，请 {secs} 秒后重试"),
            format!("at most {per_minute} lookups a minute per token; retry in {secs} s"),
        );
        let mut extra = serde_json::Map::new();
        extra.insert("retry_after_seconds".into(), secs.into());
        e.extra = Some(extra);
        return Err(e);
    }
    Ok(grant)
}

/// Whether a registration lies inside a jurisdiction (one without a known county does not,
/// except for the whole country).
fn inside(j: &Jurisdiction, f: &Found) -> bool {
    match j {
        Jurisdiction::All => true,
        Jurisdiction::Region(_) => f.county_code.as_deref().is_some_and(|c| j.holds_county(c)),
        Jurisdiction::School(s) => f.school_id.as_deref() == Some(s.as_str()),
    }
}

async fn answer(app: &App, req: &mut Request, grant: &Grant, asked: Asked) -> Result<Reply, ApiError> {
    let want = date_of(&asked)?;
    let q = Query::parse(
        asked.name.as_deref(),
        asked.id_number.as_deref(),
        asked.registration_no.as_deref(),
    )
    .map_err(|e| bad("bad_lookup", e.zh, e.en))?;
    let mut audit = q.masked();
    req.served.lookup = Some(serde_json::Value::Object(audit.clone()));
    let snap = app.snapshot();
    let Some(source) = &snap.lookup else {
        return Err(err(
            StatusCode::NOT_FOUND,
            "not_run",
            "学籍状态（student_status）还没有运行过，暂不能查询",
            "student_status has not been run yet",
        ));
    };
    let Some(date) = source.date(want) else {
        let first = source.dates.first().map(|d| d.to_string()).unwrap_or_default();
        return Err(err(
            StatusCode::NOT_FOUND,
            "no_such_date",
            format!(
                "{} 及以前没有学籍状态；最早的是 {first}",
                asked.date.unwrap_or_default()
            ),
            format!("no registration status on or before that date; the first is {first}"),
        ));
    };
    req.served.date = Some(date);
    req.served.masked = Some(true);
    let found = lk::lookup(&snap.ctx, date, &q).await.map_err(unavailable)?;
    let j = grant.jurisdiction();
    let mut within = 0u64;
    let mut rows = Vec::with_capacity(found.len());
    for f in found {
        let here = inside(&j, &f);
        let f = if here {
            within += 1;
            f
        } else {
            f.without_school()
        };
        let mut v = serde_json::to_value(&f).map_err(unavailable)?;
        v["in_jurisdiction"] = here.into();
        rows.push(v);
    }
    let n = rows.len() as u64;
    audit.insert("found".into(), n.into());
    audit.insert("in_jurisdiction".into(), within.into());
    req.served.lookup = Some(serde_json::Value::Object(audit));
    let message = if n == 0 {
        "未查到学籍：姓名与身份证件号（或全国学籍号）须与学籍完全一致".to_string()
    } else if within < n {
        format!(
            "查到 {n} 条学籍，其中 {} 条不在本令牌管辖范围内，只显示所在省份、学段、状态、是否问题学籍与最新变动时间",
            n - within
        )
    } else {
        format!("查到 {n} 条学籍")
    };
    let body = serde_json::json!({
        "snapshot_date": date.to_string(),
        "masked": true,
        "query": q.masked(),
        "found": n,
        "message": message,
        "registrations": rows,
    });
    Ok(Reply::Full {
        body: serde_json::to_vec_pretty(&body).map_err(unavailable)?,
        content_type: "application/json",
        headers: vec![
            ("x-xueji-snapshot-date", date.to_string()),
            ("x-xueji-masked", "true".to_string()),
        ],
        rows: Some(n),
    })
}
