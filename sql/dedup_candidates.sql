-- model:  dedup_candidates
-- inputs: dedup_pairs, dedup_model, students, schools
-- schema: dedup_candidates
-- grain:  一对可能是同一学生的学籍 / one pair of registrations that may be one pupil
--
-- 疑似重复: the blocked pairs of dedup_pairs scored with the weights dedup_model learned
-- (Fellegi–Sunter): the score is the prior log2 odds plus each field's weight log2(m/u) for its
-- comparison level (a missing field adds nothing). Two registrations with the same common name
-- are weaker evidence than with a rare one: the weight of an equal name is adjusted by the
-- name's frequency, log2(u / frequency), between −8 and +3 (u: random pairs with one name). A pair is a match when its score is
-- at least 5 (odds of 32 to 1) and it does not look like twins (same school, birth date
-- and guardians, different given names, no repairable ID relation). Pairs with odds below 1 to
-- 100 are left out unless they look alike (same name and birth date), so that a kind-2 group of
-- two different children shows up with its low score, and twins and namesakes with their reasons.
WITH model AS (
    SELECT field, level, level_label, weight, u FROM dedup_model WHERE kind = '字段'
),
prior AS (
    SELECT MAX(weight) AS w FROM dedup_model WHERE kind = '先验'
),
name_u AS (
    SELECT MAX(u) AS u FROM model WHERE field = 'name' AND level = 'same'
),
scored AS (
    SELECT p.record_key_a, p.record_key_b, p.rules, p.id_level, p.name_level, p.birth_level,
           -- Twins are enrolled together: same school, birth date and guardians, given names
           -- that differ other than by a slip (a character dropped or added, a look-alike).
           -- Without ID evidence for one pupil (a repairable ID), such a pair is two.
           COALESCE(p.school_level = 'same_school' AND p.birth_level = 'same' AND p.guardian_level = 'same'
             AND p.name_level IN ('one_char', 'different'), false)
             AND COALESCE(p.id_level, '') NOT IN ('same15', 'check', 'one_edit', 'two_edits') AS twin_like,
           wi.weight AS w_id, wi.level_label AS l_id,
           wn.weight + CASE WHEN p.name_level = 'same' AND p.name_tf > 0 AND nu.u > 0
                            THEN LEAST(3.0, GREATEST(-8.0, log2(nu.u / p.name_tf))) ELSE 0.0 END AS w_name,
           wn.level_label AS l_name,
           wb.weight AS w_birth, wb.level_label AS l_birth,
           wg.weight AS w_gender, wg.level_label AS l_gender,
           wh.weight AS w_hukou, wh.level_label AS l_hukou,
           wr.weight AS w_guardian, wr.level_label AS l_guardian,
           wp.weight AS w_phone, wp.level_label AS l_phone,
           ws.weight AS w_school, ws.level_label AS l_school,
           pr.w AS w_prior
    FROM dedup_pairs p
    CROSS JOIN prior pr
    CROSS JOIN name_u nu
    LEFT JOIN model wi ON wi.field = 'id' AND wi.level = p.id_level
    LEFT JOIN model wn ON wn.field = 'name' AND wn.level = p.name_level
    LEFT JOIN model wb ON wb.field = 'birth' AND wb.level = p.birth_level
    LEFT JOIN model wg ON wg.field = 'gender' AND wg.level = p.gender_level
    LEFT JOIN model wh ON wh.field = 'hukou' AND wh.level = p.hukou_level
    LEFT JOIN model wr ON wr.field = 'guardian' AND wr.level = p.guardian_level
    LEFT JOIN model wp ON wp.field = 'phone' AND wp.level = p.phone_level
    LEFT JOIN model ws ON ws.field = 'school' AND ws.level = p.school_level
    WHERE p.sample = 'blocked'
),
totals AS (
    SELECT s.*,
           COALESCE(w_prior, 0) + COALESCE(w_id, 0) + COALESCE(w_name, 0) + COALESCE(w_birth, 0)
         + COALESCE(w_gender, 0) + COALESCE(w_hukou, 0) + COALESCE(w_guardian, 0) + COALESCE(w_phone, 0)
         + COALESCE(w_school, 0) AS score
    FROM scored s
),
kept AS (
    -- What a user reviews: pairs with odds of at least 1 to 100, the official kind-2 pairs and
    -- pairs that look alike (same name and birth date: twins, namesakes), with their reasons.
    SELECT * FROM totals
    WHERE score >= -6.6 OR (name_level IN ('same', 'normalised') AND birth_level = 'same')
),
reason AS (
    -- One reason per field: its level and weight, among the agreeing or disagreeing fields.
    SELECT t.*,
           concat_ws('、',
               CASE WHEN w_id > 0 THEN l_id || '(+' || CAST(ROUND(w_id, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_name > 0 THEN l_name || '(+' || CAST(ROUND(w_name, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_birth > 0 THEN l_birth || '(+' || CAST(ROUND(w_birth, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_gender > 0 THEN l_gender || '(+' || CAST(ROUND(w_gender, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_hukou > 0 THEN l_hukou || '(+' || CAST(ROUND(w_hukou, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_guardian > 0 THEN l_guardian || '(+' || CAST(ROUND(w_guardian, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_phone > 0 THEN l_phone || '(+' || CAST(ROUND(w_phone, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_school > 0 THEN l_school || '(+' || CAST(ROUND(w_school, 1) AS VARCHAR) || ')' END) AS agreed,
           concat_ws('、',
               CASE WHEN twin_like THEN '疑似双胞胎（同校、同生日、同监护人，名字不同）' END,
               CASE WHEN id_level IS NULL THEN '至少一方无证件号' END,
               CASE WHEN w_id < 0 THEN l_id || '(' || CAST(ROUND(w_id, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_name < 0 THEN l_name || '(' || CAST(ROUND(w_name, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_birth < 0 THEN l_birth || '(' || CAST(ROUND(w_birth, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_gender < 0 THEN l_gender || '(' || CAST(ROUND(w_gender, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_hukou < 0 THEN l_hukou || '(' || CAST(ROUND(w_hukou, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_guardian < 0 THEN l_guardian || '(' || CAST(ROUND(w_guardian, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_phone < 0 THEN l_phone || '(' || CAST(ROUND(w_phone, 1) AS VARCHAR) || ')' END,
               CASE WHEN w_school < 0 THEN l_school || '(' || CAST(ROUND(w_school, 1) AS VARCHAR) || ')' END) AS disagreed
    FROM kept t
)
SELECT stable_id('P', r.record_key_a || '|' || r.record_key_b) AS pair_id,
       r.record_key_a,
       r.record_key_b,
       a.school_id AS school_id_a,
       b.school_id AS school_id_b,
       sa.county_code AS county_code_a,
       sb.county_code AS county_code_b,
       a.name AS name_a,
       b.name AS name_b,
       a.gender,
       b.gender AS gender_b,
       a.birth_date,
       b.birth_date AS birth_date_b,
       a.id_number AS id_number_a,
       b.id_number AS id_number_b,
       r.score,
       1.0 / (1.0 + power(2.0, -r.score)) AS match_probability,
       r.score >= 5.0 AND NOT r.twin_like AS is_match,
       CASE WHEN (a.id_number IS NULL OR a.id_number = '') AND (b.id_number IS NULL OR b.id_number = '')
             AND a.name = b.name AND a.gender = b.gender AND a.birth_date = b.birth_date THEN 2 END AS official_kind,
       COALESCE(r.id_level, 'missing') AS id_relation,
       r.name_level AS name_relation,
       r.birth_level AS date_relation,
       r.rules AS found_by,
       r.agreed,
       r.disagreed
FROM reason r
JOIN students a ON a.record_key = r.record_key_a
JOIN students b ON b.record_key = r.record_key_b
LEFT JOIN schools sa ON sa.school_id = a.school_id
LEFT JOIN schools sb ON sb.school_id = b.school_id
