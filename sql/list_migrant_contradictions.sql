-- model:  list_migrant_contradictions
-- inputs: student_status, students, schools
-- schema: list_migrant_contradictions
-- grain:  一条学籍的一项矛盾 / one contradiction of one in-school registration
--
-- Records whose 随迁 / 留守 fields contradict each other or the definitions, for the school to
-- correct (one row per registration and kind):
--   M1 填报随迁子女，但户口在学校所在县        (a 随迁子女 comes from another county)
--   M2 填报随迁子女，但学校在乡村              (进城: the school must be in an urban or town area)
--   M3 填报随迁子女，但为非农业户口            (进城务工人员 are rural-registered)
--   M4 既填报留守儿童又填报随迁子女            (left at home and moved with the parents)
--   M5 按定义为随迁子女，但未填报              (rural household elsewhere, urban school)
--   M6 高中学生填写了义务教育阶段字段          (留守, 随迁, 一补 are for 小学 and 初中)
-- Only the rows that can contradict are carried (one narrow scan of student_status, held as
-- MATERIALIZED), and the registrations table is joined to the contradictions alone: at provincial
-- scale a join of student_status with itself or with students would hold millions of rows in a
-- hash table.
WITH st AS MATERIALIZED (
    SELECT record_key, school_id, county_code, grade_label, class_code, registration_no, urban_rural,
           migrant_reported, migrant_derived, outside_county, school_urban, hukou_rural, left_behind, stage, yibu
    FROM student_status
    WHERE in_school AND (migrant_reported OR migrant_derived OR (stage = 3 AND (left_behind > 0 OR yibu)))
),
c AS MATERIALIZED (
    SELECT st.*, 'M1' AS kind_code, '填报随迁子女，但户口在学校所在县' AS kind FROM st WHERE migrant_reported AND NOT outside_county
    UNION ALL
    SELECT st.*, 'M2', '填报随迁子女，但学校在乡村' FROM st WHERE migrant_reported AND NOT school_urban
    UNION ALL
    SELECT st.*, 'M3', '填报随迁子女，但为非农业户口' FROM st WHERE migrant_reported AND NOT COALESCE(hukou_rural, false)
    UNION ALL
    SELECT st.*, 'M4', '既填报留守儿童又填报随迁子女' FROM st WHERE migrant_reported AND left_behind > 0
    UNION ALL
    SELECT st.*, 'M5', '按定义为进城务工人员随迁子女，但未填报' FROM st WHERE migrant_derived AND NOT migrant_reported
    UNION ALL
    SELECT st.*, 'M6', '高中学生填写了义务教育阶段字段（留守、随迁、一补）' FROM st WHERE stage = 3 AND (left_behind > 0 OR migrant_reported OR yibu)
)
SELECT c.school_id,
       sc.school_name,
       c.county_code,
       c.grade_label,
       c.class_code,
       c.registration_no,
       s.name,
       c.kind_code,
       c.kind,
       s.left_behind_type,
       CASE WHEN s.is_migrant_child THEN '是' WHEN NOT s.is_migrant_child THEN '否' END AS migrant_reported,
       s.hukou_type,
       s.hukou_region_code,
       c.urban_rural
FROM c
JOIN students s ON s.record_key = c.record_key
LEFT JOIN schools sc ON sc.school_id = c.school_id
