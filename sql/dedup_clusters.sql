-- model:  dedup_clusters
-- inputs: dedup_candidates, dedup_members, students, schools
-- schema: dedup_clusters
-- grain:  同一学生的一条学籍 / one registration of a pupil registered more than once
--
-- Registrations that are one pupil, exact and fuzzy together: the graph whose edges are the
-- matched candidate pairs (with their scores) and the official kind-1 groups (each member
-- joined to its group's node), clustered by dedup_cluster: strongest edges first, a cluster
-- never holds two different valid ID numbers (id_valid; twins with valid IDs
-- stay apart even when a registration without an ID matches both), and two clusters of two or
-- more are joined only by a strong edge or by two. Kind-2 groups enter only through their scored pairs, so a kind-2 group of
-- two different children is not merged. A cluster is named by a keyed hash of its smallest
-- record key.
WITH linked AS (
    SELECT record_key_a AS record_key FROM dedup_candidates WHERE is_match
    UNION
    SELECT record_key_b FROM dedup_candidates WHERE is_match
),
valid_ids AS (
    -- The ID number of a registration when it passes its check character and its birth part is
    -- a real date not after the snapshot: two of them in one cluster are two people.
    SELECT s.record_key, id_normalise(s.id_number) AS id
    FROM students s
    JOIN linked l ON l.record_key = s.record_key
    WHERE id_valid(s.id_number, s.as_of_date)
),
edges AS (
    SELECT c.record_key_a AS a, c.record_key_b AS b, c.score, va.id AS id_a, vb.id AS id_b
    FROM dedup_candidates c
    LEFT JOIN valid_ids va ON va.record_key = c.record_key_a
    LEFT JOIN valid_ids vb ON vb.record_key = c.record_key_b
    WHERE c.is_match
    UNION ALL
    SELECT m.record_key, 'G:' || m.group_id, 1000000.0, v.id, CAST(NULL AS VARCHAR)
    FROM dedup_members m
    LEFT JOIN valid_ids v ON v.record_key = m.record_key
    WHERE m.kind = 1
),
comp AS (
    SELECT unnest(dedup_cluster(a, b, score, id_a, id_b)) AS c FROM edges
),
nodes AS (
    SELECT c['node'] AS record_key, c['root'] AS root FROM comp
),
members AS (
    -- Group nodes start with 'G:' and sort after every record key, so a root is a record.
    SELECT record_key, root FROM nodes WHERE record_key NOT LIKE 'G:%'
),
evidence AS (
    SELECT record_key, MAX(score) AS best_score, MAX(fuzzy) AS fuzzy
    FROM (SELECT record_key_a AS record_key, score, official_kind IS NULL AS fuzzy FROM dedup_candidates WHERE is_match
          UNION ALL
          SELECT record_key_b, score, official_kind IS NULL FROM dedup_candidates WHERE is_match)
    GROUP BY record_key
),
official AS (
    SELECT record_key, MIN(group_id) AS group_id FROM dedup_members WHERE kind = 1 GROUP BY record_key
),
sized AS (
    SELECT m.*, COUNT(*) OVER (PARTITION BY m.root) AS member_count,
           MAX(CASE WHEN e.fuzzy THEN 1 ELSE 0 END) OVER (PARTITION BY m.root) AS any_fuzzy,
           MAX(CASE WHEN o.group_id IS NOT NULL THEN 1 ELSE 0 END) OVER (PARTITION BY m.root) AS any_official,
           e.best_score, o.group_id
    FROM members m
    LEFT JOIN evidence e ON e.record_key = m.record_key
    LEFT JOIN official o ON o.record_key = m.record_key
)
SELECT stable_id('C', z.root) AS cluster_id,
       CAST(z.member_count AS BIGINT) AS member_count,
       CASE WHEN z.any_fuzzy = 1 AND z.any_official = 1 THEN '官方规则与疑似匹配'
            WHEN z.any_fuzzy = 1 THEN '疑似匹配'
            ELSE '官方规则' END AS found_by,
       z.record_key,
       s.school_id,
       sc.school_name,
       sc.county_code,
       s.name,
       s.gender,
       s.birth_date,
       s.id_number,
       s.registration_no,
       z.group_id AS official_group_id,
       z.best_score
FROM sized z
JOIN students s ON s.record_key = z.record_key
LEFT JOIN schools sc ON sc.school_id = s.school_id
