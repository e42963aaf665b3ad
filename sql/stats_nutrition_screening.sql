-- model:  stats_nutrition_screening
-- inputs: exams, school_regions, ref_ws_t_456, ref_ws_t_586
-- schema: stats_nutrition_screening
-- grain:  学校 × 性别 / school and gender
--
-- Nutrition screening of the examinations of the current school year (from 1 September; the
-- latest exam of each pupil; of two on one date, the first record): age in whole half-years at
-- the exam date picks the row of the tables for the pupil's sex (schemas/reference/ws_t_*.csv),
-- BMI = kg / m². The latest exam is kept by an anti-join, not a window partitioned by pupil,
-- which would cut every batch into one slice per pupil.
--   WS/T 456-2014 营养不良: 生长迟缓 height ≤ the cut-off; otherwise 消瘦 BMI ≤ the mild
--                 wasting maximum, of which 中重度 BMI ≤ the moderate-severe maximum;
--   WS/T 586-2018 超重 overweight minimum ≤ BMI < obesity minimum; 肥胖 BMI ≥ obesity minimum.
-- Exams outside the tables' ages (under 6) are counted as `unscreened`.
WITH cur AS (
    SELECT x.*
    FROM exams x
    WHERE x.exam_date >= make_date(CASE WHEN date_part('month', x.as_of_date) >= 9 THEN date_part('year', x.as_of_date) ELSE date_part('year', x.as_of_date) - 1 END, 9, 1)
),
e AS (
    SELECT x.*
    FROM cur x
    WHERE NOT EXISTS (SELECT 1 FROM cur y
                      WHERE y.registration_no = x.registration_no
                        AND (y.exam_date > x.exam_date OR (y.exam_date = x.exam_date AND y.record_key < x.record_key)))
),
a AS (
    SELECT e.*, CASE e.gender WHEN '男' THEN 'M' WHEN '女' THEN 'F' END AS sex,
           floor(((date_part('year', e.exam_date) - date_part('year', e.birth_date)) * 12
                  + date_part('month', e.exam_date) - date_part('month', e.birth_date)
                  - CASE WHEN date_part('day', e.exam_date) < date_part('day', e.birth_date) THEN 1 ELSE 0 END) / 6) / 2.0 AS age_half,
           e.weight_kg / ((e.height_cm / 100.0) * (e.height_cm / 100.0)) AS bmi
    FROM e
),
c AS (
    SELECT a.school_id, a.gender, a.height_cm, a.bmi,
           w.stunting_height_cm_max AS stunt_max, w.wasting_moderate_severe_bmi_max AS waste_severe_max, w.wasting_mild_bmi_max AS waste_max,
           o.overweight_bmi_min AS over_min, o.obesity_bmi_min AS obese_min
    FROM a
    LEFT JOIN ref_ws_t_456 w ON w.sex = a.sex AND w.age_from_years <= a.age_half AND (w.age_to_years_exclusive IS NULL OR a.age_half < w.age_to_years_exclusive)
    LEFT JOIN ref_ws_t_586 o ON o.sex = a.sex AND o.age_from_years <= a.age_half AND (o.age_to_years_exclusive IS NULL OR a.age_half < o.age_to_years_exclusive)
)
SELECT r.province_code,
       r.province_name,
       r.county_code,
       r.county_name,
       c.school_id,
       r.school_name,
       c.gender,
       COUNT(*) AS examined,
       SUM(CASE WHEN c.stunt_max IS NULL OR c.over_min IS NULL THEN 1 ELSE 0 END) AS unscreened,
       SUM(CASE WHEN c.height_cm <= c.stunt_max THEN 1 ELSE 0 END) AS stunting,
       SUM(CASE WHEN c.height_cm > c.stunt_max AND c.bmi <= c.waste_max THEN 1 ELSE 0 END) AS wasting,
       SUM(CASE WHEN c.height_cm > c.stunt_max AND c.bmi <= c.waste_severe_max THEN 1 ELSE 0 END) AS wasting_severe,
       SUM(CASE WHEN c.bmi >= c.over_min AND c.bmi < c.obese_min THEN 1 ELSE 0 END) AS overweight,
       SUM(CASE WHEN c.bmi >= c.obese_min THEN 1 ELSE 0 END) AS obesity,
       SUM(CASE WHEN c.height_cm > c.stunt_max AND c.bmi > c.waste_max AND c.bmi < c.over_min THEN 1 ELSE 0 END) AS normal
FROM c
LEFT JOIN school_regions r ON r.school_id = c.school_id
GROUP BY r.province_code, r.province_name, r.county_code, r.county_name, c.school_id, r.school_name, c.gender
