-- model:  stats_migrant
-- inputs: student_status, school_regions
-- schema: stats_migrant
-- grain:  学校 × 年级 × 性别 / school, grade and gender
--
-- 随迁子女 among in-school compulsory pupils (DOMAIN.md §Statistics and lists):
--   reported  进城务工人员随迁子女 as the schools report it (是否进城务工人员随迁子女), split by
--             where the household is registered (外省 / 本省外县);
--   derived   the same by the definition: rural (农业) household in another county or province,
--             school in an urban or town area (城乡分类 1xx);
--   broad     外来务工随迁子女 (随迁子女): household registered in another province or another
--             county of this province, whatever the school's area — derived, nobody fills it;
--   nonlocal  异地就读: household outside the school's county, all stages (so its own count of
--             pupils is `all_pupils`).
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
       SUM(CASE WHEN st.compulsory THEN 1 ELSE 0 END) AS pupils,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported THEN 1 ELSE 0 END) AS migrant_reported,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported AND st.outside_province THEN 1 ELSE 0 END) AS migrant_reported_other_province,
       SUM(CASE WHEN st.compulsory AND st.migrant_reported AND st.outside_county AND NOT st.outside_province THEN 1 ELSE 0 END) AS migrant_reported_other_county,
       SUM(CASE WHEN st.migrant_derived THEN 1 ELSE 0 END) AS migrant_derived,
       SUM(CASE WHEN st.migrant_derived AND st.outside_province THEN 1 ELSE 0 END) AS migrant_derived_other_province,
       SUM(CASE WHEN st.migrant_derived AND NOT st.outside_province THEN 1 ELSE 0 END) AS migrant_derived_other_county,
       SUM(CASE WHEN st.compulsory AND st.outside_county THEN 1 ELSE 0 END) AS migrant_broad,
       SUM(CASE WHEN st.compulsory AND st.outside_province THEN 1 ELSE 0 END) AS migrant_broad_other_province,
       SUM(CASE WHEN st.compulsory AND st.outside_county AND NOT st.outside_province THEN 1 ELSE 0 END) AS migrant_broad_other_county,
       COUNT(*) AS all_pupils,
       SUM(CASE WHEN st.outside_county THEN 1 ELSE 0 END) AS nonlocal
FROM student_status st
LEFT JOIN school_regions r ON r.school_id = st.school_id
WHERE st.in_school
GROUP BY r.province_code, r.province_name, r.city_code, r.city_name, st.county_code, r.county_name,
         st.school_id, r.school_name, st.stage, st.grade, st.grade_label, st.gender
