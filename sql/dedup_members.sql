-- model:  dedup_members
-- inputs: students, students_log, schools
-- schema: dedup_members
-- grain:  一个问题组中的一条学籍 / one registration in one problem group
--
-- The three official kinds of 问题学籍 (DOMAIN.md §问题学籍):
--   1 身份证件号重复: one ID number (compared after normalising spaces, full-width digits and x)
--     on two or more registrations, whatever the ID type;
--   2 姓名性别出生日期重复: two or more registrations without an ID number with the same name,
--     gender and birth date;
--   3 身份证件号错误: a resident ID number with a defect seen offline (id_check), one group each.
WITH base AS (
    SELECT s.record_key, s.school_id, s.name, s.gender, s.birth_date, s.id_type, s.id_number, s.registration_no,
           CASE WHEN s.id_number IS NULL OR s.id_number = '' THEN NULL ELSE id_normalise(s.id_number) END AS id_norm,
           CASE WHEN s.id_type = '居民身份证' THEN id_check(s.id_number, s.gender, s.birth_date, s.as_of_date) END AS id_defect
    FROM students s
),
first_seen AS (
    SELECT record_key, MIN(snapshot_date) AS registered_on
    FROM students_log
    WHERE change = 'insert'
    GROUP BY record_key
),
grouped AS (
    SELECT 1 AS kind, id_norm AS group_key, record_key
    FROM (SELECT id_norm, record_key, COUNT(*) OVER (PARTITION BY id_norm) AS n FROM base WHERE id_norm IS NOT NULL)
    WHERE n > 1
    UNION ALL
    SELECT 2 AS kind, group_key, record_key
    FROM (SELECT name || '|' || gender || '|' || CAST(birth_date AS VARCHAR) AS group_key, record_key,
                 COUNT(*) OVER (PARTITION BY name, gender, birth_date) AS n
          FROM base
          WHERE id_norm IS NULL AND name IS NOT NULL AND gender IS NOT NULL AND birth_date IS NOT NULL)
    WHERE n > 1
    UNION ALL
    SELECT 3 AS kind, record_key AS group_key, record_key
    FROM base
    WHERE id_defect IS NOT NULL
),
members AS (
    SELECT g.kind, g.group_key, b.*, f.registered_on,
           ROW_NUMBER() OVER (PARTITION BY g.kind, g.group_key ORDER BY f.registered_on, b.record_key) AS member_no
    FROM grouped g
    JOIN base b ON b.record_key = g.record_key
    LEFT JOIN first_seen f ON f.record_key = g.record_key
)
SELECT stable_id(CAST(m.kind AS VARCHAR), m.group_key) AS group_id,
       CAST(m.kind AS BIGINT) AS kind,
       CASE m.kind WHEN 1 THEN '身份证件号重复' WHEN 2 THEN '姓名性别出生日期重复' ELSE '身份证件号错误' END AS kind_label,
       CAST(m.member_no AS BIGINT) AS member_no,
       m.record_key,
       m.school_id,
       sc.school_name,
       sc.county_code,
       SUBSTR(sc.county_code, 1, 4) AS city_code,
       SUBSTR(sc.county_code, 1, 2) AS province_code,
       m.name,
       m.gender,
       m.birth_date,
       m.id_type,
       m.id_number,
       m.id_defect,
       m.registration_no,
       m.registered_on,
       m.member_no = 1 AS is_first_registered,
       CASE WHEN m.kind = 3 THEN '变更、删除' ELSE '佐证、变更、删除' END AS allowed_actions,
       '待处理' AS decision_state
FROM members m
LEFT JOIN schools sc ON sc.school_id = m.school_id
