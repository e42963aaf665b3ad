-- model:  dedup_pairs
-- inputs: students, schools, dedup_members
-- schema: dedup_pairs
-- grain:  一对被比较的学籍 / one pair of registrations compared field by field
--
-- The pairs the fuzzy matcher (疑似重复) compares, and how each field compares. A pair is
-- compared when the two registrations meet in a block of any one of the rules below, so that
-- no single field has to be right: an ID number with a typo still meets on the name and birth
-- date, a name written wrongly still meets on the birth date and a guardian. Blocks of more than
-- 50 registrations are skipped (a common name cannot blow up the pairs); each rule's pair count
-- is in dedup_model. The pairs of official kind 1 (one ID number) are added as sample = 'anchor':
-- they are one pupil, and show how a pupil's other fields vary between two registrations.
--   id15            the ID number's 15-digit form (region, birth date without century,
--                   sequence): the 15 and 18-digit forms of one number, or a wrong check character
--   id_tail         the ID's last 9 characters (a typo in the first 9)
--   sound_birth     the name as heard (name_sound) and the birth date
--   name_day        the normalised name and the birth month and day (the year written wrongly)
--   name_year       the normalised name, the birth year and the household city (else the
--                   school's): the month or the day written wrongly
--   birth_place     the birth date, the surname, the gender and the household county (else
--                   the school's): a given name written wrongly
--   birth_guardian  the birth date and a guardian's name
--   name_guardian   the normalised name and the first family member's name
-- A sample of random pairs (sample = 'random': neighbours in an order given by a hash of the
-- record key) shows how often two different pupils agree by chance; dedup_model learns from both.
--
-- At provincial scale neither the pairs (59 million at 20 million pupils) nor the registrations
-- fit in one hash table: the registrations and the pairs are computed first (AS MATERIALIZED),
-- and the comparison runs in passes, each over the pairs whose rid_a falls in one bucket (header
-- line `buckets`; how many passes follows from the pairs' rows, the bytes a pair takes in a
-- pass's hash tables and the memory pool). A pass holds its share of the pairs and the first
-- registration of each, 535 bytes a pair measured at a million pupils (EXPLAIN ANALYZE,
-- build_mem_used), 640 with a margin; the registrations stream past.
-- buckets: all_pairs.rid_a 640
WITH people AS (
    -- rid: a 64-bit hash of the record key, on which blocks, pairs and joins run fast. Two keys
    -- with one hash would only add a pair to compare (each pair is compared on its own fields).
    SELECT s.record_key, key_bucket(s.record_key, 9223372036854775807) AS rid,
           s.school_id, sc.county_code, s.name, s.gender, s.birth_date, s.id_number,
           s.phone, s.m1_phone, s.m2_phone,
           CASE WHEN s.id_number IS NULL OR s.id_number = '' THEN NULL ELSE id_normalise(s.id_number) END AS idn,
           CAST(s.birth_date AS VARCHAR) AS birth,
           SUBSTR(s.hukou_region_code, 1, 6) AS hk,
           NULLIF(TRIM(s.m1_name), '') AS g1,
           NULLIF(TRIM(s.m2_name), '') AS g2
    FROM students s
    LEFT JOIN schools sc ON sc.school_id = s.school_id
    WHERE s.name IS NOT NULL AND s.name <> ''
),
name_counts AS MATERIALIZED (
    -- How common a name is (name_tf), which dedup_model weighs a name's agreement by.
    SELECT name, CAST(COUNT(*) AS DOUBLE) / (SELECT COUNT(*) FROM people) AS tf FROM people GROUP BY name
),
base AS MATERIALIZED (
    -- The registrations with their name's frequency: the distinct names are held (fewer than the
    -- registrations), the registrations stream past.
    SELECT p.*, t.tf AS name_tf
    FROM name_counts t
    JOIN people p ON p.name = t.name
),
named AS (
    SELECT b.*, name_normalise(b.name) AS nn, name_sound(b.name) AS sound,
           CASE WHEN LENGTH(b.idn) = 18 THEN b.idn END AS id18
    FROM base b
),
keys AS (
    -- Every rule's key of a registration, in one pass; a key with a missing part is NULL.
    SELECT rid, k
    FROM (SELECT rid, unnest(make_array(
              'id15|' || CASE WHEN LENGTH(idn) = 15 THEN idn ELSE SUBSTR(id18, 1, 6) || SUBSTR(id18, 9, 9) END,
              'id_tail|' || SUBSTR(id18, 10, 9),
              'sound_birth|' || sound || '|' || birth,
              'name_day|' || nn || '|' || SUBSTR(birth, 6, 5),
              'name_year|' || nn || '|' || SUBSTR(birth, 1, 4) || '|' || SUBSTR(COALESCE(hk, county_code), 1, 4),
              'birth_place|' || birth || '|' || SUBSTR(nn, 1, 1) || '|' || gender || '|' || COALESCE(hk, county_code),
              'birth_guardian|' || birth || '|' || g1,
              'birth_guardian|' || birth || '|' || CASE WHEN g2 <> COALESCE(g1, '') THEN g2 END,
              'name_guardian|' || nn || '|' || g1)) AS k
          FROM named)
    WHERE k IS NOT NULL
),
hashed AS (
    -- A block is named by a 64-bit hash of its key (two keys that collide only make one block
    -- larger), and the rule by one bit.
    SELECT rid, key_bucket(k, 4611686018427387903) AS h,
           CASE split_part(k, '|', 1) WHEN 'id15' THEN 1 WHEN 'id_tail' THEN 2 WHEN 'sound_birth' THEN 4
                WHEN 'name_day' THEN 8 WHEN 'name_year' THEN 16 WHEN 'birth_place' THEN 32
                WHEN 'birth_guardian' THEN 64 WHEN 'name_guardian' THEN 128 END AS bit
    FROM keys
),
blocks AS (
    -- Blocks of 2 to 50 registrations: a common name or a large county cannot blow up the pairs.
    SELECT MIN(bit) AS bit, array_agg(rid) AS members
    FROM hashed
    GROUP BY h
    HAVING COUNT(*) BETWEEN 2 AND 50
),
pairs AS (
    SELECT p['a'] AS rid_a, p['b'] AS rid_b, BIT_OR(bit) AS rule_bits
    FROM (SELECT bit, unnest(block_pairs(members)) AS p FROM blocks)
    GROUP BY p['a'], p['b']
),
shuffled AS (
    SELECT rid, LEAD(rid) OVER (ORDER BY rid, record_key) AS next_rid
    FROM base
),
random_pairs AS (
    -- Neighbours in the order of the hash; about 200,000 of them, chosen by another hash:
    -- plenty to measure chance agreement.
    SELECT rid AS rid_a, next_rid AS rid_b
    FROM shuffled
    WHERE next_rid IS NOT NULL
      AND key_bucket(CAST(rid AS VARCHAR), (SELECT COUNT(*) FROM base)) < 200000
),
anchors AS (
    -- Official kind 1: registrations that share one ID number, in groups of at most 50.
    SELECT key_bucket(a.record_key, 9223372036854775807) AS rid_a,
           key_bucket(b.record_key, 9223372036854775807) AS rid_b
    FROM dedup_members a
    JOIN dedup_members b ON b.group_id = a.group_id AND a.record_key < b.record_key
    WHERE a.kind = 1 AND b.kind = 1
      AND a.group_id IN (SELECT group_id FROM dedup_members WHERE kind = 1 GROUP BY group_id HAVING COUNT(*) <= 50)
),
all_pairs AS MATERIALIZED (
    SELECT rid_a, rid_b, 'anchor' AS sample, 'id' AS rules FROM anchors
    UNION ALL
    SELECT rid_a, rid_b, 'blocked' AS sample,
           concat_ws(',', CASE WHEN rule_bits & 1 > 0 THEN 'id15' END, CASE WHEN rule_bits & 2 > 0 THEN 'id_tail' END,
                     CASE WHEN rule_bits & 4 > 0 THEN 'sound_birth' END, CASE WHEN rule_bits & 8 > 0 THEN 'name_day' END,
                     CASE WHEN rule_bits & 16 > 0 THEN 'name_year' END, CASE WHEN rule_bits & 32 > 0 THEN 'birth_place' END,
                     CASE WHEN rule_bits & 64 > 0 THEN 'birth_guardian' END,
                     CASE WHEN rule_bits & 128 > 0 THEN 'name_guardian' END) AS rules
    FROM pairs
    UNION ALL
    SELECT rid_a, rid_b, 'random', CAST(NULL AS VARCHAR) FROM random_pairs
)
SELECT LEAST(a.record_key, b.record_key) AS record_key_a,
       GREATEST(a.record_key, b.record_key) AS record_key_b,
       p.sample,
       p.rules,
       id_level(a.id_number, b.id_number) AS id_level,
       name_level(a.name, b.name) AS name_level,
       birth_level(a.birth_date, b.birth_date) AS birth_level,
       CASE WHEN a.gender IS NULL OR b.gender IS NULL THEN NULL
            WHEN a.gender = b.gender THEN 'same' ELSE 'different' END AS gender_level,
       CASE WHEN a.hk IS NULL OR b.hk IS NULL THEN NULL
            WHEN a.hk = b.hk THEN 'same'
            WHEN SUBSTR(a.hk, 1, 4) = SUBSTR(b.hk, 1, 4) THEN 'city'
            ELSE 'different' END AS hukou_level,
       CASE WHEN COALESCE(a.g1, a.g2) IS NULL OR COALESCE(b.g1, b.g2) IS NULL THEN NULL
            WHEN a.g1 IN (b.g1, b.g2) OR a.g2 IN (b.g1, b.g2) THEN 'same'
            ELSE 'different' END AS guardian_level,
       CASE WHEN a.phone IN (b.phone, b.m1_phone, b.m2_phone) OR a.m1_phone IN (b.phone, b.m1_phone, b.m2_phone)
              OR a.m2_phone IN (b.phone, b.m1_phone, b.m2_phone) THEN 'same'
            WHEN COALESCE(a.phone, a.m1_phone, a.m2_phone) IS NULL
              OR COALESCE(b.phone, b.m1_phone, b.m2_phone) IS NULL THEN NULL
            ELSE 'different' END AS phone_level,
       CASE WHEN a.school_id = b.school_id THEN 'same_school'
            WHEN a.county_code = b.county_code THEN 'same_county'
            ELSE 'different' END AS school_level,
       a.name_tf
FROM all_pairs p
JOIN base a ON a.rid = p.rid_a
JOIN base b ON b.rid = p.rid_b
-- A blocked pair with one ID number is an anchor already.
WHERE a.record_key <> b.record_key
  AND (p.sample <> 'blocked' OR a.idn IS NULL OR b.idn IS NULL OR a.idn <> b.idn)
