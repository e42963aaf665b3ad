-- model:  list_graduates
-- inputs: student_status, students, students_log, schools, movements, ref_calendar
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
pause AS (
    SELECT CAST(year AS VARCHAR) AS year, start FROM ref_calendar WHERE "window" = 'graduating_pause'
),
reported AS (
    SELECT st.record_key, st.school_id, st.registration_no, s.name, st.gender, st.stage, st.class_code,
           st.graduation_year, st.graduation_date, true AS still_reported, s.changed_on AS last_seen
    FROM student_status st
    JOIN students s ON s.record_key = st.record_key
    WHERE st.status = '毕业'
),
dropped AS (
    -- Each record's latest deletion up to the date, for records not in tonight's snapshot.
    SELECT l.record_key, l.school_id, l.registration_no, l.name, l.gender, l.class_code, l.enrol_month,
           l.snapshot_date AS dropped_on
    FROM (
        SELECT l.*, ROW_NUMBER() OVER (PARTITION BY l.record_key ORDER BY l.snapshot_date DESC) AS rn
        FROM students_log l, as_of a
        WHERE l.snapshot_date <= a.d
    ) l
    WHERE l.rn = 1 AND l.change = 'delete'
),
dropped_g AS (
    SELECT d.*, TRY_CAST(substr(d.class_code, 5, 1) AS BIGINT) AS stage,
           COALESCE(TRY_CAST(substr(d.class_code, 1, 4) AS BIGINT), TRY_CAST(substr(d.enrol_month, 1, 4) AS BIGINT))
             + CASE WHEN substr(d.class_code, 5, 1) = '1' AND sc.school_system = '五四制' THEN 5
                    WHEN substr(d.class_code, 5, 1) = '1' THEN 6
                    WHEN substr(d.class_code, 5, 1) = '2' AND sc.school_system = '五四制' THEN 4
                    ELSE 3 END AS graduation_year
    FROM dropped d
    LEFT JOIN schools sc ON sc.school_id = d.school_id
),
dropped_d AS (
    SELECT d.*,
           CAST(CAST(d.graduation_year AS VARCHAR) || '-' || COALESCE(py.start, pa.start, '07-01') AS DATE) AS graduation_date
    FROM dropped_g d
    LEFT JOIN pause py ON py.year = CAST(d.graduation_year AS VARCHAR)
    LEFT JOIN pause pa ON pa.year = '*'
),
left_before AS (
    -- The pupil's latest approved movement out of the school before its graduation: a leaving
    -- one (not 复学 after 休学, say) means it did not graduate here.
    SELECT registration_no, from_school_id, movement_type
    FROM (
        SELECT m.registration_no, m.from_school_id, m.movement_type,
               ROW_NUMBER() OVER (PARTITION BY m.registration_no, m.from_school_id
                                  ORDER BY m.effective_date DESC, m.movement_id DESC) AS rn
        FROM movements m
        JOIN dropped_d d ON d.registration_no = m.registration_no AND d.school_id = m.from_school_id
        WHERE m.status = '审核通过' AND m.effective_date IS NOT NULL AND m.effective_date < d.graduation_date
    )
    WHERE rn = 1
      AND movement_type IN ('转学', '批量转学', '休学', '死亡', '失踪', '出国', '其他离校', '退学', '开除')
),
graduates AS (
    SELECT record_key, school_id, registration_no, name, gender, stage, class_code, graduation_year, graduation_date,
           still_reported, last_seen
    FROM reported
    UNION ALL
    SELECT d.record_key, d.school_id, d.registration_no, d.name, d.gender, d.stage, d.class_code, d.graduation_year,
           d.graduation_date, false, d.dropped_on
    FROM dropped_d d
    LEFT JOIN left_before lb ON lb.registration_no = d.registration_no AND lb.from_school_id = d.school_id
    WHERE d.graduation_date <= d.dropped_on
      AND lb.registration_no IS NULL
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
