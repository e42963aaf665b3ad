//! `xueji serve`: the beneficiary lists, rosters and statistics marts over HTTP, for subsidy
//! systems (资助, 营养改善计划实名制) and dashboards that would otherwise get a spreadsheet by
//! e-mail.
//!
//! - Every request carries a bearer token; its grant (access.rs) fixes the jurisdiction, the
//!   lists and whether ID numbers, phones and addresses are shown. The jurisdiction is a `WHERE`
//!   on every query, whatever the request's own filters say.
//! - Every request is audited (audit.rs) before its first byte is sent.
//! - Requests read a [`Snapshot`]: the marts at the versions of one committed model run. A
//!   nightly run commits in one append to `_runs`; the server notices it within `refresh` and
//!   swaps the snapshot, while requests already running keep the one they started with. So a
//!   pull sees the old night or the new one, never a mix.
//! - Lists stream batch by batch through a bounded channel: a slow client holds back only its
//!   own query.

pub mod access;
pub mod audit;
pub mod openapi;
mod output;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use futures::{SinkExt, StreamExt};

use crate::models::{OutSchema, out_schema};
use crate::warehouse::{self, ModelRun, RUNS, Warehouse};
use access::{Grant, Jurisdiction, Tokens};
use audit::{AuditLog, Entry};
pub use output::Format;
use output::{Encoder, Shape};

/// A list the server offers. Every one has `school_id` and `county_code` on each row, so any
/// jurisdiction can be cut from it.
#[derive(Debug)]
pub struct ServedList {
    pub name: &'static str,
    /// A list of pupils (one row each, keyed by school and 学籍号), which `changes` compares
    /// between two nights; otherwise a statistics table.
    pub pupils: bool,
}

pub const LISTS: &[ServedList] = &[
    ServedList {
        name: "list_nutrition_beneficiaries",
        pupils: true,
    },
    ServedList {
        name: "list_boarders",
        pupils: true,
    },
    ServedList {
        name: "list_yibu",
        pupils: true,
    },
    ServedList {
        name: "list_aid_applicants",
        pupils: true,
    },
    ServedList {
        name: "list_roster",
        pupils: true,
    },
    ServedList {
        name: "stats_left_behind",
        pupils: false,
    },
    ServedList {
        name: "stats_migrant",
        pupils: false,
    },
    ServedList {
        name: "stats_school_form",
        pupils: false,
    },
    ServedList {
        name: "stats_nutrition_subsidy",
        pupils: false,
    },
    ServedList {
        name: "stats_nutrition_screening",
        pupils: false,
    },
];

/// Where a school lies: read from this mart when a request names a school.
const SCHOOL_REGIONS: &str = "school_regions";

/// Options of `xueji serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub warehouse: String,
    pub listen: SocketAddr,
    pub tokens: PathBuf,
    pub audit: PathBuf,
    /// How often the server looks for a newly committed run.
    pub refresh: Duration,
    pub threads: usize,
    pub memory_mb: usize,
}

/// The marts as of one committed run.
struct Snapshot {
    ctx: SessionContext,
    runs: BTreeMap<String, ModelRun>,
    /// The `_runs` version it was read at.
    version: Option<i64>,
    /// Each school's county (its latest), for requests that name a school.
    counties: std::collections::HashMap<String, String>,
}

impl Snapshot {
    async fn load(wh: &Warehouse, version: Option<i64>, threads: usize, memory_mb: usize) -> Result<Self> {
        let ctx = warehouse::session(threads, memory_mb)?;
        let mut runs = wh.model_runs(&ctx).await?;
        runs.retain(|m, _| m == SCHOOL_REGIONS || LISTS.iter().any(|l| l.name == m));
        for (m, run) in &runs {
            warehouse::register_model(wh, &ctx, m, run.version, None).await?;
        }
        let mut counties = std::collections::HashMap::new();
        if runs.contains_key(SCHOOL_REGIONS) {
            let b = ctx
                .sql(&format!(
                    "SELECT school_id, county_code FROM {SCHOOL_REGIONS}_all ORDER BY snapshot_date"
                ))
                .await?
                .collect()
                .await?;
            for (school, county) in crate::pipeline::text_rows(&b)?
                .1
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone()))
            {
                counties.insert(school, county);
            }
        }
        Ok(Snapshot {
            ctx,
            runs,
            version,
            counties,
        })
    }

    /// The run's seq (the largest of the served models').
    fn seq(&self) -> i64 {
        self.runs.values().map(|r| r.seq).max().unwrap_or(0)
    }
}

async fn runs_version(wh: &Warehouse) -> Result<Option<i64>> {
    Ok(wh.latest(RUNS).await?.and_then(|t| t.version()).map(|v| v as i64))
}

struct App {
    wh: Warehouse,
    tokens: Tokens,
    audit: AuditLog,
    snapshot: RwLock<Arc<Snapshot>>,
    threads: usize,
    memory_mb: usize,
    next_request: AtomicU64,
}

impl App {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("not poisoned").clone()
    }

    /// Swap in a new snapshot when a run was committed since the current one was read.
    async fn refresh(&self) -> Result<bool> {
        let v = runs_version(&self.wh).await?;
        if v == self.snapshot().version {
            return Ok(false);
        }
        let s = Snapshot::load(&self.wh, v, self.threads, self.memory_mb).await?;
        *self.snapshot.write().expect("not poisoned") = Arc::new(s);
        Ok(true)
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stop accepting, let running requests finish, and return.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// Open the warehouse, the tokens and the audit log, bind, and serve in the background.
pub async fn start(o: &ServeOptions) -> Result<Server> {
    let wh = Warehouse::open(&o.warehouse)?;
    let tokens = Tokens::load(&o.tokens)?;
    anyhow::ensure!(
        !tokens.is_empty(),
        "令牌文件 {} 中没有令牌：请先用 xueji token 添加",
        o.tokens.display()
    );
    let audit = AuditLog::open(&o.audit)?;
    let version = runs_version(&wh).await?;
    let snap = Snapshot::load(&wh, version, o.threads, o.memory_mb).await?;
    anyhow::ensure!(
        !snap.runs.is_empty(),
        "仓库 {} 中还没有已提交的模型运行：请先运行 xueji run 或 xueji nightly",
        o.warehouse
    );
    let app = Arc::new(App {
        wh,
        tokens,
        audit,
        snapshot: RwLock::new(Arc::new(snap)),
        threads: o.threads,
        memory_mb: o.memory_mb,
        next_request: AtomicU64::new(1),
    });
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .with_context(|| format!("无法监听 {}", o.listen))?;
    let addr = listener.local_addr()?;
    let refresher = {
        let app = app.clone();
        let every = o.refresh;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // A failed look keeps the snapshot being served; the next tick tries again.
                if let Err(e) = app.refresh().await {
                    eprintln!("警告：读取新的模型运行失败，继续使用当前快照 / refresh failed: {e:#}");
                }
            }
        })
    };
    let router = axum::Router::new()
        .route("/", axum::routing::get(root))
        .route("/healthz", axum::routing::get(health))
        .route("/openapi.json", axum::routing::get(openapi_doc))
        .route("/v1/lists", axum::routing::get(catalog))
        .route("/v1/lists/{list}", axum::routing::get(rows))
        .route("/v1/lists/{list}/changes", axum::routing::get(changes))
        .fallback(not_found)
        .with_state(app);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        refresher.abort();
        r
    });
    Ok(Server {
        addr,
        stop: Some(stop),
        task,
    })
}

/// A request that gets no rows: a 4xx (or 503) with a Chinese and an English message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    zh: String,
    en: String,
}

fn err(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        zh: zh.into(),
        en: en.into(),
    }
}

fn bad(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, code, zh, en)
}

/// A failure of the server's own (the warehouse could not be read): 503, the request may be
/// retried; its detail goes to the log, not to the client.
fn unavailable(e: impl std::fmt::Display) -> ApiError {
    eprintln!("错误 / error: {e}");
    err(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "服务暂时无法读取仓库，请稍后重试",
        "the warehouse could not be read; try again later",
    )
}

impl ApiError {
    fn response(&self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.zh, "message_en": self.en } });
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// What a handler answers.
enum Reply {
    /// A whole body.
    Full {
        body: Vec<u8>,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
        rows: Option<u64>,
    },
    /// Rows streamed from a query.
    Stream {
        df: datafusion::dataframe::DataFrame,
        encoder: Encoder,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
    },
}

/// What the audit line says about a list request.
#[derive(Default)]
struct Served {
    list: Option<String>,
    date: Option<NaiveDate>,
    masked: Option<bool>,
}

/// The request as audited.
struct Request {
    id: u64,
    method: Method,
    path: String,
    query: String,
    remote: SocketAddr,
    grant: Option<Grant>,
    served: Served,
}

impl Request {
    fn new(app: &App, method: Method, uri: &Uri, remote: SocketAddr) -> Self {
        Request {
            id: app.next_request.fetch_add(1, Ordering::Relaxed),
            method,
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            remote,
            grant: None,
            served: Served::default(),
        }
    }

    fn entry<'a>(&'a self, event: &'a str, status: StatusCode) -> Entry<'a> {
        Entry {
            event,
            at: audit::now(),
            request: self.id,
            token: self.grant.as_ref().map(|g| g.id.as_str()),
            jurisdiction: self.grant.as_ref().map(|g| g.jurisdiction.as_str()),
            remote: Some(self.remote.to_string()),
            method: self.method.as_str(),
            path: &self.path,
            query: &self.query,
            status: status.as_u16(),
            list: self.served.list.as_deref(),
            snapshot_date: self.served.date.map(|d| d.to_string()),
            masked: self.served.masked,
            ..Default::default()
        }
    }

    /// The grant of the request's token and the list it names, if that token may read it.
    fn admit(&mut self, app: &App, headers: &HeaderMap, list: &str) -> Result<(Grant, &'static ServedList), ApiError> {
        let grant = authorize(app, headers)?;
        self.grant = Some(grant.clone());
        let l = served_list(list, &grant)?;
        self.served.list = Some(l.name.to_string());
        Ok((grant, l))
    }

    /// Audit the outcome, then answer.
    async fn finish(self, app: Arc<App>, outcome: Result<Reply, ApiError>) -> Response {
        match outcome {
            Err(e) => {
                let mut entry = self.entry("response", e.status);
                entry.error = Some(e.code.to_string());
                if let Err(a) = app.audit.write(&entry).await {
                    return unavailable(a).response();
                }
                e.response()
            }
            Ok(Reply::Full {
                body,
                content_type,
                headers,
                rows,
            }) => {
                let mut entry = self.entry("response", StatusCode::OK);
                entry.rows = rows;
                entry.complete = rows.map(|_| true);
                if let Err(a) = app.audit.write(&entry).await {
                    return unavailable(a).response();
                }
                respond(self.id, Body::from(body), content_type, &headers)
            }
            Ok(Reply::Stream {
                df,
                mut encoder,
                content_type,
                headers,
            }) => {
                if let Err(a) = app.audit.write(&self.entry("response", StatusCode::OK)).await {
                    return unavailable(a).response();
                }
                // Four chunks in flight at most: a client that reads slowly slows only its query.
                let (mut tx, rx) = futures::channel::mpsc::channel::<std::io::Result<Bytes>>(4);
                let id = self.id;
                tokio::spawn(async move {
                    let sent: Result<()> = async {
                        let mut stream = df.execute_stream().await?;
                        let head = encoder.begin()?;
                        tx.send(Ok(head.into())).await?;
                        while let Some(b) = stream.next().await {
                            let bytes = encoder.batch(&b?)?;
                            if !bytes.is_empty() {
                                tx.send(Ok(bytes.into())).await?;
                            }
                        }
                        tx.send(Ok(encoder.finish()?.into())).await?;
                        Ok(())
                    }
                    .await;
                    let mut entry = self.entry("done", StatusCode::OK);
                    entry.rows = Some(encoder.rows());
                    entry.complete = Some(sent.is_ok());
                    entry.error = sent.as_ref().err().map(|e| format!("{e:#}"));
                    if let Err(e) = app.audit.write(&entry).await {
                        eprintln!("错误：无法写入审计日志 / audit log: {e:#}");
                    }
                    // A query that failed half-way breaks the body, so the client cannot take a
                    // short list for a whole one.
                    if let Err(e) = sent {
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    }
                });
                respond(id, Body::from_stream(rx), content_type, &headers)
            }
        }
    }
}

fn respond(id: u64, body: Body, content_type: &'static str, headers: &[(&'static str, String)]) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Personal data: no proxy or browser keeps a copy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-request-id", HeaderValue::from(id));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    r
}

/// The grant of the request's bearer token.
fn authorize(app: &App, headers: &HeaderMap) -> Result<Grant, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "no_token",
            "缺少访问令牌：请在 Authorization 头中给出 Bearer 令牌",
            "missing token: send Authorization: Bearer <token>",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let Some(g) = app.tokens.grant(token) else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "访问令牌无效",
            "invalid token",
        ));
    };
    if let Some(last) = g.expires
        && chrono::Local::now().date_naive() > last
    {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "expired_token",
            format!("访问令牌已于 {last} 过期"),
            format!("the token expired on {last}"),
        ));
    }
    Ok(g.clone())
}

/// The query parameters of a list request.
struct Params {
    date: Option<NaiveDate>,
    since: Option<NaiveDate>,
    region: Option<String>,
    school: Option<String>,
    format: Format,
    gbk: bool,
    label_header: bool,
    limit: Option<u64>,
    offset: u64,
}

const MAX_PAGE: u64 = 1_000_000;

fn params(query: &str, allowed: &[&str]) -> Result<Params, ApiError> {
    let mut p = Params {
        date: None,
        since: None,
        region: None,
        school: None,
        format: Format::Json,
        gbk: false,
        label_header: false,
        limit: None,
        offset: 0,
    };
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(bad(
                "unknown_parameter",
                format!("未知参数 {k}；可用：{}", allowed.join(", ")),
                format!("unknown parameter {k}; allowed: {}", allowed.join(", ")),
            ));
        }
        if !seen.insert(k.to_string()) {
            return Err(bad(
                "repeated_parameter",
                format!("参数 {k} 重复"),
                format!("parameter {k} given twice"),
            ));
        }
        let date = |v: &str| {
            v.parse::<NaiveDate>().map_err(|_| {
                bad(
                    "bad_date",
                    format!("参数 {k} 的值 {v:?} 不是日期：应为 YYYY-MM-DD"),
                    format!("{k}={v:?} is not a date (YYYY-MM-DD)"),
                )
            })
        };
        let number = |v: &str| {
            v.parse::<u64>().map_err(|_| {
                bad(
                    "bad_number",
                    format!("参数 {k} 的值 {v:?} 不是非负整数"),
                    format!("{k}={v:?} is not a non-negative integer"),
                )
            })
        };
        match k.as_ref() {
            "date" => p.date = Some(date(&v)?),
            "since" => p.since = Some(date(&v)?),
            "region" => {
                let ok = matches!(Jurisdiction::parse(&v), Some(Jurisdiction::Region(_)))
                    && crate::schema::catalog().regions.name(&v).is_some();
                if !ok {
                    return Err(bad(
                        "bad_region",
                        format!("参数 region 的值 {v:?} 不是已知的省（2 位）、地市（4 位）或区县（6 位）代码"),
                        format!("region={v:?} is not a known 2-, 4- or 6-digit division code"),
                    ));
                }
                p.region = Some(v.to_string());
            }
            "school" => {
                if !matches!(Jurisdiction::parse(&v), Some(Jurisdiction::School(_))) {
                    return Err(bad(
                        "bad_school",
                        format!("参数 school 的值 {v:?} 不是 10 位学校标识码"),
                        format!("school={v:?} is not a 10-digit school id"),
                    ));
                }
                p.school = Some(v.to_string());
            }
            "format" => {
                p.format = Format::parse(&v).ok_or_else(|| {
                    bad(
                        "bad_format",
                        format!("参数 format 的值 {v:?} 无效；可用：{}", Format::NAMES.join(", ")),
                        format!("format={v:?}; use one of {}", Format::NAMES.join(", ")),
                    )
                })?;
            }
            "encoding" => {
                p.gbk = match v.to_ascii_lowercase().as_str() {
                    "utf-8" | "utf8" => false,
                    "gbk" | "gb18030" => true,
                    _ => {
                        return Err(bad(
                            "bad_encoding",
                            format!("参数 encoding 的值 {v:?} 无效：应为 utf-8 或 gbk"),
                            format!("encoding={v:?}; use utf-8 or gbk"),
                        ));
                    }
                }
            }
            "header" => {
                p.label_header = match v.as_ref() {
                    "name" => false,
                    "label" => true,
                    _ => {
                        return Err(bad(
                            "bad_header",
                            format!("参数 header 的值 {v:?} 无效：应为 name（英文列名）或 label（中文列名）"),
                            format!("header={v:?}; use name or label"),
                        ));
                    }
                }
            }
            "limit" => {
                let n = number(&v)?;
                if n == 0 || n > MAX_PAGE {
                    return Err(bad(
                        "bad_limit",
                        format!("参数 limit 应在 1 到 {MAX_PAGE} 之间"),
                        format!("limit must be 1..={MAX_PAGE}"),
                    ));
                }
                p.limit = Some(n);
            }
            "offset" => p.offset = number(&v)?,
            _ => unreachable!("checked against allowed"),
        }
    }
    if p.gbk && p.format != Format::Csv {
        return Err(bad(
            "bad_encoding",
            "encoding=gbk 只用于 format=csv",
            "encoding=gbk applies to format=csv only",
        ));
    }
    Ok(p)
}

/// The list named in the path, if the token may read it.
fn served_list(name: &str, grant: &Grant) -> Result<&'static ServedList, ApiError> {
    let Some(l) = LISTS.iter().find(|l| l.name == name) else {
        let all: Vec<&str> = LISTS.iter().map(|l| l.name).collect();
        return Err(err(
            StatusCode::NOT_FOUND,
            "unknown_list",
            format!("没有名为 {name} 的清单；可用：{}", all.join(", ")),
            format!("no list {name}; available: {}", all.join(", ")),
        ));
    };
    if !grant.may_read(name) {
        return Err(err(
            StatusCode::FORBIDDEN,
            "list_not_granted",
            format!("令牌 {} 无权读取清单 {name}", grant.id),
            format!("token {} may not read {name}", grant.id),
        ));
    }
    Ok(l)
}

fn run_of<'a>(snap: &'a Snapshot, l: &ServedList) -> Result<&'a ModelRun, ApiError> {
    snap.runs.get(l.name).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "not_run",
            format!("清单 {} 还没有运行过", l.name),
            format!("{} has not been run yet", l.name),
        )
    })
}

/// The run date a request reads: the latest on or before `want` (default: the latest).
fn pick_date(list: &str, run: &ModelRun, want: Option<NaiveDate>) -> Result<NaiveDate, ApiError> {
    let found = run.dates.iter().copied().filter(|d| want.is_none_or(|w| *d <= w)).max();
    found.ok_or_else(|| {
        let first = run.dates.first().map(|d| d.to_string()).unwrap_or_default();
        err(
            StatusCode::NOT_FOUND,
            "no_such_date",
            format!(
                "清单 {list} 在 {} 及以前没有数据；最早的是 {first}",
                want.map(|d| d.to_string()).unwrap_or_default()
            ),
            format!("{list} has no data on or before the date; the first is {first}"),
        )
    })
}

/// The `WHERE` conditions of a request: its jurisdiction, and the filters it asked for inside
/// it. Filters outside the jurisdiction are refused (403); wider ones are cut to it.
fn scope(snap: &Snapshot, grant: &Grant, p: &Params) -> Result<Vec<String>, ApiError> {
    let j = grant.jurisdiction();
    let outside = |zh: String, en: String| {
        err(
            StatusCode::FORBIDDEN,
            "outside_jurisdiction",
            format!("{zh} 不在令牌 {} 的管辖范围 {} 内", grant.id, grant.jurisdiction),
            format!(
                "{en} is outside the jurisdiction {} of token {}",
                grant.jurisdiction, grant.id
            ),
        )
    };
    let mut conds = match &j {
        Jurisdiction::All => vec![],
        Jurisdiction::Region(r) => vec![format!("county_code LIKE '{r}%'")],
        Jurisdiction::School(s) => vec![format!("school_id = '{s}'")],
    };
    if let Some(r) = &p.region {
        let fits = match &j {
            Jurisdiction::All => true,
            Jurisdiction::Region(own) => r.starts_with(own.as_str()) || own.starts_with(r.as_str()),
            Jurisdiction::School(s) => snap.counties.get(s).is_some_and(|c| c.starts_with(r.as_str())),
        };
        if !fits {
            return Err(outside(format!("地区 {r}"), format!("region {r}")));
        }
        conds.push(format!("county_code LIKE '{r}%'"));
    }
    if let Some(s) = &p.school {
        let Some(county) = snap.counties.get(s) else {
            return Err(err(
                StatusCode::NOT_FOUND,
                "unknown_school",
                format!("没有学校标识码为 {s} 的学校"),
                format!("no school {s}"),
            ));
        };
        let fits = match &j {
            Jurisdiction::School(own) => own == s,
            _ => j.holds_county(county),
        };
        if !fits {
            return Err(outside(format!("学校 {s}"), format!("school {s}")));
        }
        conds.push(format!("school_id = '{s}'"));
    }
    Ok(conds)
}

/// How the response shows each column of a list: labels from its schema file, masks unless
/// the grant lifts them.
fn shape_of(schema: &OutSchema, df_schema: &arrow::datatypes::Schema, unmask: bool) -> Shape {
    let (labels, masks) = df_schema
        .fields()
        .iter()
        .map(|f| {
            let c = schema.columns.iter().find(|c| c.name == *f.name());
            let label = match f.name().as_str() {
                "change" => "变动（entered 新进入 / left 已离开）".to_string(),
                _ => c.map(|c| c.label.clone()).unwrap_or_else(|| f.name().clone()),
            };
            (label, c.and_then(|c| c.mask).filter(|_| !unmask))
        })
        .unzip();
    Shape::new(df_schema, labels, masks)
}

fn columns(schema: &OutSchema) -> Vec<String> {
    schema.columns.iter().map(|c| format!("\"{}\"", c.name)).collect()
}

/// Answer a list query: streamed, or one page when `limit` is given.
async fn answer(
    snap: &Snapshot,
    req: &Request,
    schema: &OutSchema,
    sql: String,
    p: &Params,
    extra: Vec<(&'static str, String)>,
) -> Result<Reply, ApiError> {
    let list = schema.table.name.as_str();
    let df = snap.ctx.sql(&sql).await.map_err(unavailable)?;
    let input_schema = Arc::new(df.schema().as_arrow().clone());
    let shape = shape_of(schema, &input_schema, req.served.masked == Some(false));
    let date = req.served.date.map(|d| d.to_string()).unwrap_or_default();
    let mut headers = vec![
        ("x-xueji-snapshot-date", date.clone()),
        ("x-xueji-run", snap.seq().to_string()),
        ("x-xueji-masked", req.served.masked.unwrap_or(true).to_string()),
    ];
    headers.extend(extra);
    if p.format != Format::Json && p.format != Format::Ndjson {
        headers.push((
            "content-disposition",
            format!("attachment; filename=\"{list}-{date}.{}\"", p.format.extension()),
        ));
    }
    let mut head = serde_json::Map::new();
    head.insert("list".into(), list.into());
    head.insert("snapshot_date".into(), date.into());
    head.insert("masked".into(), req.served.masked.unwrap_or(true).into());
    let content_type = p.format.content_type(p.gbk);
    if p.format == Format::Xlsx {
        let n = df.clone().count().await.map_err(unavailable)? as u64;
        let n = n.saturating_sub(p.offset).min(p.limit.unwrap_or(u64::MAX));
        if n > output::XLSX_MAX_ROWS {
            return Err(bad(
                "too_many_rows_for_xlsx",
                format!(
                    "共 {n} 行，超过 Excel 的上限 {}：请用 format=csv 或 parquet，或用 limit 分页",
                    output::XLSX_MAX_ROWS
                ),
                format!("{n} rows exceed Excel's limit; use csv or parquet, or pages"),
            ));
        }
    }
    let Some(limit) = p.limit else {
        let df = if p.offset > 0 {
            df.limit(p.offset as usize, None).map_err(unavailable)?
        } else {
            df
        };
        return Ok(Reply::Stream {
            df,
            encoder: Encoder::new(p.format, p.gbk, p.label_header, shape, head),
            content_type,
            headers,
        });
    };
    // One more row than asked tells whether there is a next page.
    let batches = df
        .limit(p.offset as usize, Some(limit as usize + 1))
        .map_err(unavailable)?
        .collect()
        .await
        .map_err(unavailable)?;
    let all = arrow::compute::concat_batches(&input_schema, &batches).map_err(unavailable)?;
    let more = all.num_rows() as u64 > limit;
    let page = all.slice(0, all.num_rows().min(limit as usize));
    if more {
        headers.push(("x-xueji-next-offset", (p.offset + limit).to_string()));
        head.insert("next_offset".into(), (p.offset + limit).into());
    }
    let mut enc = Encoder::new(p.format, p.gbk, p.label_header, shape, head);
    let mut body = enc.begin().map_err(unavailable)?;
    body.extend(enc.batch(&page).map_err(unavailable)?);
    body.extend(enc.finish().map_err(unavailable)?);
    Ok(Reply::Full {
        body,
        content_type,
        headers,
        rows: Some(enc.rows()),
    })
}

async fn rows(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(list): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(&app, Method::GET, &uri, remote);
    let outcome = async {
        let (grant, l) = req.admit(&app, &headers, &list)?;
        let p = params(
            q.as_deref().unwrap_or(""),
            &[
                "date", "region", "school", "format", "encoding", "header", "limit", "offset",
            ],
        )?;
        let snap = app.snapshot();
        let run = run_of(&snap, l)?;
        let date = pick_date(l.name, run, p.date)?;
        req.served.date = Some(date);
        req.served.masked = Some(!grant.unmask);
        let mut conds = scope(&snap, &grant, &p)?;
        conds.insert(0, format!("snapshot_date = DATE '{date}'"));
        let schema = out_schema(l.name).map_err(unavailable)?;
        let cols = columns(&schema).join(", ");
        let sql = format!(
            "SELECT {cols} FROM {}_all WHERE {} ORDER BY {cols}",
            l.name,
            conds.join(" AND ")
        );
        answer(&snap, &req, &schema, sql, &p, vec![]).await
    }
    .await;
    req.finish(app, outcome).await
}

/// Who entered and who left a pupil list between two nights, inside the jurisdiction.
async fn changes(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(list): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(&app, Method::GET, &uri, remote);
    let outcome = async {
        let (grant, l) = req.admit(&app, &headers, &list)?;
        if !l.pupils {
            return Err(bad("no_changes", format!("{} 是统计表，没有按学生的变动；变动只用于学生名单", l.name), format!("{} is a statistics table; changes apply to pupil lists", l.name)));
        }
        let p = params(q.as_deref().unwrap_or(""), &["since", "date", "region", "school", "format", "encoding", "header", "limit", "offset"])?;
        let Some(since) = p.since else {
            return Err(bad("no_since", "缺少参数 since（YYYY-MM-DD）：与哪一天的名单比较", "missing since=YYYY-MM-DD"));
        };
        let snap = app.snapshot();
        let run = run_of(&snap, l)?;
        let date = pick_date(l.name, run, p.date)?;
        let base = pick_date(l.name, run, Some(since))?;
        if since >= date {
            return Err(bad("bad_since", format!("since（{since}）应早于比较的快照日期 {date}"), format!("since ({since}) must be before the snapshot date {date}")));
        }
        req.served.date = Some(date);
        req.served.masked = Some(!grant.unmask);
        let conds = scope(&snap, &grant, &p)?;
        let schema = out_schema(l.name).map_err(unavailable)?;
        let cols = columns(&schema);
        let side = |d: NaiveDate| {
            let mut c = vec![format!("snapshot_date = DATE '{d}'")];
            c.extend(conds.iter().cloned());
            format!("SELECT {} FROM {}_all WHERE {}", cols.join(", "), l.name, c.join(" AND "))
        };
        let bare = cols.join(", ");
        // A pupil is on a list at a school: moving school inside the jurisdiction shows as a
        // leave from one and an entry to the other, which is what a per-school ledger needs.
        let sql = format!(
            "WITH a AS ({}), b AS ({})
             SELECT * FROM (
               SELECT 'entered' AS change, {bare} FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.school_id = b.school_id AND a.registration_no = b.registration_no)
               UNION ALL
               SELECT 'left' AS change, {bare} FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE a.school_id = b.school_id AND a.registration_no = b.registration_no)
             ) c ORDER BY change, {bare}",
            side(base),
            side(date)
        );
        answer(&snap, &req, &schema, sql, &p, vec![("x-xueji-since-date", base.to_string())]).await
    }
    .await;
    req.finish(app, outcome).await
}

/// The lists a token may read, with their columns, labels and dates.
async fn catalog(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(&app, Method::GET, &uri, remote);
    let outcome = async {
        req.grant = Some(authorize(&app, &headers)?);
        let grant = req.grant.clone().expect("set");
        let snap = app.snapshot();
        let mut lists = Vec::new();
        for l in LISTS.iter().filter(|l| grant.may_read(l.name)) {
            let s = out_schema(l.name).map_err(unavailable)?;
            let dates: Vec<String> = snap.runs.get(l.name).map(|r| r.dates.iter().map(|d| d.to_string()).collect()).unwrap_or_default();
            // A masked column is served as text whatever its type (a birth date as `2012-**-**`).
            let cols: Vec<_> = s
                .columns
                .iter()
                .map(|c| {
                    let masked = c.mask.is_some() && !grant.unmask;
                    let ty = if masked { "utf8" } else { crate::docs::out_type(c.col_type) };
                    serde_json::json!({ "name": c.name, "label": c.label, "type": ty, "masked": masked })
                })
                .collect();
            lists.push(serde_json::json!({ "name": l.name, "label": s.table.label, "grain": s.table.grain, "kind": if l.pupils { "pupils" } else { "statistics" }, "dates": dates, "columns": cols }));
        }
        let body = serde_json::json!({ "token": grant.id, "holder": grant.name, "jurisdiction": grant.jurisdiction, "unmasked": grant.unmask, "run": snap.seq(), "lists": lists });
        Ok(Reply::Full { body: serde_json::to_vec_pretty(&body).map_err(unavailable)?, content_type: "application/json", headers: vec![], rows: None })
    }
    .await;
    req.finish(app, outcome).await
}

async fn health(State(app): State<Arc<App>>, ConnectInfo(remote): ConnectInfo<SocketAddr>, uri: Uri) -> Response {
    let req = Request::new(&app, Method::GET, &uri, remote);
    let snap = app.snapshot();
    let latest = snap
        .runs
        .values()
        .flat_map(|r| r.dates.last())
        .max()
        .map(|d| d.to_string());
    let body = serde_json::json!({ "status": "ok", "run": snap.seq(), "latest_date": latest });
    req.finish(
        app,
        Ok(Reply::Full {
            body: body.to_string().into_bytes(),
            content_type: "application/json",
            headers: vec![],
            rows: None,
        }),
    )
    .await
}

async fn openapi_doc(State(app): State<Arc<App>>, ConnectInfo(remote): ConnectInfo<SocketAddr>, uri: Uri) -> Response {
    let req = Request::new(&app, Method::GET, &uri, remote);
    let outcome = openapi::document()
        .map(|text| Reply::Full {
            body: text.into_bytes(),
            content_type: "application/json",
            headers: vec![],
            rows: None,
        })
        .map_err(unavailable);
    req.finish(app, outcome).await
}

async fn root(State(app): State<Arc<App>>, ConnectInfo(remote): ConnectInfo<SocketAddr>, uri: Uri) -> Response {
    let req = Request::new(&app, Method::GET, &uri, remote);
    let body = serde_json::json!({ "service": "xueji serve：学籍数据接口 / registration data API", "openapi": "/openapi.json", "lists": "/v1/lists" });
    req.finish(
        app,
        Ok(Reply::Full {
            body: body.to_string().into_bytes(),
            content_type: "application/json",
            headers: vec![],
            rows: None,
        }),
    )
    .await
}

async fn not_found(
    State(app): State<Arc<App>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
) -> Response {
    let req = Request::new(&app, method, &uri, remote);
    let path = uri.path().to_string();
    req.finish(
        app,
        Err(err(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("没有这个地址：{path}；接口说明见 /openapi.json"),
            format!("no route {path}; see /openapi.json"),
        )),
    )
    .await
}

/// Run until Ctrl-C.
pub async fn serve(o: &ServeOptions) -> Result<()> {
    let server = start(o).await?;
    println!(
        "xueji serve 正在监听 http://{}（仓库 {}，审计日志 {}）/ listening",
        server.addr,
        o.warehouse,
        o.audit.display()
    );
    println!("接口说明 / API: http://{}/openapi.json；按 Ctrl-C 停止", server.addr);
    tokio::signal::ctrl_c().await?;
    println!("正在停止：等待进行中的请求，最多 30 秒 / stopping: waiting up to 30 s for requests in flight");
    // A client that never reads would hold a graceful stop for ever; each request's audit line
    // is on disk already, so cutting it off loses no record of what was asked.
    match tokio::time::timeout(Duration::from_secs(30), server.stop()).await {
        Ok(r) => r,
        Err(_) => {
            eprintln!("警告：仍有未结束的连接，已停止 / connections still open were cut off");
            Ok(())
        }
    }
}
