-- model:  list_yibu
-- inputs: student_status, students, schools, ref_yibu_standard
-- schema: list_yibu
-- grain:  一名享受一补的在校学生 / one pupil in school receiving the living subsidy
--
-- 一补 (家庭经济困难学生生活补助) recipients: in-school compulsory pupils with 是否享受一补 = 是,
-- with the yearly amount of the standard in force on the snapshot date (schemas/reference/
-- yibu_standard.csv: 小学 1250, 初中 1500 元/生/年 since the 2024 spring term). The national
-- standard gives a pupil who does not board the non-boarder share (50%), but the seed calls 一补
-- the boarders' subsidy (seed 004: "“一补“是指“对寄宿生的补助”"): a non-boarder's row is
-- flagged for review (needs_review, review_note) rather than paid silently.
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
       st.boarder,
       CAST(y.boarder_yuan_per_year AS DOUBLE) AS standard_yuan_per_year,
       CAST(y.boarder_yuan_per_year AS DOUBLE) * CASE WHEN st.boarder THEN 1.0 ELSE y.non_boarder_share END AS amount_yuan_per_year,
       NOT COALESCE(st.boarder, false) AS needs_review,
       CASE WHEN NOT COALESCE(st.boarder, false) THEN '走读生：一补是对寄宿生的补助，请核对是否住校、是否享受一补' END AS review_note
FROM student_status st
JOIN students s ON s.record_key = st.record_key
LEFT JOIN schools sc ON sc.school_id = st.school_id
LEFT JOIN ref_yibu_standard y
  ON y.stage = CASE st.stage WHEN 1 THEN '小学' WHEN 2 THEN '初中' END
 AND y."from" <= s.as_of_date AND (y."to" IS NULL OR s.as_of_date <= y."to")
WHERE st.in_school AND st.compulsory AND st.yibu
