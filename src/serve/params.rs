//! A request's query parameters, checked, and what they select: the list, its run and date, and
//! the jurisdiction's conditions.

use super::*;

/// The query parameters of a list request.
pub(super) struct Params {
    pub(super) date: Option<NaiveDate>,
    pub(super) since: Option<NaiveDate>,
    pub(super) region: Option<String>,
    pub(super) school: Option<String>,
    pub(super) format: Format,
    pub(super) gbk: bool,
    pub(super) label_header: bool,
    pub(super) limit: Option<u64>,
    pub(super) offset: u64,
}

pub(super) fn params(query: &str, allowed: &[&str]) -> Result<Params, ApiError> {
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
pub(super) fn served_list(name: &str, grant: &Grant) -> Result<&'static ServedList, ApiError> {
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

pub(super) fn run_of<'a>(snap: &'a Snapshot, l: &ServedList) -> Result<&'a ModelRun, ApiError> {
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
pub(super) fn pick_date(list: &str, run: &ModelRun, want: Option<NaiveDate>) -> Result<NaiveDate, ApiError> {
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
pub(super) fn scope(snap: &Snapshot, grant: &Grant, p: &Params) -> Result<Vec<String>, ApiError> {
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

/// A query string's (name, value) pairs, decoded.
pub(super) type QueryPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A query string's parameters, each one of `allowed` and given once (400 otherwise).
pub(super) fn query_params<'a>(query: &'a str, allowed: &[&str]) -> Result<QueryPairs<'a>, ApiError> {
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
