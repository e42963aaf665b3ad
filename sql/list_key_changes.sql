-- model:  list_key_changes
-- inputs: students, students_log, key_change_requests, dedup_decisions, school_regions
-- schema: list_key_changes
-- grain:  一个学籍一个关键字段的一次变更 / one change of one key field of one registration
--
-- 关键数据变更 (seed 000 七, 002, 003): 姓名 and 身份证件号 change only through a request that the
-- school files and its 主管教育局 approves (seed 002: "县级学籍主管部门核办后,重新进行全国查重和身份
-- 比对"). Every change of a key field between a registration's state on one night and on the next
-- night it changed (students_log up to the as-of date: earlier nights' changes stay listed), matched
-- to a request of the same school, 学籍号, field and new value (key_change_requests as of the date):
--   有审批        approved by the bureau on or before the night the change was seen;
--   先变更后审批  approved by the bureau, but only after the night the change was seen;
--   待审核        the request awaits review, or only the school has approved it;
--   审核不通过    the bureau refused it, yet the data hold the new value;
--   无审批变更    no request (or only a withdrawn one): what the bureau must investigate.
-- A change made by a school's 变更 of a 身份证件号错误 problem registration (dedup_decisions, filed
-- after the registration's previous state and on or before the night the change was seen) is bounded by the kind of error (seed 002: "如果问题学籍
-- 提示的错误类型为“身份证件号不存在”的,则只能申请变更身份证件号;如果…为“身份证件号与姓名不匹配”的,
-- 则只能申请变更身份证件号和姓名"): a 姓名 change under 身份证件号不存在 (or the generic 身份证件号
-- 错误: the defects xueji sees offline are numbers that cannot exist) is 超出问题学籍变更范围; a
-- change the 变更 allows, approved by the county and without an approved request, is 问题学籍变更.
-- Besides, a request awaiting review or refused whose new value the registration already holds,
-- with no change seen (the value was there on the first night), is listed without a date.
-- ID numbers compare normalised (spaces, full-width digits, a lower-case x). A registration is
-- followed by its record key (school + 学籍号): one sent without a 学籍号 cannot be followed.
-- Values are stored masked as lists that leave the school show them (身份证件号: the region only):
-- the list pairs an old and a new number, and dashboards read the mart directly. The new number is
-- the registration's number like any other, so the dedup models, which read today's students,
-- check it again the same night (seed 000 七: "系统会将该学生变更后的信息再次进行查重").
WITH asof AS (
    SELECT as_of_date AS d FROM students LIMIT 1
),
history AS (
    -- Only registrations with a row besides their first insert can have changed. LAG looks back
    -- only, so the nights after the as-of date, read here, change nothing before it.
    SELECT l.record_key, l.school_id, l.registration_no, l.change, l.snapshot_date, l.name, l.id_number,
           LAG(l.name) OVER w AS prev_name,
           LAG(l.id_number) OVER w AS prev_id_number,
           LAG(l.snapshot_date) OVER w AS prev_date,
           ROW_NUMBER() OVER w AS n_
    FROM students_log l
    WHERE l.record_key IN (SELECT x.record_key FROM students_log x WHERE x.change <> 'insert')
    WINDOW w AS (PARTITION BY l.record_key ORDER BY l.snapshot_date)
),
changes AS (
    SELECT record_key, school_id, registration_no, snapshot_date AS changed_on, prev_date, name,
           '姓名' AS field, prev_name AS old_raw, name AS new_raw, name AS new_key
    FROM history
    WHERE n_ > 1 AND change <> 'delete' AND COALESCE(prev_name, '') <> COALESCE(name, '')
    UNION ALL
    SELECT record_key, school_id, registration_no, snapshot_date AS changed_on, prev_date, name,
           '身份证件号' AS field, prev_id_number AS old_raw, id_number AS new_raw, id_normalise(id_number) AS new_key
    FROM history
    WHERE n_ > 1 AND change <> 'delete'
      AND COALESCE(id_normalise(prev_id_number), '') <> COALESCE(id_normalise(id_number), '')
),
requests AS (
    SELECT request_id, school_id, registration_no, field, old_value, apply_date, status, review_unit, review_date,
           CASE WHEN field = '身份证件号' THEN id_normalise(new_value)
                ELSE replace(replace(new_value, ' ', ''), '　', '') END AS new_key,
           -- Only the bureau's 审核通过 approves (seed 002: 县级学籍主管部门核办); the school's is a step.
           status = '审核通过' AND COALESCE(review_unit, '') <> '学校' AS approved
    FROM key_change_requests
),
joined AS (
    -- Key-field changes are rare: a few per school a night at most. The preference is a column
    -- of its own: a CASE inside the window's ORDER BY fails DataFusion's plan check.
    SELECT c.*, q.request_id, q.status AS request_status, q.review_unit, q.apply_date, q.review_date,
           COALESCE(q.approved, FALSE) AS approved,
           CASE WHEN q.approved AND COALESCE(q.review_date, q.apply_date) <= c.changed_on THEN 0
                WHEN q.approved THEN 1
                WHEN q.status = '审核不通过' THEN 3
                WHEN q.status = '已撤销' THEN 4
                WHEN q.request_id IS NOT NULL THEN 2
                ELSE 5 END AS pref_
    FROM changes c
    CROSS JOIN asof a
    LEFT JOIN requests q
      ON q.school_id = c.school_id AND q.registration_no = c.registration_no
     AND q.field = c.field AND q.new_key = c.new_key
    WHERE c.changed_on <= a.d
),
fixes AS (
    -- The 变更 applications of 身份证件号错误 registrations.
    SELECT decision_id, school_id, registration_no, problem_kind AS fix_kind, apply_date AS fix_date,
           county_decision = '同意' AS fix_approved
    FROM dedup_decisions
    WHERE action = '变更' AND problem_kind IN ('身份证件号错误', '身份证件号不存在', '身份证件号与姓名不匹配')
),
matched AS (
    SELECT j.*,
           ROW_NUMBER() OVER (PARTITION BY j.record_key, j.field, j.changed_on
                              ORDER BY j.pref_, j.apply_date DESC, j.request_id DESC) AS rank_
    FROM joined j
),
already AS (
    SELECT s.school_id, s.registration_no, s.name, q.field, q.old_value AS old_raw,
           CASE WHEN q.field = '身份证件号' THEN s.id_number ELSE s.name END AS new_raw,
           q.request_id, q.status AS request_status, q.review_unit, q.apply_date, q.review_date
    FROM requests q
    JOIN students s ON s.school_id = q.school_id AND s.registration_no = q.registration_no
    WHERE NOT q.approved AND q.status <> '已撤销'
      AND q.new_key = CASE WHEN q.field = '身份证件号' THEN id_normalise(s.id_number) ELSE s.name END
      AND NOT EXISTS (SELECT 1 FROM matched m WHERE m.request_id = q.request_id)
),
listed AS (
    SELECT school_id, registration_no, name, field, old_raw, new_raw, changed_on,
           CASE WHEN approved AND COALESCE(review_date, apply_date) <= changed_on THEN '有审批'
                WHEN fix_date IS NOT NULL AND field = '姓名' AND fix_kind <> '身份证件号与姓名不匹配'
                     THEN '超出问题学籍变更范围'
                WHEN fix_date IS NOT NULL AND fix_approved THEN '问题学籍变更'
                WHEN request_id IS NULL OR request_status = '已撤销' THEN '无审批变更'
                WHEN approved THEN '先变更后审批'
                WHEN request_status = '审核不通过' THEN '审核不通过'
                ELSE '待审核' END AS approval,
           request_id, request_status, review_unit, apply_date, review_date
    -- A change is the 变更 of the latest application filed since the registration's previous
    -- state (and on or before the night the change was seen): an earlier 变更 covers no later change.
    FROM (SELECT m.*, f.fix_kind, f.fix_date, f.fix_approved,
                 ROW_NUMBER() OVER (PARTITION BY m.record_key, m.field, m.changed_on
                                    ORDER BY f.fix_date DESC NULLS LAST, f.decision_id DESC NULLS LAST) AS fix_rank_
          FROM matched m
          LEFT JOIN fixes f
            ON f.school_id = m.school_id AND f.registration_no = m.registration_no
           AND f.fix_date <= m.changed_on AND f.fix_date >= m.prev_date
          WHERE m.rank_ = 1)
    WHERE fix_rank_ = 1
    UNION ALL
    SELECT school_id, registration_no, name, field, old_raw, new_raw, CAST(NULL AS DATE) AS changed_on,
           CASE WHEN request_status = '审核不通过' THEN '审核不通过' ELSE '待审核' END AS approval,
           request_id, request_status, review_unit, apply_date, review_date
    FROM already
)
SELECT r.county_code,
       r.county_name,
       x.school_id,
       r.school_name,
       x.registration_no,
       x.name,
       x.field,
       CASE WHEN x.field = '身份证件号' THEN mask_id(x.old_raw) ELSE x.old_raw END AS old_value,
       CASE WHEN x.field = '身份证件号' THEN mask_id(x.new_raw) ELSE x.new_raw END AS new_value,
       x.changed_on,
       x.approval,
       x.approval NOT IN ('有审批', '问题学籍变更') AS needs_review,
       x.request_id,
       x.request_status,
       x.review_unit,
       x.apply_date,
       x.review_date
FROM listed x
LEFT JOIN school_regions r ON r.school_id = x.school_id
