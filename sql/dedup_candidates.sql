-- model:  dedup_candidates
-- inputs: students, schools
-- schema: dedup_candidates
-- grain:  一对可能是同一学生的学籍 / one pair of registrations that may be one pupil
--
-- 疑似重复: pairs the official rules miss (one ID number is the official kind 1 and is left
-- out here). Pairs meet on a blocking key — the name's pinyin with southern confusions folded
-- (name_sound), birth date and gender — and are scored with log2 likelihood weights in the
-- manner of Fellegi–Sunter; the weights are set from what each field's agreement means:
--   ID numbers  15/18-digit forms of one number +10; one digit off, repairable through the
--               check character +8; two valid different numbers −15 (twins, namesakes);
--               one empty 0; otherwise −2
--   name        equal +4; equal after normalising (spaces, full-width, traditional) +3.5;
--               same pinyin +2; similar sound +1
--   birth date  equal +4 (blocking key);  gender  equal +1 (blocking key)
--   household   same county +1.5; different −2; unknown 0
--   guardians   a guardian's name shared +4; both named, none shared −4
--   phones      a phone number shared +2; otherwise 0 (numbers change)
-- A pair with score ≥ 10 is a match (is_match). Pairs without ID numbers on both sides that
-- the official kind 2 already groups are kept and flagged (official_kind = 2), so that a
-- kind-2 group of two different children shows up with a low score.
WITH base AS (
    SELECT record_key, school_id, name, gender, birth_date, id_number,
           CASE WHEN id_number IS NULL OR id_number = '' THEN NULL ELSE id_normalise(id_number) END AS id_norm,
           name_sound(name) AS sound
    FROM students
    WHERE name IS NOT NULL AND gender IS NOT NULL AND birth_date IS NOT NULL
),
pairs AS (
    SELECT a.record_key AS key_a, b.record_key AS key_b, a.gender, a.birth_date,
           a.id_norm IS NULL AND b.id_norm IS NULL AND a.name = b.name AS same_kind2
    FROM base a
    JOIN base b ON a.sound = b.sound AND a.birth_date = b.birth_date AND a.gender = b.gender
    WHERE a.record_key < b.record_key
      AND (a.id_norm IS NULL OR b.id_norm IS NULL OR a.id_norm <> b.id_norm)
),
sides AS (
    SELECT p.key_a, p.key_b, p.gender, p.birth_date, p.same_kind2,
           a.school_id AS school_id_a, b.school_id AS school_id_b,
           a.name AS name_a, b.name AS name_b,
           a.id_number AS id_number_a, b.id_number AS id_number_b,
           id_relation(a.id_number, b.id_number) AS id_rel,
           CASE WHEN a.name = b.name THEN 'same'
                WHEN name_normalise(a.name) = name_normalise(b.name) THEN 'normalised'
                WHEN name_pinyin(a.name) = name_pinyin(b.name) THEN 'pinyin'
                ELSE 'sound' END AS name_rel,
           CASE WHEN a.hukou_region_code IS NULL OR b.hukou_region_code IS NULL THEN 'unknown'
                WHEN SUBSTR(a.hukou_region_code, 1, 6) = SUBSTR(b.hukou_region_code, 1, 6) THEN 'same'
                ELSE 'different' END AS hukou_rel,
           CASE WHEN COALESCE(a.m1_name, a.m2_name) IS NULL OR COALESCE(b.m1_name, b.m2_name) IS NULL THEN 'unknown'
                WHEN name_normalise(a.m1_name) IN (name_normalise(b.m1_name), name_normalise(b.m2_name))
                  OR name_normalise(a.m2_name) IN (name_normalise(b.m1_name), name_normalise(b.m2_name)) THEN 'same'
                ELSE 'different' END AS guardian_rel,
           a.phone IN (b.phone, b.m1_phone, b.m2_phone) OR a.m1_phone IN (b.phone, b.m1_phone, b.m2_phone)
             OR a.m2_phone IN (b.phone, b.m1_phone, b.m2_phone) AS phone_shared
    FROM pairs p
    JOIN students a ON a.record_key = p.key_a
    JOIN students b ON b.record_key = p.key_b
),
scored AS (
    SELECT s.*,
           CASE id_rel WHEN 'same15' THEN 10.0 WHEN 'typo' THEN 8.0 WHEN 'different' THEN -15.0 WHEN 'missing' THEN 0.0 ELSE -2.0 END
         + CASE name_rel WHEN 'same' THEN 4.0 WHEN 'normalised' THEN 3.5 WHEN 'pinyin' THEN 2.0 ELSE 1.0 END
         + 4.0 + 1.0
         + CASE hukou_rel WHEN 'same' THEN 1.5 WHEN 'different' THEN -2.0 ELSE 0.0 END
         + CASE guardian_rel WHEN 'same' THEN 4.0 WHEN 'different' THEN -4.0 ELSE 0.0 END
         + CASE WHEN phone_shared THEN 2.0 ELSE 0.0 END AS score
    FROM sides s
)
SELECT stable_id('P', s.key_a || '|' || s.key_b) AS pair_id,
       s.key_a AS record_key_a,
       s.key_b AS record_key_b,
       s.school_id_a,
       s.school_id_b,
       sa.county_code AS county_code_a,
       sb.county_code AS county_code_b,
       s.name_a,
       s.name_b,
       s.gender,
       s.birth_date,
       s.id_number_a,
       s.id_number_b,
       s.score,
       s.score >= 10.0 AS is_match,
       CASE WHEN s.same_kind2 THEN 2 END AS official_kind,
       s.id_rel AS id_relation,
       s.name_rel AS name_relation,
       concat_ws('、',
           CASE s.id_rel WHEN 'same15' THEN '证件号15位与18位一致' WHEN 'typo' THEN '证件号仅差一位（校验码可修复）' END,
           CASE s.name_rel WHEN 'same' THEN '姓名相同' WHEN 'normalised' THEN '姓名去空格、全角、繁体后相同' WHEN 'pinyin' THEN '姓名同音' ELSE '姓名近音' END,
           '出生日期相同', '性别相同',
           CASE WHEN s.hukou_rel = 'same' THEN '户口所在地相同' END,
           CASE WHEN s.guardian_rel = 'same' THEN '监护人姓名相同' END,
           CASE WHEN s.phone_shared THEN '联系电话相同' END) AS agreed,
       concat_ws('、',
           CASE s.id_rel WHEN 'different' THEN '两个有效且不同的证件号' WHEN 'unrelated' THEN '证件号不同' WHEN 'missing' THEN '一方无证件号' END,
           CASE WHEN s.name_rel <> 'same' THEN '姓名写法不同' END,
           CASE WHEN s.hukou_rel = 'different' THEN '户口所在地不同' END,
           CASE WHEN s.guardian_rel = 'different' THEN '监护人姓名不同' END) AS disagreed
FROM scored s
LEFT JOIN schools sa ON sa.school_id = s.school_id_a
LEFT JOIN schools sb ON sb.school_id = s.school_id_b
