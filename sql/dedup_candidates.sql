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
WITH weights AS (
    -- The model's few dozen weights as one row, a column a level, crossed with every pair: joining
    -- the pairs with the model on (field, level), once a field, made a cluster repartition every
    -- pair eight times (it makes no broadcast joins): 40 GB at 20M. Every comparison level (LEVELS
    -- in src/udf/fellegi.rs) is named here and below: a unit test there checks.
    SELECT MAX(weight) FILTER (WHERE kind = '先验') AS prior,
           -- u of an equal name: the share of random pairs with one name.
           MAX(u) FILTER (WHERE field = 'name' AND level = 'same') AS name_u,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'same') AS id_same,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'same15') AS id_same15,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'check') AS id_check,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'one_edit') AS id_one_edit,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'two_edits') AS id_two_edits,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'valid_different') AS id_valid_different,
           MAX(weight) FILTER (WHERE field = 'id' AND level = 'different') AS id_different,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'same') AS name_same,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'normalised') AS name_normalised,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'pinyin') AS name_pinyin,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'sound') AS name_sound,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'shape') AS name_shape,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'one_char') AS name_one_char,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'extra_char') AS name_extra_char,
           MAX(weight) FILTER (WHERE field = 'name' AND level = 'different') AS name_different,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'same') AS birth_same,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'swap') AS birth_swap,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'day1') AS birth_day1,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'month') AS birth_month,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'year') AS birth_year,
           MAX(weight) FILTER (WHERE field = 'birth' AND level = 'different') AS birth_different,
           MAX(weight) FILTER (WHERE field = 'gender' AND level = 'same') AS gender_same,
           MAX(weight) FILTER (WHERE field = 'gender' AND level = 'different') AS gender_different,
           MAX(weight) FILTER (WHERE field = 'hukou' AND level = 'same') AS hukou_same,
           MAX(weight) FILTER (WHERE field = 'hukou' AND level = 'city') AS hukou_city,
           MAX(weight) FILTER (WHERE field = 'hukou' AND level = 'different') AS hukou_different,
           MAX(weight) FILTER (WHERE field = 'guardian' AND level = 'same') AS guardian_same,
           MAX(weight) FILTER (WHERE field = 'guardian' AND level = 'different') AS guardian_different,
           MAX(weight) FILTER (WHERE field = 'phone' AND level = 'same') AS phone_same,
           MAX(weight) FILTER (WHERE field = 'phone' AND level = 'different') AS phone_different,
           MAX(weight) FILTER (WHERE field = 'school' AND level = 'same_school') AS school_same_school,
           MAX(weight) FILTER (WHERE field = 'school' AND level = 'same_county') AS school_same_county,
           MAX(weight) FILTER (WHERE field = 'school' AND level = 'different') AS school_different
    FROM dedup_model
),
scored AS (
    SELECT p.record_key_a, p.record_key_b, p.rules, p.id_level, p.name_level, p.birth_level,
           p.gender_level, p.hukou_level, p.guardian_level, p.phone_level, p.school_level,
           -- Twins are enrolled together: same school, birth date and guardians, given names
           -- that differ other than by a slip (a character dropped or added, a look-alike).
           -- Without ID evidence for one pupil (a repairable ID), such a pair is two.
           COALESCE(p.school_level = 'same_school' AND p.birth_level = 'same' AND p.guardian_level = 'same'
             AND p.name_level IN ('one_char', 'different'), false)
             AND COALESCE(p.id_level, '') NOT IN ('same15', 'check', 'one_edit', 'two_edits') AS twin_like,
           -- Each field's weight for its level; a missing field (NULL) adds nothing.
           CASE p.id_level WHEN 'same' THEN w.id_same WHEN 'same15' THEN w.id_same15
                WHEN 'check' THEN w.id_check WHEN 'one_edit' THEN w.id_one_edit
                WHEN 'two_edits' THEN w.id_two_edits WHEN 'valid_different' THEN w.id_valid_different
                WHEN 'different' THEN w.id_different END AS w_id,
           CASE p.name_level WHEN 'same' THEN w.name_same WHEN 'normalised' THEN w.name_normalised
                WHEN 'pinyin' THEN w.name_pinyin WHEN 'sound' THEN w.name_sound
                WHEN 'shape' THEN w.name_shape WHEN 'one_char' THEN w.name_one_char
                WHEN 'extra_char' THEN w.name_extra_char WHEN 'different' THEN w.name_different END
             + CASE WHEN p.name_level = 'same' AND p.name_tf > 0 AND w.name_u > 0
                    THEN LEAST(3.0, GREATEST(-8.0, log2(w.name_u / p.name_tf))) ELSE 0.0 END AS w_name,
           CASE p.birth_level WHEN 'same' THEN w.birth_same WHEN 'swap' THEN w.birth_swap
                WHEN 'day1' THEN w.birth_day1 WHEN 'month' THEN w.birth_month WHEN 'year' THEN w.birth_year
                WHEN 'different' THEN w.birth_different END AS w_birth,
           CASE p.gender_level WHEN 'same' THEN w.gender_same WHEN 'different' THEN w.gender_different END AS w_gender,
           CASE p.hukou_level WHEN 'same' THEN w.hukou_same WHEN 'city' THEN w.hukou_city
                WHEN 'different' THEN w.hukou_different END AS w_hukou,
           CASE p.guardian_level WHEN 'same' THEN w.guardian_same WHEN 'different' THEN w.guardian_different END AS w_guardian,
           CASE p.phone_level WHEN 'same' THEN w.phone_same WHEN 'different' THEN w.phone_different END AS w_phone,
           CASE p.school_level WHEN 'same_school' THEN w.school_same_school
                WHEN 'same_county' THEN w.school_same_county WHEN 'different' THEN w.school_different END AS w_school,
           w.prior AS w_prior
    FROM dedup_pairs p
    CROSS JOIN weights w
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
    -- pairs that look alike (same name and birth date: twins, namesakes), with their reasons
    -- (each level's label, as fs_fit gives it in dedup_model).
    SELECT t.*,
           fs_level_label('id', t.id_level) AS l_id,
           fs_level_label('name', t.name_level) AS l_name,
           fs_level_label('birth', t.birth_level) AS l_birth,
           fs_level_label('gender', t.gender_level) AS l_gender,
           fs_level_label('hukou', t.hukou_level) AS l_hukou,
           fs_level_label('guardian', t.guardian_level) AS l_guardian,
           fs_level_label('phone', t.phone_level) AS l_phone,
           fs_level_label('school', t.school_level) AS l_school
    FROM totals t
    WHERE t.score >= -6.6 OR (t.name_level IN ('same', 'normalised') AND t.birth_level = 'same')
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
