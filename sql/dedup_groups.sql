-- model:  dedup_groups
-- inputs: dedup_members, regions
-- schema: dedup_groups
-- grain:  一个问题组 / one problem group
--
-- Who decides: the lowest common superior of the members' schools (by 属地区县): all in one
-- county → that county; one city → the city; one province → the province; else 教育部.
-- 先入者保有: the first registered member (member_no = 1) is named for police-made duplicates.
-- Status: 待处理 (no member handled), 处理中, 已解决 (every member resolved), 再次重复 (a
-- resolved member collides with new data).
WITH g AS (
    SELECT group_id, kind, kind_label,
           COUNT(*) AS member_count,
           COUNT(DISTINCT school_id) AS school_count,
           COUNT(DISTINCT county_code) AS county_count,
           COUNT(DISTINCT city_code) AS city_count,
           COUNT(DISTINCT province_code) AS province_count,
           MIN(county_code) AS any_county,
           SUM(CASE WHEN is_resolved THEN 1 ELSE 0 END) AS resolved_count,
           SUM(CASE WHEN decision_state = '待处理' THEN 1 ELSE 0 END) AS untouched_count,
           SUM(CASE WHEN decision_state = '再次重复' THEN 1 ELSE 0 END) AS reopened_count
    FROM dedup_members
    GROUP BY group_id, kind, kind_label
),
school_list AS (
    SELECT group_id, string_agg(school_id, '、' ORDER BY school_id) AS schools
    FROM (SELECT DISTINCT group_id, school_id FROM dedup_members)
    GROUP BY group_id
),
county_list AS (
    SELECT group_id, string_agg(county_code, '、' ORDER BY county_code) AS counties
    FROM (SELECT DISTINCT group_id, county_code FROM dedup_members WHERE county_code IS NOT NULL)
    GROUP BY group_id
),
firsts AS (
    SELECT group_id, record_key AS first_record_key, school_id AS first_school_id
    FROM dedup_members
    WHERE member_no = 1
),
routed AS (
    SELECT g.*,
           CASE WHEN g.county_count = 1 THEN '区县'
                WHEN g.city_count = 1 THEN '地市'
                WHEN g.province_count = 1 THEN '省级'
                ELSE '教育部' END AS responsible_level,
           CASE WHEN g.county_count = 1 THEN g.any_county
                WHEN g.city_count = 1 THEN SUBSTR(g.any_county, 1, 4) || '00'
                WHEN g.province_count = 1 THEN SUBSTR(g.any_county, 1, 2) || '0000'
                ELSE '000000' END AS responsible_unit
    FROM g
)
SELECT r.group_id,
       r.kind,
       r.kind_label,
       r.member_count,
       r.school_count,
       s.schools,
       r.county_count,
       c.counties,
       r.responsible_level,
       r.responsible_unit,
       CASE WHEN r.responsible_unit = '000000' THEN '教育部' ELSE rg.full_name END AS responsible_unit_name,
       f.first_record_key,
       f.first_school_id,
       CAST(r.resolved_count AS BIGINT) AS resolved_count,
       CASE WHEN r.reopened_count > 0 THEN '再次重复'
            WHEN r.resolved_count = r.member_count THEN '已解决'
            WHEN r.untouched_count = r.member_count THEN '待处理'
            ELSE '处理中' END AS status
FROM routed r
JOIN school_list s ON s.group_id = r.group_id
LEFT JOIN county_list c ON c.group_id = r.group_id
JOIN firsts f ON f.group_id = r.group_id
LEFT JOIN regions rg ON rg.code6 = r.responsible_unit
