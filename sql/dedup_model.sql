-- model:  dedup_model
-- inputs: dedup_pairs, students
-- schema: dedup_model
-- grain:  模型的一个参数 / one parameter of the fuzzy matcher: a field's level, the prior, or a blocking rule
--
-- The Fellegi–Sunter model of the fuzzy matcher, learned from this night's data (fs_fit):
-- for each field and comparison level, m (the share of one pupil's two registrations that show
-- it: the pairs that share one ID number, and EM over the blocked pairs, per blocking rule) and
-- u (the share of random pairs of registrations that do), and the weight log2(m/u) that
-- dedup_candidates adds up; the prior log2 odds that two registrations taken at random are one
-- pupil; and how many pairs each blocking rule made.
WITH fit AS (
    SELECT unnest(fs_fit(p.sample, p.rules, r.n, p.id_level, p.name_level, p.birth_level, p.gender_level,
                         p.hukou_level, p.guardian_level, p.phone_level, p.school_level)) AS f
    FROM dedup_pairs p
    CROSS JOIN (SELECT COUNT(*) AS n FROM students) r
),
rules AS (
    SELECT rule, COUNT(*) AS pairs
    FROM (SELECT unnest(string_to_array(rules, ',')) AS rule FROM dedup_pairs WHERE sample = 'blocked')
    GROUP BY rule
)
SELECT CASE WHEN f['field'] = 'prior' THEN '先验' ELSE '字段' END AS kind,
       f['field'] AS field,
       f['field_label'] AS field_label,
       f['level'] AS level,
       f['level_label'] AS level_label,
       f['m'] AS m,
       f['u'] AS u,
       f['weight'] AS weight,
       f['anchors'] AS anchors,
       f['pairs'] AS pairs
FROM fit
UNION ALL
SELECT '分块规则', 'blocking', '分块规则', rule, '按此规则相遇的学籍对', NULL, NULL, NULL, NULL, pairs
FROM rules
