-- model:  list_meal_ledger_anomalies
-- inputs: meal_ledger, list_nutrition_beneficiaries, nutrition_terms, schools
-- schema: list_meal_ledger_anomalies
-- grain:  一所学校一个月的一项异常 / one anomaly of one school and month
--
-- The meal ledger against what can be true:
--   L1 用餐人次超过受益学生数 × 供餐天数   (beneficiaries on the snapshot date)
--   L2 补助金额超过用餐人次 × 补助标准     (the standard of the term containing the month)
--   L3 供餐天数超过当月天数                 (more serving days than the month has)
--   L4 非受益学校申领                       (the school has no beneficiary on the snapshot date)
WITH b AS (
    SELECT school_id, COUNT(*) AS beneficiaries FROM list_nutrition_beneficiaries GROUP BY school_id
),
l AS (
    SELECT l.school_id, sc.school_name, sc.county_code, l.month, l.serving_days, l.meals, l.amount_yuan,
           COALESCE(b.beneficiaries, 0) AS beneficiaries,
           COALESCE(b.beneficiaries, 0) * l.serving_days AS max_meals,
           t.standard_yuan,
           l.meals * t.standard_yuan AS max_amount_yuan,
           make_date(CAST(substr(l.month, 1, 4) AS BIGINT), CAST(substr(l.month, 5, 2) AS BIGINT), 1) AS month_start
    FROM meal_ledger l
    LEFT JOIN schools sc ON sc.school_id = l.school_id
    LEFT JOIN b ON b.school_id = l.school_id
    LEFT JOIN nutrition_terms t ON t.province_code = substr(sc.county_code, 1, 2)
         AND t.start_date <= make_date(CAST(substr(l.month, 1, 4) AS BIGINT), CAST(substr(l.month, 5, 2) AS BIGINT), 1)
         AND make_date(CAST(substr(l.month, 1, 4) AS BIGINT), CAST(substr(l.month, 5, 2) AS BIGINT), 1) <= t.end_date
),
k AS (
    SELECT *, 'L1' AS kind_code, '用餐人次超过受益学生数×供餐天数' AS kind FROM l WHERE beneficiaries > 0 AND meals > max_meals
    UNION ALL
    SELECT *, 'L2', '补助金额超过用餐人次×补助标准' FROM l WHERE amount_yuan > max_amount_yuan + 0.005
    UNION ALL
    SELECT *, 'L3', '供餐天数超过当月天数' FROM l
    WHERE serving_days > date_part('day', (month_start + INTERVAL '1 month') - INTERVAL '1 day')
    UNION ALL
    SELECT *, 'L4', '非受益学校申领' FROM l WHERE beneficiaries = 0
)
SELECT school_id, school_name, county_code, month, serving_days, meals, beneficiaries, max_meals,
       amount_yuan, standard_yuan, max_amount_yuan, kind_code, kind
FROM k
