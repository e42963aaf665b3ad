-- model:  list_boarders
-- inputs: student_status, students, schools
-- schema: list_boarders
-- grain:  一名在校寄宿生 / one boarding pupil in school
--
-- 寄宿生名单: in-school pupils whose 就读方式 is 住校, every stage (the statistical forms count
-- #寄宿生 for 普通高中 too), with whether they receive 一补.
SELECT st.school_id,
       sc.school_name,
       st.county_code,
       st.stage,
       st.grade,
       st.grade_label,
       st.class_code,
       st.registration_no,
       s.name,
       s.gender,
       st.yibu,
       s.needs_aid,
       s.school_distance_km
FROM student_status st
JOIN students s ON s.record_key = st.record_key
LEFT JOIN schools sc ON sc.school_id = st.school_id
WHERE st.in_school AND st.boarder
