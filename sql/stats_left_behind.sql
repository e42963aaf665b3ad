-- model:  stats_left_behind
-- inputs: student_status, school_regions
-- schema: stats_left_behind
-- grain:  学校 × 年级 × 性别 / school, grade and gender
--
-- 留守儿童 among in-school compulsory pupils, as the schools report them (是否留守儿童): 单亲
-- (one parent away), 双亲 (both away), and of them those with a rural (农业) household, the
-- 农村留守儿童 of the statistical forms. The definition is the education-statistics one (parents
-- away for 3+ consecutive months, one parent away counts), stated in the `definition` column:
-- it is not the 国务院 2016 definition (both parents away, or one away and the other without
-- guardianship capacity; under 16), which counts only the 双亲 column and some 单亲 pupils.
-- The finest grain carries its province, city and county, so any level is one GROUP BY away.
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
       st.gender,
       COUNT(*) AS pupils,
       SUM(CASE WHEN st.left_behind = 1 THEN 1 ELSE 0 END) AS single_parent,
       SUM(CASE WHEN st.left_behind = 2 THEN 1 ELSE 0 END) AS both_parents,
       SUM(CASE WHEN st.left_behind > 0 THEN 1 ELSE 0 END) AS left_behind,
       SUM(CASE WHEN st.left_behind > 0 AND st.hukou_rural THEN 1 ELSE 0 END) AS rural_left_behind,
       '教育统计口径：父母双方或一方外出务工连续三个月以上、托付给留守父（母）亲或其他亲属的义务教育阶段在校学生（学校填报“是否留守儿童”）' AS definition
FROM student_status st
LEFT JOIN school_regions r ON r.school_id = st.school_id
WHERE st.in_school AND st.compulsory
GROUP BY r.province_code, r.province_name, r.city_code, r.city_name, st.county_code, r.county_name,
         st.school_id, r.school_name, st.stage, st.grade, st.grade_label, st.gender
