-- model:  school_regions
-- inputs: schools, regions
-- schema: school_regions
-- grain:  一所学校 / one school
--
-- Each school with its county, city and province, codes and names: the region columns every
-- statistics mart carries, joined here once.
SELECT sc.school_id,
       sc.school_name,
       substr(sc.county_code, 1, 2) AS province_code,
       p.name AS province_name,
       substr(sc.county_code, 1, 4) AS city_code,
       c.name AS city_name,
       sc.county_code,
       k.name AS county_name
FROM schools sc
LEFT JOIN regions p ON p.code = substr(sc.county_code, 1, 2)
LEFT JOIN regions c ON c.code = substr(sc.county_code, 1, 4)
LEFT JOIN regions k ON k.code = sc.county_code
