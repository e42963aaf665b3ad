-- model:  list_nutrition_schools
-- inputs: nutrition_schools, nutrition_duty, school_regions, student_status, list_nutrition_beneficiaries
-- schema: list_nutrition_schools
-- grain:  一所受益学校 / one beneficiary school
--
-- 营养改善计划受益学校名单 (seed 002, 营养餐管理: 受益学校名单查询) with its 责任体系 (责任体系管理):
-- the schools in the programme on the snapshot date, by the rule of the 受益学生名单 — 纳入日期 on
-- or before the date, no 退出日期 before it (a school is still listed on its 退出日期, as its pupils
-- are) — with their region, 试点类型, 供餐模式, the dates, the responsible persons, the in-school
-- compulsory pupils (student_status) and the beneficiaries (list_nutrition_beneficiaries; equal
-- to the pupils by definition, counted apart so that a difference shows).
--
-- The school's 责任人 is its row of nutrition_duty (学校标识码 filled), else the 学校责任人 of
-- nutrition_schools; the county's is the row of the school's 属地 county without a 学校标识码.
-- Where a unit has several rows (two files, two counties), the latest filed counts. duty_gap
-- names a gap of the 责任体系 (缺学校责任人, 缺县级责任人, or both), NULL when there is none.
-- The phones of nutrition_duty stay in the warehouse: they are personal information and the seed
-- shows no screen that prints them.
WITH n AS (
    SELECT school_id, pilot_type, meal_mode, start_date, end_date,
           NULLIF(responsible_person, '') AS listed_person
    FROM nutrition_schools
    WHERE start_date <= as_of_date AND (end_date IS NULL OR end_date >= as_of_date)
),
-- One row per unit: a school by its 学校标识码, a county by its code (学校标识码 blank).
duty AS (
    SELECT county_code, school_id, responsible_person, post
    FROM (
        SELECT d.county_code, NULLIF(d.school_id, '') AS school_id, d.responsible_person,
               NULLIF(d.post, '') AS post,
               ROW_NUMBER() OVER (
                   PARTITION BY COALESCE(NULLIF(d.school_id, ''), '#' || d.county_code)
                   ORDER BY d.changed_on DESC, d.source_file DESC, d.source_row DESC
               ) AS rn
        FROM nutrition_duty d
        WHERE d.responsible_person IS NOT NULL AND d.responsible_person <> ''
    ) x
    WHERE rn = 1
),
school_duty AS (SELECT school_id, responsible_person, post FROM duty WHERE school_id IS NOT NULL),
county_duty AS (SELECT county_code, responsible_person, post FROM duty WHERE school_id IS NULL),
pupils AS (
    SELECT school_id, COUNT(*) AS pupils
    FROM student_status
    WHERE in_school AND compulsory
    GROUP BY school_id
),
benef AS (
    SELECT school_id, COUNT(*) AS beneficiaries FROM list_nutrition_beneficiaries GROUP BY school_id
),
l AS (
    SELECT r.province_code, r.province_name, r.city_code, r.city_name, r.county_code, r.county_name,
           n.school_id, r.school_name, n.pilot_type, n.meal_mode, n.start_date, n.end_date,
           COALESCE(sd.responsible_person, n.listed_person) AS school_person,
           CASE WHEN sd.responsible_person IS NOT NULL THEN sd.post END AS school_person_post,
           cd.responsible_person AS county_person,
           cd.post AS county_person_post,
           COALESCE(p.pupils, 0) AS pupils,
           COALESCE(b.beneficiaries, 0) AS beneficiaries
    FROM n
    LEFT JOIN school_regions r ON r.school_id = n.school_id
    LEFT JOIN school_duty sd ON sd.school_id = n.school_id
    LEFT JOIN county_duty cd ON cd.county_code = r.county_code
    LEFT JOIN pupils p ON p.school_id = n.school_id
    LEFT JOIN benef b ON b.school_id = n.school_id
)
SELECT province_code, province_name, city_code, city_name, county_code, county_name,
       school_id, school_name, pilot_type, meal_mode, start_date, end_date,
       school_person, school_person_post, county_person, county_person_post,
       pupils, beneficiaries,
       CASE WHEN school_person IS NULL AND county_person IS NULL THEN '缺学校和县级责任人'
            WHEN school_person IS NULL THEN '缺学校责任人'
            WHEN county_person IS NULL THEN '缺县级责任人' END AS duty_gap
FROM l
