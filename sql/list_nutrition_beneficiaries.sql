-- model:  list_nutrition_beneficiaries
-- inputs: student_status, students, schools, nutrition_schools
-- schema: list_nutrition_beneficiaries
-- grain:  一名受益学生 / one beneficiary pupil
--
-- 营养改善计划受益学生名单: the in-school compulsory pupils (小学, 初中) of the schools that take
-- part in the programme on the snapshot date (纳入日期 on or before it, no 退出日期 before it).
-- The programme's schools (thousands) are gathered with their names first (AS MATERIALIZED), so
-- that each join with the pupils holds the schools: a join whose small side is itself a join
-- is estimated from guesses, and the planner once held the 3 million beneficiaries instead.
WITH n AS MATERIALIZED (
    SELECT n.school_id, sc.school_name, n.pilot_type, n.meal_mode
    FROM nutrition_schools n
    LEFT JOIN schools sc ON sc.school_id = n.school_id
    WHERE n.start_date <= n.as_of_date AND (n.end_date IS NULL OR n.end_date >= n.as_of_date)
)
SELECT st.school_id,
       n.school_name,
       st.county_code,
       n.pilot_type,
       n.meal_mode,
       st.stage,
       st.grade,
       st.grade_label,
       st.class_code,
       st.registration_no,
       s.name,
       s.gender,
       st.boarder,
       st.left_behind > 0 AS left_behind
FROM student_status st
JOIN n ON n.school_id = st.school_id
JOIN students s ON s.record_key = st.record_key
WHERE st.in_school AND st.compulsory
