//! `xueji serve`: the beneficiary lists, rosters and statistics marts over HTTP(S), for subsidy
//! systems (资助, 营养改善计划实名制) and dashboards that would otherwise get a spreadsheet by
//! e-mail.
//!
//! - Every request carries a bearer token; its grant (access.rs) fixes the jurisdiction, the
//!   lists and whether ID numbers, phones and addresses are shown. The jurisdiction is a `WHERE`
//!   on every query, whatever the request's own filters say. The token file is read again when
//!   it changes (looked at every few seconds) or on SIGHUP, so a revoked token stops working
//!   without a restart.
//! - Every request is audited (audit.rs): one line, written by the front of the server whatever
//!   answered (a handler, a 405, a path that does not decode), with the real method and no
//!   secret, on disk before the first byte of data is sent; a response carrying rows adds a
//!   `done` line with the bytes the client's connection actually took. When the log cannot be
//!   written no data is served (503), and `/healthz` says why.
//! - Requests read a [`Snapshot`]: the marts at the versions of one committed model run. A
//!   nightly run commits in one append to `_runs`; the server notices it within `refresh` and
//!   swaps the snapshot, while requests already running keep the one they started with. So a
//!   pull sees the old night or the new one, never a mix.
//! - Lists stream batch by batch through a bounded channel: a slow client holds back only its
//!   own query. Pages are capped at [`MAX_PAGE`] rows, and XLSX workbooks (which can only be sent
//!   whole) are built a few at a time, on disk.
//! - Connections (net.rs) are capped, must send their request head within a few seconds, and are
//!   cut off when they stop taking a response; HTTPS with `--tls-cert`/`--tls-key`, and plain
//!   HTTP only on loopback unless `--allow-plain-http`.

pub mod access;
pub mod audit;
mod lookup;
mod net;
pub mod openapi;
mod output;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};

use crate::models::{OutSchema, out_schema};
use crate::warehouse::{self, ModelRun, RUNS, Warehouse};
use access::{FileStamp, Grant, Jurisdiction, Tokens};
use audit::{AuditLog, Entry, Noise};
use net::{AuditedBody, ConnState};
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
        name: "list_graduates",
        pupils: true,
    },
    ServedList {
        name: "list_registration_numbers",
        pupils: true,
    },
    ServedList {
        name: "list_disability_info_missing",
        pupils: true,
    },
    // One row per change, per contradiction, per school: not one per pupil, so no `changes`.
    ServedList {
        name: "list_key_changes",
        pupils: false,
    },
    ServedList {
        name: "list_migrant_contradictions",
        pupils: false,
    },
    ServedList {
        name: "list_nutrition_schools",
        pupils: false,
    },
    ServedList {
        name: "list_meal_ledger_anomalies",
        pupils: false,
    },
    ServedList {
        name: "stats_registration_numbers",
        pupils: false,
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
    /// How often the server looks for a newly committed run or night.
    pub refresh: Duration,
    pub threads: usize,
    pub memory_mb: usize,
}

/// The marts as of one committed run.
struct Snapshot {
    ctx: SessionContext,
    runs: BTreeMap<String, ModelRun>,
    /// The `_runs` and `_nights` versions it was read at.
    version: Stamp,
    /// Each school's county (its latest), for requests that name a school.
    counties: std::collections::HashMap<String, String>,
    /// What 全国学籍查询 reads, registered in `ctx`; None before `student_status` has run.
    lookup: Option<crate::models::lookup::Source>,
}

impl Snapshot {
    async fn load(wh: &Warehouse, version: Stamp, threads: usize, memory_mb: usize) -> Result<Self> {
        let ctx = warehouse::session(threads, memory_mb)?;
        let mut runs = wh.model_runs(&ctx).await?;
        let every_run = runs.clone();
        runs.retain(|m, _| m == SCHOOL_REGIONS || LISTS.iter().any(|l| l.name == m));
        for (m, run) in &runs {
            warehouse::register_model(wh, &ctx, m, run.version, None).await?;
        }
        // Lookups that cannot be read leave the lists served.
        let lookup = match crate::models::lookup::register(wh, &ctx, &every_run).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("警告：全国学籍查询暂不可用 / lookups unavailable: {e:#}");
                None
            }
        };
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
            lookup,
        })
    }

    /// The run's seq (the largest of the served models').
    fn seq(&self) -> i64 {
        self.runs.values().map(|r| r.seq).max().unwrap_or(0)
    }
}

/// The versions of `_runs` and `_nights`: a snapshot is read again after a new run and after a
/// new or re-sent night, whose `students` version lookups read (`xueji vacuum` removes the files
/// of a replaced version once its `--keep-hours` are over).
type Stamp = (Option<i64>, Option<i64>);

async fn committed_stamp(wh: &Warehouse) -> Result<Stamp> {
    let version =
        async |table| Ok::<_, anyhow::Error>(wh.latest(table).await?.and_then(|t| t.version()).map(|v| v as i64));
    Ok((version(RUNS).await?, version(warehouse::NIGHTS).await?))
}

/// What a client may hold of the server, and how the server is reached (the options of
/// `xueji serve` beyond [`ServeOptions`]).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's backlog until one closes. Kept
    /// under the process's file-descriptor limit.
    pub max_connections: usize,
    /// Time for a whole request head, counted from the connection's opening or from the end of
    /// the previous response (so also the keep-alive idle limit); a TLS handshake's too.
    pub header_timeout: Duration,
    /// A client that takes no byte of a response for this long is cut off.
    pub idle_timeout: Duration,
    /// HTTPS: the certificate chain and the private key (PEM).
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP on an address other than loopback (behind a TLS proxy).
    pub allow_plain_http: bool,
    /// How often the token file is looked at for changes; None: only on SIGHUP.
    pub reload_tokens: Option<Duration>,
    /// XLSX workbooks built at once (each is held whole until it is sent).
    pub xlsx_builds: usize,
    /// Audit lines a second for requests without a valid token; the rest are counted.
    pub unauthenticated_lines_per_second: u32,
    /// 全国学籍查询 a token may make a minute (`/v1/lookup`); more get 429.
    pub lookups_per_minute: u32,
}

/// `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            tls: None,
            allow_plain_http: false,
            reload_tokens: Some(Duration::from_secs(5)),
            xlsx_builds: 1,
            unauthenticated_lines_per_second: 20,
            lookups_per_minute: 60,
        }
    }
}

/// The longest rows of a page (`limit`); a whole list streams without `limit`.
pub const MAX_PAGE: u64 = 10_000;
/// The largest `offset` (more rows than any list has).
pub const MAX_OFFSET: u64 = 1_000_000_000;
/// How long an XLSX request waits for a turn to build its workbook.
const XLSX_WAIT: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct App {
    wh: Warehouse,
    tokens_path: PathBuf,
    tokens: RwLock<Arc<Tokens>>,
    /// The token file as last read.
    tokens_stamp: Mutex<Option<FileStamp>>,
    audit: AuditLog,
    noise: Noise,
    snapshot: RwLock<Arc<Snapshot>>,
    threads: usize,
    memory_mb: usize,
    next_request: AtomicU64,
    /// Turns to build an XLSX workbook.
    xlsx: Arc<Semaphore>,
    xlsx_builds: usize,
    /// Each token's 全国学籍查询 of the last minute.
    lookups: lookup::Limiter,
}

impl App {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("not poisoned").clone()
    }

    fn tokens(&self) -> Arc<Tokens> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Swap in a new snapshot when a run was committed since the current one was read.
    async fn refresh(&self) -> Result<bool> {
        let v = committed_stamp(&self.wh).await?;
        if v == self.snapshot().version {
            return Ok(false);
        }
        let s = Snapshot::load(&self.wh, v, self.threads, self.memory_mb).await?;
        *self.snapshot.write().expect("not poisoned") = Arc::new(s);
        Ok(true)
    }

    /// Read the token file again if it changed (or, `forced`, anyway). A file that does not
    /// read keeps the tokens in force.
    fn reload_tokens(&self, forced: bool) {
        let stamp = FileStamp::of(&self.tokens_path);
        {
            let mut last = lock(&self.tokens_stamp);
            if !forced && *last == stamp {
                return;
            }
            *last = stamp;
        }
        match Tokens::load(&self.tokens_path) {
            Ok(t) => {
                let n = t.len();
                *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
                eprintln!(
                    "已重新读取令牌文件 {}：{n} 个令牌 / tokens reloaded",
                    self.tokens_path.display()
                );
            }
            Err(e) => eprintln!("警告：令牌文件未能重新读取，继续使用原有令牌 / token file not reloaded: {e:#}"),
        }
    }

    /// The grant of an `Authorization` header's token.
    fn grant_of(&self, value: &HeaderValue) -> Result<Grant, ApiError> {
        let token = value.to_str().ok().and_then(bearer).unwrap_or("");
        let tokens = self.tokens();
        let Some(g) = tokens.grant(token) else {
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

    /// Audit a response and make it ready to send: the line is on disk before a byte of data
    /// leaves (a request without a valid token is only rate-limited and not waited for), and a
    /// response carrying rows gets its `done` line when its body has gone out.
    async fn audited(
        &self,
        ctx: &Arc<Ctx>,
        conn: &Arc<ConnState>,
        auth: Option<HeaderValue>,
        mut res: Response,
    ) -> hyper::Response<AuditedBody> {
        let mut note = lock(&ctx.note).clone();
        if !note.answered {
            // Answered by axum itself (a method a route does not take, a path it cannot decode):
            // the same error body as ours, and the token it came with.
            if let Some(g) = auth.as_ref().and_then(|v| self.grant_of(v).ok()) {
                note.token = Some(g.id);
                note.jurisdiction = Some(g.jurisdiction);
            }
            if res.status().is_client_error() || res.status().is_server_error() {
                let allow = res.headers().get(header::ALLOW).cloned();
                let e = refusal(ctx, &res, allow.as_ref());
                note.error = Some(e.code);
                res = e.response();
                if let Some(a) = allow {
                    res.headers_mut().insert(header::ALLOW, a);
                }
            }
        }
        let status = res.status();
        let entry = ctx.entry(&note, "response", status.as_u16());
        let written = if note.token.is_some() {
            self.audit.write(&entry).await
        } else {
            if self.noise.admit(status.as_u16()) {
                self.audit.send(&entry);
            }
            Ok(())
        };
        let mut data = note.data && status == StatusCode::OK && ctx.method != Method::HEAD;
        if let Err(e) = written {
            res = audit_unavailable(self.audit.path(), e.root_cause()).response();
            data = false;
        }
        let h = res.headers_mut();
        // Personal data and who may see it: no proxy or browser keeps a copy of any answer.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert("x-request-id", HeaderValue::from(ctx.id));
        let (parts, body) = res.into_parts();
        let body = if data {
            let (log, ctx) = (self.audit.clone(), ctx.clone());
            AuditedBody::delivered(
                body,
                conn.clone(),
                Box::new(move |complete, bytes| write_done(&log, &ctx, complete, bytes)),
            )
        } else {
            AuditedBody::plain(body)
        };
        hyper::Response::from_parts(parts, body)
    }
}

/// The `done` line of a response carrying rows.
fn write_done(log: &AuditLog, ctx: &Ctx, complete: bool, bytes: u64) {
    let note = lock(&ctx.note).clone();
    let mut e = ctx.entry(&note, "done", StatusCode::OK.as_u16());
    e.rows = match &note.progress {
        Some(p) => Some(p.rows.load(Ordering::Relaxed)),
        None => note.rows,
    };
    e.bytes = Some(bytes);
    e.complete = Some(complete);
    e.error = note.progress.as_ref().and_then(|p| lock(&p.error).clone());
    log.send(&e);
}

/// The token of an `Authorization` value `Bearer <token>`; the scheme in any case (RFC 9110).
fn bearer(v: &str) -> Option<&str> {
    let (scheme, token) = v.trim().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stop accepting, let running requests finish, write what the audit log still owes, and
    /// return.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// SIGHUP, where there is such a thing.
#[cfg(unix)]
struct Hangup(Option<tokio::signal::unix::Signal>);

#[cfg(unix)]
impl Hangup {
    fn new() -> Self {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Hangup(Some(s)),
            Err(e) => {
                eprintln!("警告：无法监听 SIGHUP，令牌文件只按时检查 / cannot listen for SIGHUP: {e}");
                Hangup(None)
            }
        }
    }

    async fn recv(&mut self) {
        if let Some(s) = &mut self.0
            && s.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}

#[cfg(not(unix))]
struct Hangup;

#[cfg(not(unix))]
impl Hangup {
    fn new() -> Self {
        Hangup
    }

    async fn recv(&mut self) {
        std::future::pending::<()>().await
    }
}

async fn pause(every: Option<Duration>) {
    match every {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending::<()>().await,
    }
}

/// Open the warehouse, the tokens and the audit log, bind, and serve in the background, with the
/// default [`Limits`] (plain HTTP: for loopback).
pub async fn start(o: &ServeOptions) -> Result<Server> {
    start_with(o, &Limits::default()).await
}

/// Open the warehouse, the tokens and the audit log, bind, and serve in the background.
pub async fn start_with(o: &ServeOptions, limits: &Limits) -> Result<Server> {
    anyhow::ensure!(
        limits.tls.is_some() || limits.allow_plain_http || o.listen.ip().is_loopback(),
        "拒绝在非本机地址 {} 上用明文 HTTP 提供学生个人信息：请用 --tls-cert 和 --tls-key 启用 HTTPS；\
         若前面另有 HTTPS 代理，可加 --allow-plain-http / plain HTTP on a non-loopback address needs --allow-plain-http",
        o.listen
    );
    anyhow::ensure!(
        limits.max_connections > 0 && limits.xlsx_builds > 0,
        "--max-connections 与 --xlsx-builds 应大于 0"
    );
    anyhow::ensure!(limits.lookups_per_minute > 0, "--lookups-per-minute 应大于 0");
    let tls = match &limits.tls {
        Some(t) => Some(net::tls_acceptor(&t.cert, &t.key)?),
        None => None,
    };
    let wh = Warehouse::open(&o.warehouse)?;
    let stamp = FileStamp::of(&o.tokens);
    let tokens = Tokens::load(&o.tokens)?;
    anyhow::ensure!(
        !tokens.is_empty(),
        "令牌文件 {} 中没有令牌：请先用 xueji token 添加",
        o.tokens.display()
    );
    let audit = AuditLog::open(&o.audit)?;
    let version = committed_stamp(&wh).await?;
    let snap = Snapshot::load(&wh, version, o.threads, o.memory_mb).await?;
    anyhow::ensure!(
        !snap.runs.is_empty(),
        "仓库 {} 中还没有已提交的模型运行：请先运行 xueji run 或 xueji nightly",
        o.warehouse
    );
    let app = Arc::new(App {
        wh,
        tokens_path: o.tokens.clone(),
        tokens: RwLock::new(Arc::new(tokens)),
        tokens_stamp: Mutex::new(stamp),
        audit,
        noise: Noise::new(limits.unauthenticated_lines_per_second),
        snapshot: RwLock::new(Arc::new(snap)),
        threads: o.threads,
        memory_mb: o.memory_mb,
        next_request: AtomicU64::new(1),
        xlsx: Arc::new(Semaphore::new(limits.xlsx_builds)),
        xlsx_builds: limits.xlsx_builds,
        lookups: lookup::Limiter::new(limits.lookups_per_minute),
    });
    let max_connections = net::fit_connection_cap(limits.max_connections);
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
    let reloader = {
        let app = app.clone();
        let every = limits.reload_tokens;
        // Listening starts here, before the server says it is up: a SIGHUP sent after that is
        // never the default one that would end the process.
        let mut hangup = Hangup::new();
        tokio::spawn(async move {
            loop {
                let forced = tokio::select! {
                    _ = hangup.recv() => true,
                    _ = pause(every) => false,
                };
                if forced {
                    eprintln!("收到 SIGHUP：重新读取令牌文件 / SIGHUP: reading the token file again");
                }
                app.reload_tokens(forced);
            }
        })
    };
    let summariser = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                app.noise.summarise(&app.audit);
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
        .route("/v1/lookup", axum::routing::get(lookup::get).post(lookup::post))
        .fallback(not_found)
        .with_state(app.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let conns = Conns {
        app: app.clone(),
        router,
        tls,
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
    };
    let task = tokio::spawn(async move {
        let r = accept_loop(listener, conns, max_connections, stopped).await;
        for t in [refresher, reloader, summariser] {
            t.abort();
        }
        app.noise.summarise(&app.audit);
        app.audit.flush().await;
        r
    });
    Ok(Server {
        addr,
        stop: Some(stop),
        task,
    })
}

/// What every connection is served with.
#[derive(Clone)]
struct Conns {
    app: Arc<App>,
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    idle_timeout: Duration,
}

/// Accept connections, `max_connections` at a time, until told to stop; then let the open ones
/// finish their requests and close.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    conns: Conns,
    max_connections: usize,
    mut stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    let (closing, shutdown) = watch::channel(false);
    loop {
        // A slot first: beyond the cap, connections wait in the backlog, holding no descriptor.
        let slot = tokio::select! {
            _ = &mut stopped => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (tcp, remote) = tokio::select! {
            _ = &mut stopped => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was taken.
                    eprintln!("警告：接受连接失败 / accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (c, shutdown) = (conns.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let conn = ConnState::new(remote);
            match &c.tls {
                None => connection(tcp, &c, conn, shutdown).await,
                Some(acceptor) => {
                    // A handshake gets the time of a request head; a failed one ends only itself.
                    if let Ok(Ok(stream)) = tokio::time::timeout(c.header_timeout, acceptor.accept(tcp)).await {
                        connection(stream, &c, conn, shutdown).await;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every slot back: every connection closed.
    let _ = slots.acquire_many(max_connections as u32).await;
    Ok(())
}

/// Serve one connection (HTTP/1.1) until it closes, or closes gracefully after its request in
/// flight once the server stops.
async fn connection<I>(io: I, c: &Conns, conn: Arc<ConnState>, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(net::Watched::new(io, conn.clone(), c.idle_timeout));
    let svc = {
        let (app, conn) = (c.app.clone(), conn.clone());
        let router = TowerToHyperService::new(c.router.clone());
        hyper::service::service_fn(move |req| front(app.clone(), router.clone(), conn.clone(), req))
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(c.header_timeout);
    let served = builder.serve_connection(io, svc);
    let mut served = std::pin::pin!(served);
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error is the client's (gone, too slow, not HTTP) and ends only its connection.
            _ = served.as_mut() => break,
            _ = shutdown.changed(), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
    // A body handed over whole whose last bytes never left.
    conn.settle(false);
}

/// Every request passes here: it gets its audit context, is routed, and its response is audited.
async fn front(
    app: Arc<App>,
    router: TowerToHyperService<axum::Router>,
    conn: Arc<ConnState>,
    mut req: hyper::Request<Incoming>,
) -> Result<hyper::Response<AuditedBody>, Infallible> {
    let (path, query) = audit::clean_target(req.uri().path(), req.uri().query().unwrap_or(""));
    let ctx = Arc::new(Ctx {
        id: app.next_request.fetch_add(1, Ordering::Relaxed),
        method: req.method().clone(),
        path,
        query,
        remote: conn.remote,
        note: Mutex::new(Note::default()),
    });
    let auth = req.headers().get(header::AUTHORIZATION).cloned();
    req.extensions_mut().insert(ctx.clone());
    let Ok(res) = hyper::service::Service::call(&router, req).await;
    Ok(app.audited(&ctx, &conn, auth, res).await)
}

/// A request as the audit sees it: made for every request before it is routed, filled in by the
/// handler that answers it.
struct Ctx {
    id: u64,
    method: Method,
    /// Secrets blanked, cut to a bound.
    path: String,
    query: String,
    remote: SocketAddr,
    note: Mutex<Note>,
}

/// What the handler found out.
#[derive(Default, Clone)]
struct Note {
    token: Option<String>,
    jurisdiction: Option<String>,
    list: Option<String>,
    date: Option<NaiveDate>,
    masked: Option<bool>,
    /// Rows of a page.
    rows: Option<u64>,
    error: Option<&'static str>,
    /// A handler of ours made the response (else axum did: a 405, an undecodable path).
    answered: bool,
    /// The body carries rows: a `done` line follows.
    data: bool,
    /// A streamed list's.
    progress: Option<Arc<Progress>>,
    /// A lookup's query (masked) and outcome.
    lookup: Option<serde_json::Value>,
}

/// How far a streamed list got.
#[derive(Default)]
struct Progress {
    /// Rows in the chunks the connection took.
    rows: AtomicU64,
    /// Why the query stopped, if it failed.
    error: Mutex<Option<String>>,
}

impl Ctx {
    fn entry<'a>(&'a self, note: &'a Note, event: &'a str, status: u16) -> Entry<'a> {
        Entry {
            event,
            at: audit::now(),
            request: self.id,
            token: note.token.as_deref(),
            jurisdiction: note.jurisdiction.as_deref(),
            remote: Some(self.remote.to_string()),
            method: self.method.as_str(),
            path: &self.path,
            query: &self.query,
            status,
            list: note.list.as_deref(),
            snapshot_date: note.date.map(|d| d.to_string()),
            masked: note.masked,
            rows: note.rows,
            error: note.error.map(str::to_string),
            lookup: note.lookup.clone(),
            ..Default::default()
        }
    }
}

/// Our error for a response axum made itself.
fn refusal(ctx: &Ctx, res: &Response, allow: Option<&HeaderValue>) -> ApiError {
    let (path, method) = (&ctx.path, &ctx.method);
    match res.status() {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = allow.and_then(|v| v.to_str().ok()).unwrap_or("GET,HEAD");
            err(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("地址 {path} 不接受 {method} 请求，只接受 {allow}"),
                format!("{path} does not take {method}; allowed: {allow}"),
            )
        }
        StatusCode::BAD_REQUEST => bad(
            "bad_path",
            format!("地址 {path} 无法解码：路径中的百分号编码应为 UTF-8 文字"),
            format!("the path {path} does not decode (percent-encoding must be UTF-8)"),
        ),
        s => err(
            s,
            "refused",
            format!("请求被拒绝（{s}）"),
            format!("request refused ({s})"),
        ),
    }
}

/// The audit log cannot be written: no data is served unaudited.
fn audit_unavailable(path: &FsPath, why: impl std::fmt::Display) -> ApiError {
    err(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        format!(
            "审计日志 {} 无法写入（{why}）：每次数据访问都须先记入审计日志，在恢复之前不提供数据；请联系管理员检查磁盘空间和权限",
            path.display()
        ),
        format!(
            "the audit log {} cannot be written ({why}); no data is served unaudited",
            path.display()
        ),
    )
}

/// A request that gets no rows: a 4xx (or 503) with a Chinese and an English message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    zh: String,
    en: String,
    /// More fields of the body, beside `error`.
    extra: Option<serde_json::Map<String, serde_json::Value>>,
}

fn err(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        zh: zh.into(),
        en: en.into(),
        extra: None,
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
        let mut body = serde_json::Map::new();
        body.insert(
            "error".into(),
            serde_json::json!({ "code": self.code, "message": self.zh, "message_en": self.en }),
        );
        if let Some(extra) = &self.extra {
            body.extend(extra.clone());
        }
        let mut r = (self.status, axum::Json(serde_json::Value::Object(body))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let wait = self.extra.as_ref().and_then(|x| x.get("retry_after_seconds")?.as_u64());
        if let Some(secs) = wait {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// What a handler answers. One per request: the streamed variant's size does not matter.
#[allow(clippy::large_enum_variant)]
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
        /// An XLSX request's turn, held until its workbook is built.
        turn: Option<OwnedSemaphorePermit>,
    },
}

/// What the audit line says about a list request (or a lookup).
#[derive(Default)]
struct Served {
    list: Option<String>,
    date: Option<NaiveDate>,
    masked: Option<bool>,
    lookup: Option<serde_json::Value>,
}

/// A request being answered by a handler.
struct Request {
    ctx: Arc<Ctx>,
    grant: Option<Grant>,
    served: Served,
}

impl Request {
    fn new(ctx: Arc<Ctx>) -> Self {
        Request {
            ctx,
            grant: None,
            served: Served::default(),
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

    /// Tell the audit what was found out, and answer (the front writes the line before the
    /// response leaves).
    fn finish(self, outcome: Result<Reply, ApiError>) -> Response {
        let mut note = lock(&self.ctx.note);
        note.answered = true;
        if let Some(g) = &self.grant {
            note.token = Some(g.id.clone());
            note.jurisdiction = Some(g.jurisdiction.clone());
        }
        note.list = self.served.list.clone();
        note.date = self.served.date;
        note.masked = self.served.masked;
        note.lookup = self.served.lookup.clone();
        match outcome {
            Err(e) => {
                note.error = Some(e.code);
                e.response()
            }
            Ok(Reply::Full {
                body,
                content_type,
                headers,
                rows,
            }) => {
                note.rows = rows;
                note.data = rows.is_some();
                respond(Body::from(body), content_type, &headers)
            }
            Ok(Reply::Stream {
                df,
                mut encoder,
                content_type,
                headers,
                turn,
            }) => {
                let progress = Arc::new(Progress::default());
                note.data = true;
                note.progress = Some(progress.clone());
                drop(note);
                // Four chunks in flight at most: a client that reads slowly slows only its query.
                // Each chunk carries its rows, counted when the connection takes it.
                let (mut tx, rx) = futures::channel::mpsc::channel::<std::io::Result<(Bytes, u64)>>(4);
                let taken = progress.clone();
                let body = Body::from_stream(rx.map(move |chunk| {
                    chunk.map(|(bytes, rows)| {
                        taken.rows.fetch_add(rows, Ordering::Relaxed);
                        bytes
                    })
                }));
                tokio::spawn(async move {
                    let _turn = turn;
                    // Rows encoded but not yet in a chunk (Parquet writes whole row groups).
                    let mut unsent = 0u64;
                    let sent: Result<()> = async {
                        let mut stream = df.execute_stream().await?;
                        let head = encoder.begin()?;
                        tx.send(Ok((head.into(), 0))).await?;
                        while let Some(b) = stream.next().await {
                            let b = b?;
                            unsent += b.num_rows() as u64;
                            let bytes = encoder.batch(&b)?;
                            if !bytes.is_empty() {
                                tx.send(Ok((bytes.into(), std::mem::take(&mut unsent)))).await?;
                            }
                        }
                        tx.send(Ok((encoder.finish()?.into(), std::mem::take(&mut unsent))))
                            .await?;
                        Ok(())
                    }
                    .await;
                    // A client that went away is the `done` line's to tell; a query that failed
                    // half-way breaks the body, so the client cannot take a short list for a
                    // whole one.
                    if let Err(e) = sent
                        && e.downcast_ref::<futures::channel::mpsc::SendError>().is_none()
                    {
                        eprintln!("错误：名单输出中断 / a list stream failed: {e:#}");
                        *lock(&progress.error) = Some(format!("{e:#}"));
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    }
                });
                respond(body, content_type, &headers)
            }
        }
    }
}

fn respond(body: Body, content_type: &'static str, headers: &[(&'static str, String)]) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
    app.grant_of(value)
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
    for (k, v) in query_params(query, allowed)? {
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
                        format!("参数 limit 应在 1 到 {MAX_PAGE} 之间；要整个清单请不给 limit（流式输出）"),
                        format!("limit must be 1..={MAX_PAGE}; leave it out to stream the whole list"),
                    ));
                }
                p.limit = Some(n);
            }
            "offset" => {
                let n = number(&v)?;
                if n > MAX_OFFSET {
                    return Err(bad(
                        "bad_offset",
                        format!("参数 offset 不能超过 {MAX_OFFSET}"),
                        format!("offset must be at most {MAX_OFFSET}"),
                    ));
                }
                p.offset = n;
            }
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
        let county = snap.counties.get(s);
        // A school outside the jurisdiction and one that does not exist get the same answer, so
        // a token cannot learn which schools exist beyond its own ground.
        let fits = match (&j, county) {
            (Jurisdiction::School(own), _) => own == s,
            (Jurisdiction::All, None) => {
                return Err(err(
                    StatusCode::NOT_FOUND,
                    "unknown_school",
                    format!("没有学校标识码为 {s} 的学校"),
                    format!("no school {s}"),
                ));
            }
            (_, None) => false,
            (_, Some(county)) => j.holds_county(county),
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
    app: &App,
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
    let mut turn = None;
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
        // A workbook is held whole until it is sent: a few are built at a time.
        turn = match tokio::time::timeout(XLSX_WAIT, app.xlsx.clone().acquire_owned()).await {
            Ok(Ok(t)) => Some(t),
            _ => {
                return Err(err(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "xlsx_busy",
                    format!(
                        "正在生成其他 Excel 文件（同时最多 {} 个），请稍后重试，或改用 format=csv 或 parquet",
                        app.xlsx_builds
                    ),
                    "other workbooks are being built; retry later, or use csv or parquet",
                ));
            }
        };
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
            turn,
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
    drop(turn);
    Ok(Reply::Full {
        body,
        content_type,
        headers,
        rows: Some(enc.rows()),
    })
}

async fn rows(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(list): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(ctx);
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
        answer(&app, &snap, &req, &schema, sql, &p, vec![]).await
    }
    .await;
    req.finish(outcome)
}

/// Who entered and who left a pupil list between two nights, inside the jurisdiction.
async fn changes(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(list): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut req = Request::new(ctx);
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
        answer(&app, &snap, &req, &schema, sql, &p, vec![("x-xueji-since-date", base.to_string())]).await
    }
    .await;
    req.finish(outcome)
}

/// The lists a token may read, with their columns, labels and dates.
async fn catalog(State(app): State<Arc<App>>, Extension(ctx): Extension<Arc<Ctx>>, headers: HeaderMap) -> Response {
    let mut req = Request::new(ctx);
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
                    let ty = if masked { "utf8" } else { c.col_type.name() };
                    serde_json::json!({ "name": c.name, "label": c.label, "type": ty, "masked": masked })
                })
                .collect();
            lists.push(serde_json::json!({ "name": l.name, "label": s.table.label, "grain": s.table.grain, "kind": if l.pupils { "pupils" } else { "statistics" }, "dates": dates, "columns": cols }));
        }
        let body = serde_json::json!({ "token": grant.id, "holder": grant.name, "jurisdiction": grant.jurisdiction, "unmasked": grant.unmask, "lookup": grant.may_lookup(), "run": snap.seq(), "lists": lists });
        Ok(Reply::Full { body: serde_json::to_vec_pretty(&body).map_err(unavailable)?, content_type: "application/json", headers: vec![], rows: None })
    }
    .await;
    req.finish(outcome)
}

/// The server's state: 200 while it serves, 503 when it cannot (the audit log cannot be
/// written), with the reason.
async fn health(State(app): State<Arc<App>>, Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    let req = Request::new(ctx);
    let snap = app.snapshot();
    let latest = snap
        .runs
        .values()
        .flat_map(|r| r.dates.last())
        .max()
        .map(|d| d.to_string());
    let outcome = match app.audit.failing() {
        None => {
            let body = serde_json::json!({ "status": "ok", "run": snap.seq(), "latest_date": latest, "audit": "ok" });
            Ok(Reply::Full {
                body: body.to_string().into_bytes(),
                content_type: "application/json",
                headers: vec![],
                rows: None,
            })
        }
        Some(why) => {
            let mut e = audit_unavailable(app.audit.path(), why);
            let serde_json::Value::Object(extra) = serde_json::json!({
                "status": "audit_unavailable",
                "run": snap.seq(),
                "latest_date": latest,
                "audit": "failing",
                "audit_log": app.audit.path().display().to_string(),
            }) else {
                unreachable!("an object")
            };
            e.extra = Some(extra);
            Err(e)
        }
    };
    req.finish(outcome)
}

async fn openapi_doc(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    let req = Request::new(ctx);
    let outcome = openapi::document()
        .map(|text| Reply::Full {
            body: text.into_bytes(),
            content_type: "application/json",
            headers: vec![],
            rows: None,
        })
        .map_err(unavailable);
    req.finish(outcome)
}

async fn root(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    let req = Request::new(ctx);
    let body = serde_json::json!({ "service": "xueji serve：学籍数据接口 / registration data API", "openapi": "/openapi.json", "lists": "/v1/lists" });
    req.finish(Ok(Reply::Full {
        body: body.to_string().into_bytes(),
        content_type: "application/json",
        headers: vec![],
        rows: None,
    }))
}

async fn not_found(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    // The path as audited: cut to a bound, so a long one is not sent back whole.
    let path = ctx.path.clone();
    Request::new(ctx).finish(Err(err(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("没有这个地址：{path}；接口说明见 /openapi.json"),
        format!("no route {path}; see /openapi.json"),
    )))
}

/// Run until Ctrl-C.
pub async fn serve(o: &ServeOptions, limits: &Limits) -> Result<()> {
    let server = start_with(o, limits).await?;
    let scheme = if limits.tls.is_some() { "https" } else { "http" };
    println!(
        "xueji serve 正在监听 {scheme}://{}（仓库 {}，审计日志 {}）/ listening",
        server.addr,
        o.warehouse,
        o.audit.display()
    );
    println!(
        "接口说明 / API: {scheme}://{}/openapi.json；按 Ctrl-C 停止",
        server.addr
    );
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

/// A query string's (name, value) pairs, decoded.
type QueryPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A query string's parameters, each one of `allowed` and given once (400 otherwise).
fn query_params<'a>(query: &'a str, allowed: &[&str]) -> Result<QueryPairs<'a>, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
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
        out.push((k, v));
    }
    Ok(out)
}
