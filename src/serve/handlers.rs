//! The handlers: a list query streamed or paged, changes between two nights, the catalogue,
//! health, the API document; the request they serve (its grant from `authorize`, its admission),
//! the replies they build and how a list's columns are shown (`shape_of`).

use super::*;

/// What a handler answers. One per request: the streamed variant's size does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Reply {
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
pub(super) struct Served {
    pub(super) list: Option<String>,
    pub(super) date: Option<NaiveDate>,
    pub(super) masked: Option<bool>,
    pub(super) lookup: Option<serde_json::Value>,
}

/// A request being answered by a handler.
pub(super) struct Request {
    pub(super) ctx: Arc<Ctx>,
    pub(super) grant: Option<Grant>,
    pub(super) served: Served,
}

impl Request {
    pub(super) fn new(ctx: Arc<Ctx>) -> Self {
        Request {
            ctx,
            grant: None,
            served: Served::default(),
        }
    }

    /// The grant of the request's token and the list it names, if that token may read it.
    pub(super) fn admit(
        &mut self,
        app: &App,
        headers: &HeaderMap,
        list: &str,
    ) -> Result<(Grant, &'static ServedList), ApiError> {
        let grant = authorize(app, headers)?;
        self.grant = Some(grant.clone());
        let l = served_list(list, &grant)?;
        self.served.list = Some(l.name.to_string());
        Ok((grant, l))
    }

    /// Tell the audit what was found out, and answer (the front writes the line before the
    /// response leaves).
    pub(super) fn finish(self, outcome: Result<Reply, ApiError>) -> Response {
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

pub(super) fn respond(body: Body, content_type: &'static str, headers: &[(&'static str, String)]) -> Response {
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
pub(super) fn authorize(app: &App, headers: &HeaderMap) -> Result<Grant, ApiError> {
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

/// How the response shows each column of a list: labels from its schema file, masks unless
/// the grant lifts them.
pub(super) fn shape_of(schema: &OutSchema, df_schema: &arrow::datatypes::Schema, unmask: bool) -> Shape {
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

pub(super) fn columns(schema: &OutSchema) -> Vec<String> {
    schema.columns.iter().map(|c| format!("\"{}\"", c.name)).collect()
}

/// Answer a list query: streamed, or one page when `limit` is given.
pub(super) async fn answer(
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

pub(super) async fn rows(
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
pub(super) async fn changes(
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
pub(super) async fn catalog(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
) -> Response {
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
pub(super) async fn health(State(app): State<Arc<App>>, Extension(ctx): Extension<Arc<Ctx>>) -> Response {
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

pub(super) async fn openapi_doc(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
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

pub(super) async fn root(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    let req = Request::new(ctx);
    let body = serde_json::json!({ "service": "xueji serve：学籍数据接口 / registration data API", "openapi": "/openapi.json", "lists": "/v1/lists" });
    req.finish(Ok(Reply::Full {
        body: body.to_string().into_bytes(),
        content_type: "application/json",
        headers: vec![],
        rows: None,
    }))
}

pub(super) async fn not_found(Extension(ctx): Extension<Arc<Ctx>>) -> Response {
    // The path as audited: cut to a bound, so a long one is not sent back whole.
    let path = ctx.path.clone();
    Request::new(ctx).finish(Err(err(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("没有这个地址：{path}；接口说明见 /openapi.json"),
        format!("no route {path}; see /openapi.json"),
    )))
}
