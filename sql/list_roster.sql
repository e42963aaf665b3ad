-- model:  list_roster
-- inputs: student_status, students, schools
-- schema: list_roster
-- grain:  一名在校学生 / one pupil in school
--
-- 学生花名册: the pupils in school as of the date (休学, 转出, 毕业 and the others are not), by
-- school, grade and class; 班内序号 numbers a class by 学籍号 so that it is stable across runs.
-- The classes are numbered on the few status columns before the names and addresses are joined:
-- sorting and windowing whole rows would move every column of a million pupils twice.
WITH st AS (
    SELECT record_key, school_id, county_code, stage, grade, grade_label, class_code, registration_no,
           ROW_NUMBER() OVER (PARTITION BY school_id, class_code ORDER BY registration_no, record_key) AS seat_no
    FROM student_status
    WHERE in_school
)
SELECT st.school_id,
       sc.school_name,
       st.county_code,
       st.stage,
       st.grade,
       st.grade_label,
       st.class_code,
       substr(st.class_code, 6, 2) AS class_no,
       st.seat_no,
       st.registration_no,
       s.name,
       s.gender,
       s.birth_date,
       s.ethnicity,
       s.id_type,
       s.id_number,
       s.attendance_mode,
       s.phone,
       s.current_address
FROM st
JOIN students s ON s.record_key = st.record_key
LEFT JOIN schools sc ON sc.school_id = st.school_id
