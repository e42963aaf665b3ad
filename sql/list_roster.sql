-- model:  list_roster
-- inputs: student_status, students, schools
-- schema: list_roster
-- grain:  一名在校学生 / one pupil in school
--
-- 学生花名册: the pupils in school as of the date (休学, 转出, 毕业 and the others are not), by
-- school, grade and class; 班内序号 numbers a class by 学籍号 so that it is stable across runs.
-- The classes are numbered on the few status columns before the names and addresses are joined:
-- sorting and windowing whole rows would move every column of a million pupils twice. The join
-- holds only what the pupils' own rows lack (the seat, stage and grade); the school, class and
-- 学籍号 are the same row's in `students`, the county the school's.
WITH st AS (
    SELECT record_key, stage, grade, grade_label,
           ROW_NUMBER() OVER (PARTITION BY school_id, class_code ORDER BY registration_no, record_key) AS seat_no
    FROM student_status
    WHERE in_school
)
SELECT s.school_id,
       sc.school_name,
       sc.county_code,
       st.stage,
       st.grade,
       st.grade_label,
       s.class_code,
       substr(s.class_code, 6, 2) AS class_no,
       st.seat_no,
       s.registration_no,
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
LEFT JOIN schools sc ON sc.school_id = s.school_id
