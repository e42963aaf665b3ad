-- model:  list_aid_applicants
-- inputs: student_status, students, schools
-- schema: list_aid_applicants
-- grain:  一名需要申请资助的在校学生 / one pupil in school who needs financial aid
--
-- 需要资助学生名单: in-school pupils of every stage whose 是否需要申请资助 is 是, the list a
-- 学生资助 system starts from, with the facts its rules weigh (孤儿, 烈士或优抚子女, 残疾, 留守,
-- 寄宿, 一补 already received). Who is finally funded is decided there, not here.
-- The few who need aid (about 7%) are gathered first (AS MATERIALIZED), so that the join holds
-- them, not every registration.
WITH s AS MATERIALIZED (
    SELECT record_key, name, gender, id_number, is_orphan, is_martyr_child, disability_type
    FROM students
    WHERE needs_aid
)
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
       s.id_number,
       s.is_orphan,
       s.is_martyr_child,
       s.disability_type,
       st.left_behind > 0 AS left_behind,
       st.boarder,
       st.yibu
FROM student_status st
JOIN s ON s.record_key = st.record_key
LEFT JOIN schools sc ON sc.school_id = st.school_id
WHERE st.in_school
