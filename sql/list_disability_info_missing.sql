-- model:  list_disability_info_missing
-- inputs: students, student_status, schools
-- schema: list_disability_info_missing
-- grain:  一名特殊教育信息缺项的在校残疾学生 / one disabled pupil in school whose special-education information is incomplete
--
-- 残疾学生特殊教育信息缺项名单 (issue 23): in-school pupils whom the record calls disabled — 健康状况
-- 残疾, or a 残疾类型 other than 无残疾 — while the special-education items of the template
-- (reference/TEMPLATE_FIELDS.md §1, items 42 残疾类型 and 41 随班就读, §2.8–2.9) are not filled in:
--   残疾类型未填                        健康状况 says 残疾, 残疾类型 is empty;
--   健康状况为残疾，残疾类型为无残疾    the two contradict, so the kind is in effect missing;
--   随班就读未填                        the 随班就读 item is empty;
--   普通学校残疾学生填为非随班就读      in a school that is not a 特殊教育学校, a disabled pupil's
--                                       placement is missing: the template's rule is "非随班就读 ↔
--                                       无残疾" (§2.8); only in a special school is 非随班就读 right.
-- A 随班就读 that names another kind than 残疾类型 is the import's W_INCLUSIVE_DISABILITY warning,
-- not repeated here. The national system keeps more in its 特教学生信息管理 module (seed 001 第15章:
-- "特教学生选择列表默认显示本学校未维护特教信息的残疾学生"; 残疾证明类型, 残疾程度, 残疾证书号,
-- 残疾描述), which no template column carries: this list is the template's part of that check.
-- The few disabled pupils are gathered first (AS MATERIALIZED), so that the join holds them, not
-- every registration.
WITH d AS MATERIALIZED (
    SELECT record_key, name, health_status, disability_type, inclusive_class
    FROM students
    WHERE health_status = '残疾' OR COALESCE(disability_type, '') NOT IN ('', '无残疾')
),
m AS (
    SELECT st.school_id, sc.school_name, st.county_code, st.stage, st.grade, st.grade_label, st.class_code,
           st.registration_no, d.name, st.gender, d.health_status, d.disability_type, d.inclusive_class,
           CASE WHEN COALESCE(d.disability_type, '') = '' THEN '残疾类型未填'
                WHEN d.disability_type = '无残疾' THEN '健康状况为残疾，残疾类型为无残疾' END AS type_gap,
           CASE WHEN COALESCE(d.inclusive_class, '') = '' THEN '随班就读未填'
                WHEN d.inclusive_class = '非随班就读' AND COALESCE(sc.school_kind, '') <> '特殊教育学校'
                  THEN '普通学校残疾学生填为非随班就读' END AS class_gap
    FROM d
    JOIN student_status st ON st.record_key = d.record_key
    LEFT JOIN schools sc ON sc.school_id = st.school_id
    WHERE st.in_school
)
SELECT school_id,
       school_name,
       county_code,
       stage,
       grade,
       grade_label,
       class_code,
       registration_no,
       name,
       gender,
       health_status,
       disability_type,
       inclusive_class,
       concat_ws('；', type_gap, class_gap) AS missing
FROM m
WHERE type_gap IS NOT NULL OR class_gap IS NOT NULL
