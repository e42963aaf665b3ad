//! The OpenAPI 3.1 document of `xueji serve`, made from the list table and the schema files, so
//! that the served document, the checked-in `docs/openapi.json` (a test compares them) and the
//! server cannot drift apart.

use anyhow::Result;
use serde_json::{Value, json};

use super::{LISTS, output::Format};
use crate::models::{OutType, out_schema};

fn json_type(t: OutType) -> Value {
    match t {
        OutType::Utf8 => json!({ "type": ["string", "null"] }),
        OutType::Int64 => json!({ "type": ["integer", "null"], "format": "int64" }),
        OutType::Float64 => json!({ "type": ["number", "null"] }),
        OutType::Date => json!({ "type": ["string", "null"], "format": "date" }),
        OutType::Bool => json!({ "type": ["boolean", "null"] }),
    }
}

fn param(name: &str, required: bool, schema: Value, zh: &str) -> Value {
    json!({ "name": name, "in": "query", "required": required, "schema": schema, "description": zh })
}

fn error_responses() -> Value {
    let e = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        "400": e("参数错误（中英文说明）/ bad parameters"),
        "401": e("缺少、无效或过期的令牌 / missing, invalid or expired token"),
        "403": e("清单未授权，或筛选条件超出管辖范围（管辖范围外的学校与不存在的学校同样回答）/ list not granted, or a filter outside the jurisdiction (an unknown school is answered alike)"),
        "404": e("没有该清单、学校或日期 / no such list, school or date"),
        "503": e("仓库暂时无法读取，或审计日志无法写入（此时不提供数据），或 Excel 文件排队已满；可重试 / the warehouse could not be read, the audit log cannot be written (no data is served unaudited), or workbooks are queued; retry"),
    })
}

fn list_parameters(changes: bool) -> Vec<Value> {
    let mut v = vec![
        json!({ "name": "list", "in": "path", "required": true, "schema": { "$ref": "#/components/schemas/ListName" } }),
    ];
    if changes {
        v.push(param(
            "since",
            true,
            json!({ "type": "string", "format": "date" }),
            "与这一天（或之前最近一次运行）的名单比较 / compare with the list as of this date",
        ));
    }
    v.extend([
        param("date", false, json!({ "type": "string", "format": "date" }), "快照日期：这一天或之前最近一次运行；默认最近一次 / snapshot date: the latest run on or before it; default the latest"),
        param("region", false, json!({ "type": "string", "pattern": "^([0-9]{2}|[0-9]{4}|[0-9]{6})$" }), "只看这个省、地市或区县（在令牌的管辖范围内）/ only this province, city or county, inside the jurisdiction"),
        param("school", false, json!({ "type": "string", "pattern": "^[0-9]{10}$" }), "只看这所学校 / only this school"),
        param("format", false, json!({ "type": "string", "enum": Format::NAMES, "default": "json" }), "输出格式 / output format"),
        param("encoding", false, json!({ "type": "string", "enum": ["utf-8", "gbk"], "default": "utf-8" }), "CSV 的编码：utf-8（带 BOM，Excel 可直接打开）或 gbk（按 GB18030 编码，生僻字不丢）/ CSV encoding"),
        param("header", false, json!({ "type": "string", "enum": ["name", "label"], "default": "name" }), "CSV 表头用英文列名或中文标签 / CSV header: column names or Chinese labels"),
        param("limit", false, json!({ "type": "integer", "minimum": 1, "maximum": super::MAX_PAGE }), "分页：每页行数；不给则整表流式输出 / page size; without it the whole list streams"),
        param("offset", false, json!({ "type": "integer", "minimum": 0, "maximum": super::MAX_OFFSET, "default": 0 }), "分页：跳过的行数（见响应头 X-Xueji-Next-Offset）/ rows to skip"),
    ]);
    v
}

fn rows_response(changes: bool) -> Value {
    let one_of: Vec<Value> = LISTS
        .iter()
        .filter(|l| l.pupils || !changes)
        .map(|l| json!({ "$ref": format!("#/components/schemas/{}", l.name) }))
        .collect();
    let items = if changes {
        json!({ "allOf": [{ "type": "object", "properties": { "change": { "type": "string", "enum": ["entered", "left"] } } }, { "oneOf": one_of }] })
    } else {
        json!({ "oneOf": one_of })
    };
    let headers = json!({
        "X-Xueji-Snapshot-Date": { "description": "返回数据的快照日期 / the snapshot date served", "schema": { "type": "string", "format": "date" } },
        "X-Xueji-Run": { "description": "模型运行序号 / the model run served", "schema": { "type": "integer" } },
        "X-Xueji-Masked": { "description": "证件号、出生日期、电话、住址是否已遮蔽 / whether ID numbers, birth dates, phones and addresses are masked", "schema": { "type": "boolean" } },
        "X-Xueji-Next-Offset": { "description": "分页时下一页的 offset / the next page's offset", "schema": { "type": "integer" } },
    });
    json!({
        "description": if changes { "变动名单：change = entered（新进入）或 left（已离开），其余列同清单 / who entered and who left" } else { "清单的行，按所有列排序 / the list's rows, ordered by every column" },
        "headers": headers,
        "content": {
            "application/json": { "schema": {
                "type": "object",
                "properties": {
                    "list": { "type": "string" }, "snapshot_date": { "type": "string", "format": "date" }, "masked": { "type": "boolean" },
                    "columns": { "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string" }, "label": { "type": "string" } } } },
                    "rows": { "type": "array", "items": items },
                    "next_offset": { "type": "integer" }, "row_count": { "type": "integer" }
                }
            } },
            "application/x-ndjson": { "schema": { "type": "string", "description": "每行一个 JSON 对象 / one JSON object per line" } },
            "text/csv": { "schema": { "type": "string" } },
            "application/vnd.apache.parquet": { "schema": { "type": "string", "format": "binary" } },
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } }
        }
    })
}

/// The document, as served at `/openapi.json` and checked in as `docs/openapi.json`.
pub fn document() -> Result<String> {
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "ListName".into(),
        json!({ "type": "string", "enum": LISTS.iter().map(|l| l.name).collect::<Vec<_>>() }),
    );
    schemas.insert("Error".into(), json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": { "type": "object", "required": ["code", "message", "message_en"], "properties": {
            "code": { "type": "string" }, "message": { "type": "string", "description": "中文说明" }, "message_en": { "type": "string" } } } }
    }));
    for l in LISTS {
        let s = out_schema(l.name)?;
        let mut props = serde_json::Map::new();
        for c in &s.columns {
            // A masked column is served as text whatever its type (a birth date as `2012-**-**`).
            let mut t = json_type(if c.mask.is_some() { OutType::Utf8 } else { c.col_type });
            let masked = if c.mask.is_some() {
                "；默认遮蔽 / masked unless the token's grant lifts it"
            } else {
                ""
            };
            t["description"] = format!("{}{masked}", c.label).into();
            props.insert(c.name.clone(), t);
        }
        schemas.insert(
            l.name.into(),
            json!({ "type": "object", "title": s.table.label, "description": s.table.grain, "properties": props }),
        );
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xueji serve：学籍数据接口 / registration data API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "资助、营养改善计划实名制系统和数据看板按令牌拉取名单与统计。令牌绑定管辖范围（省、地市、区县或学校）和可读清单；请求只能看到管辖范围内的行；证件号、出生日期、电话、住址默认遮蔽；每个请求都记入审计日志。全国学籍查询（/v1/lookup，须单独授权 lookup）按种子文档对范围外的学籍也显示所在省份与状态，不显示学校。\n\nSubsidy systems and dashboards pull lists and statistics with a token bound to a jurisdiction and a set of lists; rows outside the jurisdiction are never returned; ID numbers, birth dates, phones and addresses are masked unless granted; every request is audited. The national lookup (/v1/lookup, granted as lookup) shows the province and status of a registration outside the jurisdiction too, never its school."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "Authorization: Bearer <令牌>（Bearer 不分大小写），令牌由 xueji token 生成 / made by xueji token; the scheme in any case" } },
            "schemas": schemas
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/healthz": { "get": { "summary": "服务状态 / health", "security": [], "responses": {
                "200": { "description": "当前提供的模型运行 / the run being served" },
                "503": { "description": "审计日志无法写入，暂停提供数据；error 中说明原因 / the audit log cannot be written, so no data is served; error says why", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            } } },
            "/openapi.json": { "get": { "summary": "本文档 / this document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/v1/lists": { "get": {
                "summary": "令牌可读的清单、列、中文标签和可用日期 / the lists a token may read",
                "responses": { "200": { "description": "清单目录 / catalog", "content": { "application/json": { "schema": { "type": "object" } } } }, "401": error_responses()["401"] }
            } },
            "/v1/lists/{list}": { "get": {
                "summary": "清单的行（管辖范围内）/ a list's rows inside the jurisdiction",
                "parameters": list_parameters(false),
                "responses": merge(json!({ "200": rows_response(false) }), error_responses())
            } },
            "/v1/lists/{list}/changes": { "get": {
                "summary": "两次快照之间新进入和已离开名单的学生（仅学生名单）/ pupils who entered or left a list between two nights",
                "parameters": list_parameters(true),
                "responses": merge(json!({ "200": rows_response(true) }), error_responses())
            } },
            "/v1/lookup": lookup_path()
        }
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

/// `/v1/lookup`: 全国学籍查询, by query parameters (GET) or a JSON body (POST).
fn lookup_path() -> Value {
    let text = |d: &str| json!({ "type": "string", "description": d });
    let (name, id, no, date) = (
        "学生姓名，须与学籍完全一致（前后空格与姓名中的空格不计）/ the pupil's name, exactly as registered",
        "身份证件号，须完全一致（末位校验码 X 不分大小写）；与 registration_no 二选一 / the ID number, exact (X in either case); or registration_no",
        "全国学籍号（19 位：G、J 或 L 加 18 位），须完全一致；与 id_number 二选一 / the 19-character 学籍号, exact; or id_number",
        "按这一天或之前最近一次模型运行的学籍状态查询；默认最近一次 / the registration status of the latest run on or before this date; default the latest",
    );
    let registration = json!({
        "type": "object",
        "properties": {
            "name": text("姓名（遮蔽，如 张*涵）/ name, masked"),
            "registration_no": text("全国学籍号（遮蔽）/ 学籍号, masked"),
            "id_number": text("身份证件号（遮蔽，只留前 6 位）/ ID number, masked"),
            "province_code": { "type": ["string", "null"] },
            "province_name": { "type": ["string", "null"], "description": "所在省份 / province" },
            "county_code": { "type": ["string", "null"], "description": "学校属地区县（管辖范围外为 null）/ the school's county; null outside the jurisdiction" },
            "school_id": { "type": ["string", "null"], "description": "学校标识码（管辖范围外为 null）/ null outside the jurisdiction" },
            "school_name": { "type": ["string", "null"], "description": "学校名称（管辖范围外为 null）/ null outside the jurisdiction" },
            "stage": { "type": ["string", "null"], "description": "就读学段：小学、初中、高中 / stage" },
            "grade": { "type": ["string", "null"], "description": "年级（管辖范围外为 null）/ grade; null outside the jurisdiction" },
            "status": { "type": ["string", "null"], "description": "就读状态：在校、休学、转出、毕业等 / status" },
            "problem": { "type": "boolean", "description": "是否问题学籍（未解决的查重问题）/ an unresolved problem registration" },
            "problem_kinds": { "type": "array", "items": { "type": "string" }, "description": "问题类别与处理状态 / kinds and states" },
            "changed_on": { "type": "string", "format": "date", "description": "学籍记录最近一次变化的导入日期 / the night the record last changed" },
            "status_since": { "type": ["string", "null"], "format": "date", "description": "决定状态的异动日期 / the date of the movement that decided the status" },
            "latest_change": { "type": "string", "format": "date", "description": "最新学籍变动时间 / the latest change" },
            "in_jurisdiction": { "type": "boolean", "description": "是否在令牌管辖范围内；范围外只显示省份、学段、状态、是否问题学籍与变动时间 / inside the token's jurisdiction; outside it only province, stage, status, problem and date are shown" }
        }
    });
    let ok = json!({
        "description": "查询结果（未查到时 found 为 0）/ the registrations found (found = 0 when none)",
        "headers": { "X-Xueji-Snapshot-Date": { "description": "查询所用的快照日期 / the snapshot date read", "schema": { "type": "string", "format": "date" } } },
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": {
                "snapshot_date": { "type": "string", "format": "date" }, "masked": { "type": "boolean" },
                "query": { "type": "object", "description": "查询条件（遮蔽）/ the query, masked" },
                "found": { "type": "integer" }, "message": { "type": "string" },
                "registrations": { "type": "array", "items": registration }
            }
        } } }
    });
    let mut errors = error_responses();
    errors["403"] = json!({ "description": "令牌未授权 lookup（* 不含全国学籍查询）/ the token is not granted lookup (* does not include it)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    errors["404"] = json!({ "description": "学籍状态还没有运行过，或所给日期及以前没有 / no registration status yet, or none on or before the date", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    errors["429"] = json!({ "description": "查询过于频繁（每个令牌每分钟的上限见 --lookups-per-minute）；见 Retry-After / too many lookups a minute; see Retry-After", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let responses = merge(json!({ "200": ok }), errors);
    let about = "全国学籍查询（种子文档 001 第16章）：输入姓名和身份证件号，或姓名和全国学籍号，查询学籍所在省份、学段、状态、是否问题学籍与最新学籍变动时间；管辖范围内的学籍另有学校与年级。完全一致才算查到，不做模糊或部分匹配；姓名、证件号、学籍号总是遮蔽；每次查询记入审计日志（证件号遮蔽），每个令牌每分钟有上限。证件号不宜出现在地址中：请优先用 POST。\n\nNational registration lookup by name and ID number, or name and 学籍号: province, stage, status, problem flag and latest change for every registration found, school and grade too inside the token's jurisdiction. Exact matches only; the identity is always masked; every call is audited with the ID number masked; rate-limited per token. Prefer POST, which keeps the ID number out of URLs.";
    json!({
        "get": {
            "summary": "全国学籍查询（地址参数）/ national registration lookup (query parameters)",
            "description": about,
            "parameters": [
                param("name", true, json!({ "type": "string" }), name),
                param("id_number", false, json!({ "type": "string" }), id),
                param("registration_no", false, json!({ "type": "string", "pattern": "^[GJLgjl][0-9]{17}[0-9Xx]$" }), no),
                param("date", false, json!({ "type": "string", "format": "date" }), date)
            ],
            "responses": responses.clone()
        },
        "post": {
            "summary": "全国学籍查询（JSON 请求体，证件号不进地址）/ national registration lookup (JSON body, no ID number in the URL)",
            "description": about,
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": false,
                "properties": { "name": text(name), "id_number": text(id), "registration_no": text(no), "date": { "type": "string", "format": "date", "description": date } }
            } } } },
            "responses": responses
        }
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
