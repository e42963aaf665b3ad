-- model:  dedup_groups
-- inputs: dedup_members, regions
-- schema: dedup_groups
-- grain:  一个问题组 / one problem group
--
-- Who decides: the lowest common superior of the members' schools' 学籍主管教育行政部门 (a
-- city-run school's is the city; the 属地 county where a school names none): all under one
-- unit → that unit, at its level; else one city → the city; one province → the province; else
-- 教育部 (seed 004: "两校在同一县域的,向县级教育行政部门反映;在同一地市两个县域的,向地市级教育行政部门
-- 反映;在同一省份不同地市的,向省级教育行政部门反映;在不同省份的,向教育部反映").
-- 先入者保有: the first registered member (member_no = 1) is named for police-made duplicates.
-- Status: 待处理 (no member handled), 转学在办 (a transfer between its two schools is under way),
-- 处理中, 已解决 (every member resolved), 再次重复 (a resolved member collides with new data).
--
-- Memory: a night may hold a problem group for most of its registrations (one kind-3 group per
-- invalid ID number). COUNT(DISTINCT …) and ordered string_agg keep an accumulator per group
-- whose booked size grows with the batches it points into, so at a million groups the final
-- aggregation ran out of the pool. Here the distinct schools and counties are rows (DISTINCT,
-- then COUNT, MIN and MAX per group: spillable group-by state), and only the rare groups that
-- span three or more schools or counties join their names with string_agg.
WITH g AS (
    SELECT group_id, kind, kind_label,
           COUNT(*) AS member_count,
           MIN(county_code) AS any_county,
           MIN(COALESCE(authority_code, county_code)) AS unit_min,
           MAX(COALESCE(authority_code, county_code)) AS unit_max,
           SUM(CASE WHEN decision_state = '转学在办' THEN 1 ELSE 0 END) AS moving_count,
           MIN(city_code) AS city_min, MAX(city_code) AS city_max,
           MIN(province_code) AS province_min, MAX(province_code) AS province_max,
           SUM(CASE WHEN is_resolved THEN 1 ELSE 0 END) AS resolved_count,
           SUM(CASE WHEN decision_state = '待处理' THEN 1 ELSE 0 END) AS untouched_count,
           SUM(CASE WHEN decision_state = '再次重复' THEN 1 ELSE 0 END) AS reopened_count
    FROM dedup_members
    GROUP BY group_id, kind, kind_label
),
school_pairs AS (
    SELECT DISTINCT group_id, school_id FROM dedup_members WHERE school_id IS NOT NULL
),
school_stats AS (
    SELECT group_id, COUNT(*) AS n, MIN(school_id) AS lo, MAX(school_id) AS hi
    FROM school_pairs GROUP BY group_id
),
school_many AS (
    SELECT p.group_id, string_agg(p.school_id, '、' ORDER BY p.school_id) AS names
    FROM school_pairs p JOIN school_stats s ON s.group_id = p.group_id AND s.n > 2
    GROUP BY p.group_id
),
county_pairs AS (
    SELECT DISTINCT group_id, county_code FROM dedup_members WHERE county_code IS NOT NULL
),
county_stats AS (
    SELECT group_id, COUNT(*) AS n, MIN(county_code) AS lo, MAX(county_code) AS hi
    FROM county_pairs GROUP BY group_id
),
county_many AS (
    SELECT p.group_id, string_agg(p.county_code, '、' ORDER BY p.county_code) AS names
    FROM county_pairs p JOIN county_stats s ON s.group_id = p.group_id AND s.n > 2
    GROUP BY p.group_id
),
listed AS (
    SELECT g.*,
           COALESCE(ss.n, 0) AS school_count,
           CASE WHEN ss.n = 1 THEN ss.lo WHEN ss.n = 2 THEN ss.lo || '、' || ss.hi ELSE sm.names END AS schools,
           COALESCE(cs.n, 0) AS county_count,
           CASE WHEN cs.n = 1 THEN cs.lo WHEN cs.n = 2 THEN cs.lo || '、' || cs.hi ELSE cm.names END AS counties
    FROM g
    LEFT JOIN school_stats ss ON ss.group_id = g.group_id
    LEFT JOIN school_many sm ON sm.group_id = g.group_id
    LEFT JOIN county_stats cs ON cs.group_id = g.group_id
    LEFT JOIN county_many cm ON cm.group_id = g.group_id
),
firsts AS (
    SELECT group_id, record_key AS first_record_key, school_id AS first_school_id
    FROM dedup_members
    WHERE member_no = 1
),
routed AS (
    SELECT l.*,
           CASE WHEN l.unit_min = l.unit_max AND l.unit_min LIKE '%0000' THEN '省级'
                WHEN l.unit_min = l.unit_max AND l.unit_min LIKE '%00' THEN '地市'
                WHEN l.unit_min = l.unit_max THEN '区县'
                WHEN SUBSTR(l.unit_min, 1, 4) = SUBSTR(l.unit_max, 1, 4) THEN '地市'
                WHEN SUBSTR(l.unit_min, 1, 2) = SUBSTR(l.unit_max, 1, 2) THEN '省级'
                ELSE '教育部' END AS responsible_level,
           CASE WHEN l.unit_min = l.unit_max THEN l.unit_min
                WHEN SUBSTR(l.unit_min, 1, 4) = SUBSTR(l.unit_max, 1, 4) THEN SUBSTR(l.unit_min, 1, 4) || '00'
                WHEN SUBSTR(l.unit_min, 1, 2) = SUBSTR(l.unit_max, 1, 2) THEN SUBSTR(l.unit_min, 1, 2) || '0000'
                ELSE '000000' END AS responsible_unit
    FROM listed l
)
SELECT r.group_id,
       r.kind,
       r.kind_label,
       r.member_count,
       r.school_count,
       r.schools,
       r.county_count,
       r.counties,
       r.responsible_level,
       r.responsible_unit,
       CASE WHEN r.responsible_unit = '000000' THEN '教育部' ELSE rg.full_name END AS responsible_unit_name,
       f.first_record_key,
       f.first_school_id,
       CAST(r.resolved_count AS BIGINT) AS resolved_count,
       CASE WHEN r.reopened_count > 0 THEN '再次重复'
            WHEN r.resolved_count = r.member_count THEN '已解决'
            WHEN r.moving_count = r.member_count THEN '转学在办'
            WHEN r.untouched_count = r.member_count THEN '待处理'
            ELSE '处理中' END AS status
FROM routed r
JOIN firsts f ON f.group_id = r.group_id
LEFT JOIN regions rg ON rg.code6 = r.responsible_unit
