-- model:  list_graduates
-- inputs: student_status, students, students_log, schools, movements
-- schema: list_graduates
-- grain:  一名毕业生 / one graduate registration
--
-- 毕业生查询 (seed 002, 12.4 毕业生查询): every registration whose class has graduated as of the
-- date, by school and graduation year, whether the school still lists its graduates or not:
--   学校仍在报送   the registration is in tonight's snapshot, status 毕业 (student_status);
--   学校已不再报送 the school stopped listing it on a night on or after its graduation date and
--                  no approved movement took it out of the school before then: the record is
--                  kept from its last state in the change log (`students_log`), so that a school
--                  that drops its graduates does not lose them (seed 004: "学生学籍已经处于毕业
--                  状态…由县级学籍管理部门在网上做毕业驳回" — a graduate's registration remains).
-- A registration dropped before its graduation date has left school without a movement: it is
-- not a graduate.
WITH as_of AS (
    SELECT MAX(as_of_date) AS d FROM students
),
reported AS (
    SELECT st.record_key, st.school_id, st.registration_no, s.name, st.gender, st.stage, st.class_code,
           st.graduation_year, st.graduation_date, true AS still_reported, s.changed_on AS last_seen
    FROM student_status st
    JOIN students s ON s.record_key = st.record_key
    WHERE st.status = '毕业'
),
dropped AS (
    -- Each record's latest change up to the date, when it is a deletion: the record is not in
    -- tonight's snapshot. Only records ever deleted are sorted, not the whole log.
    SELECT l.record_key, l.school_id, l.registration_no, l.name, l.gender, l.class_code, l.enrol_month,
           l.snapshot_date AS dropped_on
    FROM (
        SELECT l.*, ROW_NUMBER() OVER (PARTITION BY l.record_key ORDER BY l.snapshot_date DESC) AS rn
        FROM students_log l, as_of a
        WHERE l.snapshot_date <= a.d
          AND l.record_key IN (SELECT x.record_key FROM students_log x WHERE x.change = 'delete')
    ) l
    WHERE l.rn = 1 AND l.change = 'delete'
),
dropped_d AS (
    SELECT d.*, TRY_CAST(substr(d.class_code, 5, 1) AS BIGINT) AS stage,
           graduation_date(d.class_code, d.enrol_month, sc.school_system) AS graduation_date
    FROM dropped d
    LEFT JOIN schools sc ON sc.school_id = d.school_id
),
dropped_m AS (
    -- With the pupil's latest approved movement out of the school before its graduation: a
    -- leaving one (not 复学 after 休学, say) means it did not graduate here.
    SELECT d.*, m.movement_type AS left_by,
           ROW_NUMBER() OVER (PARTITION BY d.record_key ORDER BY m.effective_date DESC NULLS LAST, m.movement_id DESC NULLS LAST) AS rn_
    FROM dropped_d d
    LEFT JOIN movements m
      ON m.registration_no = d.registration_no AND m.from_school_id = d.school_id AND m.status = '审核通过'
     AND m.effective_date IS NOT NULL AND m.effective_date < d.graduation_date
),
graduates AS (
    SELECT record_key, school_id, registration_no, name, gender, stage, class_code, graduation_year, graduation_date,
           still_reported, last_seen
    FROM reported
    UNION ALL
    SELECT record_key, school_id, registration_no, name, gender, stage, class_code,
           CAST(date_part('year', graduation_date) AS BIGINT), graduation_date, false, dropped_on
    FROM dropped_m
    WHERE rn_ = 1 AND graduation_date <= dropped_on
      AND (left_by IS NULL OR left_by NOT IN ('转学', '批量转学', '休学', '死亡', '失踪', '出国', '其他离校', '退学', '开除'))
)
SELECT substr(sc.county_code, 1, 2) AS province_code,
       substr(sc.county_code, 1, 4) AS city_code,
       sc.county_code,
       g.school_id,
       sc.school_name,
       g.graduation_year,
       g.graduation_date,
       g.stage,
       CASE g.stage WHEN 1 THEN '小学' WHEN 2 THEN '初中' WHEN 3 THEN '高中' END AS stage_label,
       g.class_code,
       g.registration_no,
       g.name,
       g.gender,
       CASE WHEN g.still_reported THEN '学校仍在报送' ELSE '学校已不再报送' END AS source,
       g.last_seen
FROM graduates g
LEFT JOIN schools sc ON sc.school_id = g.school_id
