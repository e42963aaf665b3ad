-- model:  stats_registration_numbers
-- inputs: student_status, list_registration_numbers, school_regions
-- schema: stats_registration_numbers
-- grain:  学校 × 年级 / school and grade
--
-- 学籍号监测 counts: in-school pupils by school and grade, and of them those without a 学籍号 yet
-- (seed 004: "部分学生学籍号为空怎么办?耐心等待,学籍系统将自动为学生分配学籍号"), on a temporary
-- L number, on it for 12 months or more since 入学年月 (so at least one spring term's issue of G
-- numbers has passed: "每年春季学期开学后,通过学籍系统下发", seed 002), on a J number (and of them
-- those whose record now has a resident ID, who may apply for a G number), and whose G number is
-- not the ID number (list_registration_numbers says which registrations). The two sources are
-- stacked and summed rather than joined, so a grade without a stage code still counts once.
SELECT r.province_code,
       r.province_name,
       r.city_code,
       r.city_name,
       u.county_code,
       r.county_name,
       u.school_id,
       r.school_name,
       u.stage,
       u.grade,
       u.grade_label,
       SUM(u.pupils) AS pupils,
       SUM(u.without_number) AS without_number,
       SUM(u.l_numbers) AS l_numbers,
       SUM(u.l_numbers_overdue) AS l_numbers_overdue,
       SUM(u.j_numbers) AS j_numbers,
       SUM(u.j_with_resident_id) AS j_with_resident_id,
       SUM(u.g_mismatch) AS g_mismatch
FROM (
    SELECT school_id, county_code, stage, grade, grade_label,
           1 AS pupils,
           CASE WHEN COALESCE(registration_no, '') = '' THEN 1 ELSE 0 END AS without_number,
           0 AS l_numbers, 0 AS l_numbers_overdue, 0 AS j_numbers, 0 AS j_with_resident_id, 0 AS g_mismatch
    FROM student_status
    WHERE in_school
    UNION ALL
    SELECT school_id, county_code, stage, grade, grade_label,
           0, 0,
           CASE WHEN issue_code = 'L' THEN 1 ELSE 0 END,
           CASE WHEN issue_code = 'L' AND months_since_enrolment >= 12 THEN 1 ELSE 0 END,
           CASE WHEN issue_code IN ('J', 'J_ID') THEN 1 ELSE 0 END,
           CASE WHEN issue_code = 'J_ID' THEN 1 ELSE 0 END,
           CASE WHEN issue_code IN ('G', 'G_NO_ID') THEN 1 ELSE 0 END
    FROM list_registration_numbers
) u
LEFT JOIN school_regions r ON r.school_id = u.school_id
GROUP BY r.province_code, r.province_name, r.city_code, r.city_name, u.county_code, r.county_name,
         u.school_id, r.school_name, u.stage, u.grade, u.grade_label
