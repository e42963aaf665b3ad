-- model:  stats_school_form
-- inputs: student_status, school_regions
-- schema: stats_school_form
-- grain:  学校 × 学段 × 年级 / school, stage and grade
--
-- The rows of the 教基 分类型学生数 forms (教基3112 小学, 3115 初中, 3118 普通高中) per school and
-- grade, from in-school pupils: 在校生数, #女, #少数民族, #寄宿生, #随迁子女 (外省迁入, 本省外县
-- 迁入; derived from the household registration), #进城务工人员随迁子女 (as reported, split the
-- same way), #农村留守儿童 (reported 留守 with a rural household). 随迁 and 留守 are 义务教育 rows.
SELECT r.province_code,
       r.province_name,
       r.city_code,
       r.city_name,
       st.county_code,
       r.county_name,
       st.school_id,
       r.school_name,
       st.stage,
       st.grade,
       st.grade_label,
       COUNT(*) AS pupils,
       SUM(CASE WHEN st.gender = '女' THEN 1 ELSE 0 END) AS girls,
       SUM(CASE WHEN st.minority THEN 1 ELSE 0 END) AS minority,
       SUM(CASE WHEN st.boarder THEN 1 ELSE 0 END) AS boarders,
       SUM(CASE WHEN st.compulsory AND st.outside_county THEN 1 ELSE 0 END) AS migrant,
       SUM(CASE WHEN st.compulsory AND st.outside_province THEN 1 ELSE 0 END) AS migrant_other_province,
       SUM(CASE WHEN st.compulsory AND st.outside_county AND NOT st.outside_province THEN 1 ELSE 0 END) AS migrant_other_county,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported THEN 1 ELSE 0 END) AS migrant_worker,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported AND st.outside_province THEN 1 ELSE 0 END) AS migrant_worker_other_province,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported AND st.outside_county AND NOT st.outside_province THEN 1 ELSE 0 END) AS migrant_worker_other_county,
       SUM(CASE WHEN st.compulsory AND st.left_behind > 0 AND st.hukou_rural THEN 1 ELSE 0 END) AS rural_left_behind
FROM student_status st
LEFT JOIN school_regions r ON r.school_id = st.school_id
WHERE st.in_school
GROUP BY r.province_code, r.province_name, r.city_code, r.city_name, st.county_code, r.county_name,
         st.school_id, r.school_name, st.stage, st.grade, st.grade_label
