//! The API's errors: a status, a stable code and a message in Chinese and English.

use super::*;

/// Our error for a response axum made itself.
pub(super) fn refusal(ctx: &Ctx, res: &Response, allow: Option<&HeaderValue>) -> ApiError {
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
pub(super) fn audit_unavailable(path: &FsPath, why: impl std::fmt::Display) -> ApiError {
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
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) zh: String,
    pub(super) en: String,
    /// More fields of the body, beside `error`.
    pub(super) extra: Option<serde_json::Map<String, serde_json::Value>>,
}

pub(super) fn err(status: StatusCode, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        zh: zh.into(),
        en: en.into(),
        extra: None,
    }
}

pub(super) fn bad(code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, code, zh, en)
}

/// A failure of the server's own (the warehouse could not be read): 503, the request may be
/// retried; its detail goes to the log, not to the client.
pub(super) fn unavailable(e: impl std::fmt::Display) -> ApiError {
    eprintln!("错误 / error: {e}");
    err(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "服务暂时无法读取仓库，请稍后重试",
        "the warehouse could not be read; try again later",
    )
}

impl ApiError {
    pub(super) fn response(&self) -> Response {
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
