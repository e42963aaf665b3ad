//! The deletion guard: registrations of submitted schools absent tonight are deleted unless a
//! school would lose more than the guard's share; pupils past graduation are set aside.

use super::*;

/// How many deletions a school may take in one night before they wait for a confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionGuard {
    /// Held when a night would delete more than this share of a school's registrations.
    pub max_share: f64,
    /// ... and at least this many (a small school's few leavers are never held).
    pub min_rows: u64,
    /// Schools whose deletions are let through tonight (`--confirm-deletions`).
    pub confirmed: Vec<String>,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            max_share: 0.2,
            min_rows: 10,
            confirmed: Vec::new(),
        }
    }
}

/// A school whose deletions tonight were held (待确认): its registrations stay as they were.
#[derive(Debug, Clone, Serialize)]
pub struct HeldDeletion {
    pub school_id: String,
    /// Registrations that tonight's files no longer hold (graduates apart).
    pub deletions: u64,
    /// Registrations the school had before tonight.
    pub previous: u64,
}

/// `gone`: the record keys to delete tonight: registrations of submitted schools that are absent
/// tonight, not when tonight's row was only rejected, nor of a school that would lose more than
/// the guard's share (one stray row of a school in another county's file must not delete the
/// school): those are returned, held until confirmed.
pub(super) async fn register_gone(
    ctx: &SessionContext,
    t: &TableSchema,
    date: NaiveDate,
    failed: &[String],
    guard: &DeletionGuard,
) -> Result<Vec<HeldDeletion>> {
    // Student base keys start with the school (`school|…`, see `ingest::base_key`).
    let sql = format!(
        "SELECT d.record_key, d.base_key, split_part(d.base_key, '|', 1) AS school_ FROM decisions d WHERE d.change = 'delete'
           AND NOT EXISTS (SELECT 1 FROM stg_findings f WHERE f.table_name = '{}' AND f.severity = '错误' AND f.base_key = d.base_key)",
        t.table.name
    );
    crate::warehouse::views::register_collected(ctx, "gone_all", &sql).await?;
    let mut candidates: BTreeMap<String, u64> = school_counts(
        ctx,
        &format!(
            "SELECT school_, COUNT(*) AS n FROM gone_all GROUP BY school_ HAVING COUNT(*) >= {} ORDER BY school_",
            guard.min_rows.max(1)
        ),
    )
    .await?
    .into_iter()
    .filter(|(school, _)| !guard.confirmed.iter().any(|c| c == school))
    .collect();
    let mut held = Vec::new();
    if let Some(scope_col) = &t.table.scope
        && !candidates.is_empty()
    {
        let list = candidates.keys().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
        let d = date.format("%Y-%m-%d").to_string();
        if t.table.name == "students" {
            graduates_aside(ctx, t, &d, failed, &list, guard.min_rows, &mut candidates).await?;
        }
        let counts = school_counts(
            ctx,
            &format!(
                "WITH {ctes} SELECT p.\"{scope_col}\", COUNT(*) FROM prev p WHERE p.\"{scope_col}\" IN ({list}) GROUP BY 1",
                ctes = change_ctes(t, &d, failed, None)
            ),
        )
        .await?;
        for (school_id, previous) in counts {
            let Some(&deletions) = candidates.get(&school_id) else {
                continue;
            };
            if deletions as f64 > guard.max_share * previous as f64 {
                held.push(HeldDeletion {
                    school_id,
                    deletions,
                    previous,
                });
            }
        }
        held.sort_by(|a, b| a.school_id.cmp(&b.school_id));
    }
    let held_list = if held.is_empty() {
        "''".to_string()
    } else {
        held.iter().map(|h| quote(&h.school_id)).collect::<Vec<_>>().join(", ")
    };
    crate::warehouse::views::register_collected(
        ctx,
        "gone",
        &format!("SELECT record_key, base_key FROM gone_all WHERE school_ NOT IN ({held_list})"),
    )
    .await?;
    ctx.deregister_table("gone_all")?;
    Ok(held)
}

/// Takes tonight's graduates out of the candidates' deletion counts: a school that stops listing
/// a class after the class's graduation (`graduation_date()` under the school's 学制) is not losing
/// registrations by mistake, and a junior school's graduates alone are a third of it. Schools
/// left with fewer than `min_rows` other deletions are no longer candidates.
pub(super) async fn graduates_aside(
    ctx: &SessionContext,
    t: &TableSchema,
    d: &str,
    failed: &[String],
    list: &str,
    min_rows: u64,
    candidates: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let graduated = format!(
        "COALESCE(graduation_date(p.class_code, p.enrol_month, CASE WHEN ff.school_id IS NULL THEN '六三制' ELSE '五四制' END)
           <= DATE '{d}', false)"
    );
    let others = school_counts(
        ctx,
        &format!(
            "WITH {ctes} SELECT g.school_, COUNT(*) FROM gone_all g JOIN prev p ON p.record_key = g.record_key
             LEFT JOIN five_four ff ON ff.school_id = p.school_id
             WHERE g.school_ IN ({list}) AND NOT {graduated} GROUP BY 1",
            ctes = change_ctes(t, d, failed, None)
        ),
    )
    .await?;
    *candidates = others.into_iter().filter(|(_, n)| *n >= min_rows.max(1)).collect();
    Ok(())
}

/// (school, count) rows of a `SELECT school, COUNT(*) …` statement.
pub(super) async fn school_counts(ctx: &SessionContext, sql: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for b in ctx.sql(sql).await?.collect().await? {
        let (school, n) = (
            crate::warehouse::strings(b.column(0))?,
            b.column(1).as_any().downcast_ref::<Int64Array>().context("count")?,
        );
        out.extend((0..b.num_rows()).map(|i| (school.value(i).to_string(), n.value(i) as u64)));
    }
    Ok(out)
}
