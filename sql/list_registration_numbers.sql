-- model:  list_registration_numbers
-- inputs: students, student_status, schools
-- schema: list_registration_numbers
-- grain:  一条学籍号需关注的在校学籍 / one in-school registration whose 学籍号 needs attention
--
-- 学籍号监测 (issue 23): the in-school registrations whose 学籍号 is not yet, or no longer, the
-- plain "G + 身份证号" (seed 003 5: "学生学号分为三种:以“G”开头的正式学号、以“L”开头的临时学号、
-- 以“J”开头的学号"), one row each:
--   L       临时学籍号: "临时学籍号以“L”开头,是每个学生获得正式学籍号之前的必经阶段" (seed 002); the
--           G number follows national 查重 and the population-database check, "每年春季学期开学后,
--           通过学籍系统下发". Shown with the age in whole years on the date and the months since
--           入学年月 (the start of the current stage: a lower bound of the wait).
--   J       J 字头正式学籍号: "对于没有提供身份证号但查重没有问题的学生,分配“J”字头正式学籍号"
--           (seed 002), "为没有公民身份证号码或无法获取原公民身份证号码的学生设计的" (seed 003);
--   J_ID    the same, but the record now has a resident ID: "学生获得身份证号后,可以申请将学号变更为
--           以“G”为前缀的正式学号,但保留原始记录" (seed 003);
--   G       a G number whose 18 characters are not the current ID number: "在学生证号变更等特殊
--           情况下,两者可能会有所不同" (seed 003), "不一致不会影响学生办理任何业务" (seed 004) —
--           listed to be known, not as an error. Compared after normalising the ID as id_normalise
--           does (a lower-case x, full-width digits and spaces are no change) and reading a 15-digit
--           legacy number as the 18-digit one the G number carries (region, 19, YYMMDD, sequence);
--   G_NO_ID a G number on a record that has no ID number at all.
-- Plain SQL (translate, not xueji's id_normalise), so that tests/crosscheck.py runs it in DuckDB.
-- A registration without any 学籍号 yet (a new-student import) is not listed; the statistics
-- count it. Only the few registrations concerned are gathered first (AS MATERIALIZED), so that
-- the join with the statuses holds them, not every registration.
WITH n AS (
    SELECT record_key, registration_no, name, id_type, id_number, birth_date, enrol_month, as_of_date,
           upper(substr(registration_no, 2)) AS body,
           upper(translate(id_number, '０１２３４５６７８９ｘＸ 　', '0123456789XX')) AS idn
    FROM students
),
c AS MATERIALIZED (
    SELECT record_key, name, id_type, id_number, birth_date, enrol_month, as_of_date,
           substr(registration_no, 1, 1) AS letter
    FROM n
    WHERE registration_no LIKE 'L%'
       OR registration_no LIKE 'J%'
       OR (registration_no LIKE 'G%'
           AND (COALESCE(idn, '') = ''
                OR NOT (body = idn
                        OR (length(idn) = 15 AND substr(body, 7, 2) = '19'
                            AND substr(body, 1, 6) || substr(body, 9, 9) = idn))))
)
SELECT st.school_id,
       sc.school_name,
       st.county_code,
       st.stage,
       st.grade,
       st.grade_label,
       st.class_code,
       st.registration_no,
       c.name,
       st.gender,
       CASE WHEN c.letter = 'L' THEN 'L'
            WHEN c.letter = 'J' AND c.id_type = '居民身份证' AND COALESCE(c.id_number, '') <> '' THEN 'J_ID'
            WHEN c.letter = 'J' THEN 'J'
            WHEN COALESCE(c.id_number, '') = '' THEN 'G_NO_ID'
            ELSE 'G' END AS issue_code,
       CASE WHEN c.letter = 'L' THEN '临时学籍号，尚未获得正式学籍号'
            WHEN c.letter = 'J' AND c.id_type = '居民身份证' AND COALESCE(c.id_number, '') <> ''
              THEN 'J字头学籍号，现已有居民身份证号：可申请变更为G字头学籍号'
            WHEN c.letter = 'J' THEN 'J字头学籍号（无公民身份号码）'
            WHEN COALESCE(c.id_number, '') = '' THEN 'G字头学籍号，但未填身份证件号'
            ELSE 'G字头学籍号与现身份证件号不一致（身份证件号已变更）' END AS issue,
       CAST(date_part('year', c.as_of_date) - date_part('year', c.birth_date)
            - CASE WHEN date_part('month', c.as_of_date) * 100 + date_part('day', c.as_of_date)
                        < date_part('month', c.birth_date) * 100 + date_part('day', c.birth_date)
                   THEN 1 ELSE 0 END AS BIGINT) AS age,
       c.enrol_month,
       CAST(date_part('year', c.as_of_date) * 12 + date_part('month', c.as_of_date)
            - (TRY_CAST(substr(c.enrol_month, 1, 4) AS BIGINT) * 12 + TRY_CAST(substr(c.enrol_month, 5, 2) AS BIGINT))
            AS BIGINT) AS months_since_enrolment
FROM c
JOIN student_status st ON st.record_key = c.record_key
LEFT JOIN schools sc ON sc.school_id = st.school_id
WHERE st.in_school
