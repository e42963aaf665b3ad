-- model:  dedup_members
-- inputs: students, students_log, schools, movements, dedup_decisions, dedup_decisions_log
-- schema: dedup_members
-- grain:  一个问题组中的一条学籍 / one registration in one problem group
--
-- The three official kinds of 问题学籍 (DOMAIN.md §问题学籍):
--   1 身份证件号重复: one ID number (compared after normalising spaces, full-width digits and x)
--     on two or more registrations, whatever the ID type;
--   2 姓名性别出生日期重复: two or more registrations without an ID number with the same name,
--     gender and birth date;
--   3 身份证件号错误: a resident ID number with a defect seen offline (id_check), one group each.
--
-- Decisions (dedup_decisions: a school's latest application for a registration and kind, with
-- the county's review and any arbitration) give each member its state:
--   - kind 3 allows 变更 and 删除 only (a 佐证 is 处理方式不允许, whatever the county said);
--   - a 删除 passes without review (seed 000 六: "系统自动审核通过"; the county only sees it);
--   - N−1: when all members but one are changed or deleted with approval, the last one is
--     attested automatically (自动佐证通过);
--   - an approved 佐证 of kind 2 passes (all may pass); of kind 1 it passes when it is the only
--     one; within one county only the first the county approves passes, and another 佐证 of
--     the group, approved later or awaiting review, fails by itself (自动不通过, seed 002); when
--     two or more are approved across counties, the lowest common superior arbitrates and only
--     the one it approves passes (仲裁通过 / 仲裁未通过, 待上级仲裁 until it has decided);
--   - a group of two registrations in two schools between which a transfer of one of them is
--     under way (转学 or 批量转学, 待审核, or 审核通过 in the last 30 days, while the sending school's
--     files catch up) is a transfer, not a problem to handle: its untouched members are 转学在办;
--   - 先入者保有 (seed 002: "若因公安户籍部门造成学生身份证号重复,按“先入者保有”原则,后入者按暂无
--     身份号码处理"): when two or more members of a kind-1 group are attested as real pupils, the
--     ID stays with the first registered of them and every later one is `handled_as_no_id`
--     (a member deleted or changed is no longer a claimant);
--   - a decision filed before a member of its group was first registered no longer covers the
--     group: new data collides with a resolved record, which becomes a problem again (再次重复).
WITH base AS (
    SELECT s.record_key, s.school_id, s.name, s.gender, s.birth_date, s.id_type, s.id_number, s.registration_no,
           CASE WHEN s.id_number IS NULL OR s.id_number = '' THEN NULL ELSE id_normalise(s.id_number) END AS id_norm,
           CASE WHEN s.id_type = '居民身份证' THEN id_check(s.id_number, s.gender, s.birth_date, s.as_of_date) END AS id_defect
    FROM students s
),
-- The groups are found by counting keys, and only the few registrations in them are gathered
-- (AS MATERIALIZED): every join below then holds those few, never the whole province.
dup_ids AS MATERIALIZED (
    SELECT id_norm FROM base WHERE id_norm IS NOT NULL GROUP BY id_norm HAVING COUNT(*) > 1
),
dup_people AS MATERIALIZED (
    SELECT name, gender, birth_date
    FROM base
    WHERE id_norm IS NULL AND name IS NOT NULL AND gender IS NOT NULL AND birth_date IS NOT NULL
    GROUP BY name, gender, birth_date
    HAVING COUNT(*) > 1
),
grouped AS MATERIALIZED (
    SELECT 1 AS kind, CAST(d.id_norm AS VARCHAR) AS group_key, b.record_key
    FROM dup_ids d
    JOIN base b ON b.id_norm = d.id_norm
    UNION ALL
    SELECT 2 AS kind, CAST(d.name || '|' || d.gender || '|' || CAST(d.birth_date AS VARCHAR) AS VARCHAR) AS group_key,
           b.record_key
    FROM dup_people d
    JOIN base b ON b.name = d.name AND b.gender = d.gender AND b.birth_date = d.birth_date AND b.id_norm IS NULL
    UNION ALL
    SELECT 3 AS kind, CAST(record_key AS VARCHAR) AS group_key, record_key
    FROM base
    WHERE id_defect IS NOT NULL
),
first_seen AS (
    SELECT l.record_key, MIN(l.snapshot_date) AS registered_on
    FROM (SELECT DISTINCT record_key FROM grouped) g
    JOIN students_log l ON l.record_key = g.record_key
    WHERE l.change = 'insert'
    GROUP BY l.record_key
),
members AS (
    SELECT g.kind, g.group_key, b.*, f.registered_on,
           -- The unit that decides: the school's 学籍主管教育行政部门 (a city-run school's is the city).
           COALESCE(sc0.authority_code, sc0.county_code) AS member_county,
           ROW_NUMBER() OVER (PARTITION BY g.kind, g.group_key ORDER BY f.registered_on, b.record_key) AS member_no
    FROM grouped g
    JOIN base b ON b.record_key = g.record_key
    LEFT JOIN first_seen f ON f.record_key = g.record_key
    LEFT JOIN schools sc0 ON sc0.school_id = b.school_id
),
latest_decision AS (
    SELECT * FROM (
        SELECT d.decision_id, d.school_id, d.registration_no, d.problem_kind_ AS problem_kind, d.action, d.county_decision,
               d.county_time, d.arbiter_decision,
               ROW_NUMBER() OVER (PARTITION BY d.school_id, d.registration_no, d.problem_kind_ ORDER BY d.apply_date DESC, d.decision_id DESC) AS rn_
        -- 身份证件号不存在 and 与姓名不匹配 are the two kinds of 身份证件号错误 (seed 002).
        FROM (SELECT *, CASE WHEN problem_kind IN ('身份证件号不存在', '身份证件号与姓名不匹配') THEN '身份证件号错误'
                             ELSE problem_kind END AS problem_kind_
              FROM dedup_decisions) d)
    WHERE rn_ = 1
),
filed AS (
    SELECT decision_id, MIN(snapshot_date) AS filed_on FROM dedup_decisions_log GROUP BY decision_id
),
in_transfer AS (
    SELECT DISTINCT registration_no, from_school_id, to_school_id
    FROM movements
    WHERE movement_type IN ('转学', '批量转学')
      -- An approved transfer is under way until the sending school's files catch up: a month.
      AND (status = '待审核' OR (status = '审核通过' AND effective_date >= as_of_date - INTERVAL '30 days'))
      AND registration_no IS NOT NULL AND from_school_id IS NOT NULL AND to_school_id IS NOT NULL
),
decided AS (
    SELECT m.*, d.decision_id, d.action, d.county_decision, d.county_time, d.arbiter_decision, fd.filed_on,
           -- seed 000 六: "删除——学校管理员发起删除学籍申请,系统自动审核通过" — a 删除 needs no review.
           d.action IS NOT NULL AND NOT (m.kind = 3 AND d.action = '佐证')
             AND (d.action = '删除' OR d.county_decision = '同意') AS approved
    FROM members m
    LEFT JOIN latest_decision d
      ON d.school_id = m.school_id AND d.registration_no = m.registration_no
     AND d.problem_kind = CASE m.kind WHEN 1 THEN '身份证件号重复' WHEN 2 THEN '姓名性别出生日期重复' ELSE '身份证件号错误' END
    LEFT JOIN filed fd ON fd.decision_id = d.decision_id
),
counted AS (
    SELECT d.*,
           COUNT(*) OVER w AS n_members,
           SUM(CASE WHEN d.approved AND d.action IN ('变更', '删除') THEN 1 ELSE 0 END) OVER w AS n_removed,
           SUM(CASE WHEN d.approved AND d.action = '佐证' THEN 1 ELSE 0 END) OVER w AS n_attested,
           MAX(d.registered_on) OVER w AS last_registered,
           MIN(d.member_county) OVER w = MAX(d.member_county) OVER w AS one_county,
           MIN(d.school_id) OVER w AS school_lo,
           MAX(d.school_id) OVER w AS school_hi,
           -- The approved 佐证 of a group in the order the county approved them.
           ROW_NUMBER() OVER (PARTITION BY d.kind, d.group_key
                              ORDER BY CASE WHEN d.approved AND d.action = '佐证' THEN 0 ELSE 1 END,
                                       d.county_time, d.decision_id, d.record_key) AS attest_rank
    FROM decided d
    WINDOW w AS (PARTITION BY d.kind, d.group_key)
),
flagged AS (
    -- A member whose transfer to the other school of its two-member group is under way. Read
    -- from `counted` once (a second read would run the whole pipeline above again).
    SELECT c.*, t.registration_no IS NOT NULL AS moving_
    FROM counted c
    LEFT JOIN in_transfer t
      ON c.kind IN (1, 2) AND c.n_members = 2 AND c.school_lo <> c.school_hi
     AND t.registration_no = c.registration_no AND t.from_school_id = c.school_id
     AND t.to_school_id = CASE WHEN c.school_id = c.school_lo THEN c.school_hi ELSE c.school_lo END
),
moving AS (
    SELECT f.*, MAX(CASE WHEN f.moving_ THEN 1 ELSE 0 END) OVER (PARTITION BY f.kind, f.group_key) = 1 AS transfer_under_way,
           -- 先入者保有: how many members registered so far (this one included) are attested as
           -- real pupils of one ID number (approved 佐证 of kind 1, not refused by arbitration).
           SUM(CASE WHEN f.attested_ THEN 1 ELSE 0 END)
             OVER (PARTITION BY f.kind, f.group_key ORDER BY f.member_no ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS attested_so_far
    FROM (
        SELECT f.*, f.kind = 1 AND f.approved AND f.action = '佐证' AND COALESCE(f.arbiter_decision, '') <> '不同意' AS attested_
        FROM flagged f
    ) f
),
stated AS (
    SELECT c.*,
           CASE WHEN c.approved AND c.filed_on < c.last_registered THEN '再次重复'
                WHEN c.kind IN (1, 2) AND c.n_members >= 2 AND c.n_removed = c.n_members - 1
                     AND NOT (c.approved AND c.action IN ('变更', '删除')) THEN '自动佐证通过'
                WHEN c.action IS NULL AND c.transfer_under_way THEN '转学在办'
                WHEN c.action IS NULL THEN '待处理'
                WHEN c.kind = 3 AND c.action = '佐证' THEN '处理方式不允许'
                WHEN c.action = '删除' THEN '已通过'
                -- seed 002: in one county "只能通过一个,另外一个自动不通过": the 佐证 approved first
                -- passes; one approved later, or one still awaiting review, fails by itself.
                WHEN c.kind = 1 AND c.one_county AND c.action = '佐证'
                     AND ((c.approved AND c.attest_rank > 1) OR (c.county_decision IS NULL AND c.n_attested >= 1))
                     THEN '自动不通过'
                WHEN c.county_decision IS NULL THEN '待区县审核'
                WHEN c.county_decision <> '同意' THEN '区县未通过'
                WHEN c.action IN ('变更', '删除') THEN '已通过'
                WHEN c.kind = 2 OR c.n_attested <= 1 OR (c.kind = 1 AND c.one_county) THEN '已通过'
                WHEN c.arbiter_decision = '同意' THEN '仲裁通过'
                WHEN c.arbiter_decision = '不同意' THEN '仲裁未通过'
                ELSE '待上级仲裁' END AS decision_state
    FROM moving c
)
SELECT stable_id(CAST(m.kind AS VARCHAR), m.group_key) AS group_id,
       CAST(m.kind AS BIGINT) AS kind,
       CASE m.kind WHEN 1 THEN '身份证件号重复' WHEN 2 THEN '姓名性别出生日期重复' ELSE '身份证件号错误' END AS kind_label,
       CAST(m.member_no AS BIGINT) AS member_no,
       m.record_key,
       m.school_id,
       sc.school_name,
       sc.county_code,
       SUBSTR(sc.county_code, 1, 4) AS city_code,
       SUBSTR(sc.county_code, 1, 2) AS province_code,
       m.name,
       m.gender,
       m.birth_date,
       m.id_type,
       m.id_number,
       m.id_defect,
       m.registration_no,
       m.registered_on,
       m.member_no = 1 AS is_first_registered,
       CASE WHEN m.kind = 3 THEN '变更、删除' ELSE '佐证、变更、删除' END AS allowed_actions,
       m.decision_id,
       m.action,
       m.decision_state,
       m.decision_state IN ('已通过', '仲裁通过', '自动佐证通过') AS is_resolved,
       COALESCE(m.attested_ AND m.attested_so_far > 1, false) AS handled_as_no_id,
       sc.authority_code
FROM stated m
LEFT JOIN schools sc ON sc.school_id = m.school_id
