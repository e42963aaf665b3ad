-- model:  stats_nutrition_subsidy
-- inputs: list_nutrition_beneficiaries, nutrition_terms, school_regions
-- schema: stats_nutrition_subsidy
-- grain:  受益学校 × 学期 / beneficiary school and term
--
-- The subsidy of the current term (the one of the school's province that contains the snapshot
-- date): beneficiaries on the snapshot date × the term's school days × the standard in yuan per
-- pupil per day (nutrition_terms; 5 元 nationally since autumn 2021, provinces may top up).
-- A county's figure is the sum of its schools'.
WITH b AS (
    SELECT school_id, COUNT(*) AS beneficiaries, MIN(pilot_type) AS pilot_type, MIN(meal_mode) AS meal_mode
    FROM list_nutrition_beneficiaries
    GROUP BY school_id
)
SELECT r.province_code,
       r.province_name,
       r.county_code,
       r.county_name,
       b.school_id,
       r.school_name,
       b.pilot_type,
       b.meal_mode,
       t.term,
       t.start_date AS term_start,
       t.end_date AS term_end,
       b.beneficiaries,
       t.school_days,
       t.standard_yuan,
       CAST(b.beneficiaries * t.school_days AS DOUBLE) * t.standard_yuan AS subsidy_yuan
FROM b
JOIN school_regions r ON r.school_id = b.school_id
JOIN nutrition_terms t ON t.province_code = r.province_code
                      AND t.start_date <= t.as_of_date AND t.as_of_date <= t.end_date
