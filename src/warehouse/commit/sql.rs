//! The SQL a night's commit runs for each table: the change CTEs (tonight's rows against the
//! previous state, by bucket), the kept rows and the decisions insert / update / delete.

use super::*;

/// `key_bucket` conditions on `alias.base_key` for bucket (b, n); none without a bucket. A record
/// key is its base key and a number, so every side of a bucket holds the same records.
pub(super) fn in_bucket(alias: &str, bucket: Option<(u64, u64)>) -> String {
    bucket.map_or_else(String::new, |(b, n)| {
        format!(" AND key_bucket({alias}.base_key, {n}) = {b}")
    })
}

/// The CTEs of tonight's comparison: `new` (tonight's rows with their record keys) and `prev`
/// (the committed state before tonight), both within `bucket`.
///
/// Record keys number the rows of one base key in file and row order. Only the few base keys
/// that repeat tonight (`dups`, collected beforehand) need the window; the rest are `#1`. A
/// window partitioned by base key over every row would cut each batch into one slice per row.
/// The previous state is the log less what later changes superseded, as in the views.
pub(super) fn change_ctes(t: &TableSchema, d: &str, failed: &[String], bucket: Option<(u64, u64)>) -> String {
    format!(
        "stg_ AS (SELECT * FROM stg s WHERE {kept}{in_s}),
         new AS (
            SELECT s.*, s.base_key || '#1' AS record_key
            FROM stg_ s WHERE NOT EXISTS (SELECT 1 FROM dups d WHERE d.base_key = s.base_key)
            UNION ALL
            SELECT s.*, s.base_key || '#' || CAST(ROW_NUMBER() OVER (PARTITION BY s.base_key ORDER BY s.source_file, s.source_row) AS VARCHAR) AS record_key
            FROM stg_ s WHERE EXISTS (SELECT 1 FROM dups d WHERE d.base_key = s.base_key)
         ),
         prev AS (
            SELECT l.* FROM prev_log l
            WHERE l.snapshot_date < DATE '{d}' AND l.change <> 'delete'{in_l}
              AND NOT EXISTS (SELECT 1 FROM prev_superseded_ x WHERE x.k_ = l.record_key AND x.d_ = l.snapshot_date)
         )",
        kept = kept_rows(t, failed),
        in_s = in_bucket("s", bucket),
        in_l = in_bucket("l", bucket),
    )
}

/// The condition on a staged row `s` of `t` that keeps it in tonight's commit: not from a file
/// refused at file level, nor a school's rows from a second file (`held_out`, see
/// [`crate::ingest::HeldOut`]).
pub(super) fn kept_rows(t: &TableSchema, failed: &[String]) -> String {
    let mut c = format!("s.source_file NOT IN ({})", failed_list(failed));
    if t.table.name == "students" {
        c.push_str(" AND NOT EXISTS (SELECT 1 FROM held_out h WHERE h.source_file = s.source_file AND h.school_id = s.school_id)");
    }
    c
}

/// Tonight's decisions within `bucket`, from keys and row hashes alone: a staged row that is new
/// (`insert`) or differs from its previous row (`update`), and a previous record that no row
/// tonight has (`delete`; a candidate only: [`register_gone`] keeps those of submitted schools).
/// Each bucket's full join holds one side's keys in a hash table, which cannot spill: the buckets
/// keep that table within the memory pool.
pub(super) fn decisions_sql(t: &TableSchema, date: NaiveDate, failed: &[String], bucket: Option<(u64, u64)>) -> String {
    let d = date.format("%Y-%m-%d").to_string();
    // A previous record is in scope when its school (say) submitted tonight; the flag comes from
    // a join with the small `scope` table, as a subquery cannot sit inside the OR below.
    let (in_scope, scope_join) = match &t.table.scope {
        Some(c) => (
            "sc.v_ IS NOT NULL".to_string(),
            format!("LEFT JOIN (SELECT school_id AS v_ FROM scope) sc ON p.\"{c}\" = sc.v_"),
        ),
        None => ("FALSE".to_string(), String::new()),
    };
    format!(
        "WITH {ctes},
         prev_ AS (SELECT p.record_key, p.base_key, p.row_hash, {in_scope} AS in_scope_ FROM prev p {scope_join})
         SELECT n.source_file, n.source_row, COALESCE(n.record_key, p.record_key) AS record_key, COALESCE(n.base_key, p.base_key) AS base_key,
                CASE WHEN p.record_key IS NULL THEN 'insert' WHEN n.record_key IS NULL THEN 'delete' ELSE 'update' END AS change
         FROM new n FULL JOIN prev_ p ON n.record_key = p.record_key
         WHERE p.record_key IS NULL OR (n.record_key IS NULL AND p.in_scope_) OR (n.record_key IS NOT NULL AND p.row_hash <> n.row_hash)",
        ctes = change_ctes(t, &d, failed, bucket)
    )
}

pub(super) fn decisions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, true),
        Field::new("source_row", DataType::Int64, true),
        Field::new("record_key", DataType::Utf8, true),
        Field::new("base_key", DataType::Utf8, true),
        Field::new("change", DataType::Utf8, true),
    ]))
}

/// The change-log rows of one history table within `bucket`: the whole staged rows that
/// `decisions` inserts or updates (`changed_keys`), and the whole previous rows of `gone`. With
/// `first_night` there is no previous state, and every row tonight is an insert, uncompared.
pub(super) fn change_sql(
    t: &TableSchema,
    date: NaiveDate,
    failed: &[String],
    bucket: Option<(u64, u64)>,
    first_night: bool,
) -> String {
    let data: Vec<String> = t.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let data_of = |alias: &str| {
        data.iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let d = date.format("%Y-%m-%d").to_string();
    if first_night {
        return format!(
            "WITH {ctes}
             SELECT {data_n}, n.record_key, 'insert' AS change, n.base_key, n.row_hash, n.source_file, n.source_row, DATE '{d}' AS snapshot_date FROM new n",
            ctes = change_ctes(t, &d, failed, bucket),
            data_n = data_of("n")
        );
    }
    // `gone` on the build side of an inner join (its keys are unique): as a semi-join the planner,
    // knowing no size of `prev`, would hold whole previous rows in the hash table instead.
    let deleted = if t.table.scope.is_some() {
        format!(
            "UNION ALL
             SELECT {data_p}, p.record_key, 'delete' AS change, p.base_key, p.row_hash, p.source_file, p.source_row, DATE '{d}' AS snapshot_date
             FROM gone g JOIN prev p ON g.record_key = p.record_key{in_g}",
            data_p = data_of("p"),
            in_g = in_bucket("g", bucket),
        )
    } else {
        String::new()
    };
    format!(
        "WITH {ctes}
         SELECT {data_s}, x.record_key, x.change, s.base_key, s.row_hash, s.source_file, s.source_row, DATE '{d}' AS snapshot_date
         FROM changed_keys x JOIN stg s ON s.source_file = x.source_file AND s.source_row = x.source_row
         WHERE TRUE{in_s}{in_x}
         {deleted}",
        ctes = change_ctes(t, &d, failed, bucket),
        data_s = data_of("s"),
        in_s = in_bucket("s", bucket),
        in_x = in_bucket("x", bucket),
    )
}
