-- model:  student_status
-- inputs: students, schools, movements, codelists
-- schema: student_status
-- grain:  一条学籍 / one registration as of the snapshot date
--
-- The status of every registration as of the date (DOMAIN.md §Statuses and movements): the
-- latest approved movement out of this school (异动日期 on or before the date) decides it —
-- 转学 and 批量转学 make 转出; 休学, 死亡, 失踪, 出国, 其他离校, 退学, 开除 are statuses of their
-- own; 复学, 回国复学, 恢复入学资格, 调班, 跳级, 留级 leave the pupil 在校. Without one, a pupil
-- whose class has graduated is 毕业, otherwise 在校. Only 在校 is in school: every list and
-- statistic below starts from `in_school`.
--
-- Graduation (毕业): a stage has 6 grades of 小学 and 3 of 初中 under 六三制, 5 and 4 under 五四制
-- (the school's 学制; seed 004: "针对实行五四学制的省市"), 3 of 高中. A class graduates in the
-- summer of its last grade, on the day the graduating grades' business pauses for 毕业、升级
-- (`graduation_date()`: calendar.csv's graduating_pause, 7月1日 unless a year says otherwise;
-- seed 003: "为办理毕业、毕业、升级,学籍系统将于每年7月15日0:00至8月14日24:00暂停开通转学业务").
--
-- The derived attributes the marts share are computed here once: stage and grade (from the
-- cohort in the 班号, counted from 1 September: a pupil who repeated or skipped a year is in the
-- class of another cohort than 入学年月 says; 入学年月 only without a 班号), the school's region
-- and 城乡分类 (codes 1xx are 城区/镇区, 2xx 乡村), the household county (户口所在地), and:
--   outside_county   户口不在学校所在县 (异地就读);
--   migrant_derived  进城务工人员随迁子女 by the definition: 义务教育, Chinese nationality (seed
--                    000 第三篇 10: a foreign pupil's 户口 is the school's area), 农业户口 (the record's
--                    only sign of a rural household registration), household in another county
--                    or province, school in an urban or town area.
WITH s AS (
    SELECT s.record_key, s.school_id, s.registration_no, s.class_code, s.enrol_month, s.gender, s.ethnicity, s.hukou_type,
           s.nationality,
           s.left_behind_type, s.is_migrant_child, s.attendance_mode, s.receives_yibu, s.as_of_date,
           TRY_CAST(substr(s.class_code, 5, 1) AS BIGINT) AS stage,
           (CASE WHEN date_part('month', s.as_of_date) >= 9 THEN date_part('year', s.as_of_date) ELSE date_part('year', s.as_of_date) - 1 END)
             - COALESCE(TRY_CAST(substr(s.class_code, 1, 4) AS BIGINT), TRY_CAST(substr(s.enrol_month, 1, 4) AS BIGINT))
             + 1 AS grade,
           substr(s.hukou_region_code, 1, 6) AS hukou_county_code
    FROM students s
),
gd AS (
    SELECT s.*, graduation_date(s.class_code, s.enrol_month, sc.school_system) AS graduation_date
    FROM s LEFT JOIN schools sc ON sc.school_id = s.school_id
),
last_move AS (
    SELECT registration_no, from_school_id, movement_id, movement_type, effective_date
    FROM (
        SELECT m.*, ROW_NUMBER() OVER (PARTITION BY registration_no, from_school_id ORDER BY effective_date DESC, movement_id DESC) AS rn
        FROM movements m
        WHERE status = '审核通过' AND effective_date IS NOT NULL AND effective_date <= as_of_date
    )
    WHERE rn = 1
),
sc AS (
    SELECT sc.school_id, sc.county_code, sc.urban_rural, c.code AS urban_rural_code
    FROM schools sc
    LEFT JOIN codelists c ON c.list = 'urban_rural' AND c.name = sc.urban_rural
),
st AS (
    SELECT s.*, m.movement_id, m.movement_type, m.effective_date,
           CASE WHEN m.movement_type IN ('转学', '批量转学') THEN '转出'
                WHEN m.movement_type IN ('休学', '死亡', '失踪', '出国', '其他离校', '退学', '开除') THEN m.movement_type
                WHEN s.graduation_date <= s.as_of_date THEN '毕业'
                ELSE '在校' END AS status
    FROM gd s
    LEFT JOIN last_move m ON m.registration_no = s.registration_no AND m.from_school_id = s.school_id
)
SELECT st.record_key,
       st.school_id,
       st.registration_no,
       st.stage,
       st.grade,
       CASE st.stage WHEN 1 THEN '小学' WHEN 2 THEN '初中' WHEN 3 THEN '高中' END
         || CASE st.grade WHEN 1 THEN '一' WHEN 2 THEN '二' WHEN 3 THEN '三' WHEN 4 THEN '四' WHEN 5 THEN '五' WHEN 6 THEN '六' ELSE '' END
         || '年级' AS grade_label,
       st.class_code,
       st.gender,
       st.status,
       CASE WHEN st.status = '毕业' THEN st.graduation_date
            WHEN st.status = '在校' AND st.movement_type IS NULL THEN NULL
            ELSE st.effective_date END AS status_since,
       st.movement_id AS status_movement_id,
       CAST(date_part('year', st.graduation_date) AS BIGINT) AS graduation_year,
       st.graduation_date,
       -- In the last grade: the class graduates by the end of this school year.
       COALESCE(st.status = '在校' AND date_part('year', st.graduation_date)
                <= (CASE WHEN date_part('month', st.as_of_date) >= 9 THEN date_part('year', st.as_of_date) ELSE date_part('year', st.as_of_date) - 1 END) + 1,
                false) AS graduating,
       st.status = '在校' AS in_school,
       COALESCE(st.stage IN (1, 2), false) AS compulsory,
       substr(sc.county_code, 1, 2) AS province_code,
       substr(sc.county_code, 1, 4) AS city_code,
       sc.county_code,
       sc.urban_rural,
       COALESCE(sc.urban_rural_code LIKE '1%', false) AS school_urban,
       st.hukou_county_code,
       st.hukou_type = '农业户口' AS hukou_rural,
       COALESCE(st.hukou_county_code <> sc.county_code, false) AS outside_county,
       COALESCE(substr(st.hukou_county_code, 1, 2) <> substr(sc.county_code, 1, 2), false) AS outside_province,
       st.ethnicity <> '汉族' AS minority,
       CASE st.left_behind_type WHEN '单亲留守儿童' THEN 1 WHEN '双亲留守儿童' THEN 2 ELSE 0 END AS left_behind,
       COALESCE(st.is_migrant_child, false) AS migrant_reported,
       COALESCE(st.stage IN (1, 2) AND sc.urban_rural_code LIKE '1%' AND st.hukou_type = '农业户口'
                AND st.hukou_county_code <> sc.county_code
                AND COALESCE(st.nationality, '中国') IN ('中国', '中国大陆'), false) AS migrant_derived,
       st.attendance_mode = '住校' AS boarder,
       COALESCE(st.receives_yibu, false) AS yibu
FROM st
LEFT JOIN sc ON sc.school_id = st.school_id
