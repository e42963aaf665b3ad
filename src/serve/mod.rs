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
mod error;
mod handlers;
mod lists;
mod lookup;
mod net;
pub mod openapi;
mod output;
mod params;

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

use error::*;
use handlers::*;
pub use lists::{LISTS, ServedList};
use params::*;

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
