-- model:  movement_checks
-- inputs: movements, schools, students, student_status, list_graduates, regions, ref_calendar
-- schema: movement_checks
-- grain:  一条学籍异动 / one movement application
--
-- Every movement with what the lists of pending transfers and of violations need:
--   flow              a transfer's flow from the two schools' counties: 1 同县, 2 省内跨县, 3 跨省
--                     (the approval chain of each is checked row by row on import); a transfer
--                     with one school outside the school master comes from or goes to another
--                     province (a province's master lists its own schools only): 3;
--   handler           who must act next (当前处理单位) as a unit: a school by its 学校标识码, a
--                     bureau by the 主管教育行政部门代码 of the school it stands for, or 教育部;
--   days_waiting      days since the last action (the latest approval step, or the application);
--   in_freeze_window  a transfer applied for inside the summer freeze of its year
--                     (schemas/reference/calendar.csv, transfer_freeze: a row for the year
--                     replaces the default rows);
--   suspended_at_apply  the pupil's latest approved movement before the application is 休学,
--                     so the transfer came before 复学 (a 休学 pupil must 复学 first);
--   registered        the registration is in the sending school's snapshot, or is one of its
--                     graduates (list_graduates) that the school no longer lists;
--   graduating_pause  applied for inside the graduating grades' pause of the pupil's graduation
--                     year (ref_calendar graduating_pause: 毕业年级业务暂停, for 毕业、升级);
--   outside_graduate_window  a transfer to another province applied for after the pupil's
--                     graduation outside the windows for study in another province after
--                     graduation (seed 003: "毕业后跨省留学新业务上线时间限于8月15日0:00至12月14日
--                     24:00、3月1日0:00至5月31日24:00"; ref_calendar cross_province_after_graduation);
--   open_at_graduation  still 待审核 while the pupil is in the graduating grade, or applied for
--                     before a graduation that has since passed: 在办业务清理.
-- A window row for a year replaces the every-year (*) rows of that window.
WITH m AS (
    SELECT m.*, f.county_code AS from_county_code, f.authority_code AS from_authority, f.school_name AS from_school_name,
           t.county_code AS to_county_code, t.authority_code AS to_authority, t.school_name AS to_school_name,
           CASE WHEN m.movement_type <> '转学' THEN NULL
                WHEN f.county_code IS NOT NULL AND t.county_code IS NOT NULL THEN
                     CASE WHEN f.county_code = t.county_code THEN 1
                          WHEN substr(f.county_code, 1, 2) = substr(t.county_code, 1, 2) THEN 2
                          ELSE 3 END
                WHEN (f.county_code IS NULL) <> (t.county_code IS NULL) AND m.to_school_id IS NOT NULL THEN 3
           END AS flow_code
    FROM movements m
    LEFT JOIN schools f ON f.school_id = m.from_school_id
    LEFT JOIN schools t ON t.school_id = m.to_school_id
),
years AS (
    SELECT DISTINCT CAST(date_part('year', apply_date) AS BIGINT) AS yr FROM movements WHERE apply_date IS NOT NULL
),
cal AS (
    SELECT "window" AS w_, CAST(year AS VARCHAR) AS y_, "start" AS s_, "end" AS e_ FROM ref_calendar
),
own_year AS (
    SELECT DISTINCT w_ AS ow_, y_ AS oy_ FROM cal WHERE y_ <> '*'
),
cal_years AS (
    -- Every window's rows in every year an application falls in.
    SELECT c.w_, y.yr, c.s_, c.e_ FROM years y JOIN cal c ON c.y_ = CAST(y.yr AS VARCHAR)
    UNION ALL
    SELECT c.w_, y.yr, c.s_, c.e_
    FROM years y
    JOIN cal c ON c.y_ = '*'
    LEFT JOIN own_year o ON o.ow_ = c.w_ AND o.oy_ = CAST(y.yr AS VARCHAR)
    WHERE o.ow_ IS NULL
),
periods AS (
    SELECT w_, yr, make_date(yr, CAST(substr(s_, 1, 2) AS BIGINT), CAST(substr(s_, 4, 2) AS BIGINT)) AS s_,
           make_date(yr, CAST(substr(e_, 1, 2) AS BIGINT), CAST(substr(e_, 4, 2) AS BIGINT)) AS e_
    FROM cal_years
),
in_window AS (
    SELECT DISTINCT m.movement_id, p.w_
    FROM movements m
    JOIN periods p ON p.yr = CAST(date_part('year', m.apply_date) AS BIGINT)
    WHERE m.apply_date >= p.s_ AND m.apply_date <= p.e_
),
frozen AS (
    SELECT w.movement_id FROM in_window w JOIN movements m ON m.movement_id = w.movement_id
    WHERE w.w_ = 'transfer_freeze' AND m.movement_type = '转学'
),
pupil AS (
    -- The pupil's graduation, from the sending school's registration.
    SELECT registration_no, school_id, MIN(graduation_year) AS graduation_year, MIN(graduation_date) AS graduation_date,
           bool_or(graduating) AS graduating
    FROM (
        SELECT registration_no, school_id, graduation_year, graduation_date, graduating FROM student_status
        UNION ALL
        SELECT registration_no, school_id, graduation_year, graduation_date, false FROM list_graduates
        WHERE source = '学校已不再报送'
    )
    WHERE registration_no IS NOT NULL
    GROUP BY registration_no, school_id
),
before_apply AS (
    -- The latest approved movement of the pupil that took effect before each application.
    SELECT movement_id, prev_type
    FROM (
        SELECT a.movement_id, b.movement_type AS prev_type,
               ROW_NUMBER() OVER (PARTITION BY a.movement_id ORDER BY b.effective_date DESC, b.movement_id DESC) AS rn
        FROM movements a
        JOIN movements b ON b.registration_no = a.registration_no AND b.movement_id <> a.movement_id
        WHERE b.status = '审核通过' AND b.effective_date IS NOT NULL AND b.effective_date < a.apply_date
    )
    WHERE rn = 1
),
registered AS (
    SELECT registration_no, school_id FROM students
    UNION
    SELECT registration_no, school_id FROM list_graduates WHERE source = '学校已不再报送'
)
SELECT m.movement_id,
       m.registration_no,
       m.name,
       m.movement_type,
       m.status,
       m.from_school_id,
       m.from_school_name,
       m.from_county_code,
       m.to_school_id,
       m.to_school_name,
       m.to_county_code,
       m.flow_code,
       CASE m.flow_code WHEN 1 THEN '同县转学' WHEN 2 THEN '省内跨县转学' WHEN 3 THEN '跨省转学' END AS flow,
       m.apply_date,
       m.effective_date,
       m.current_handler,
       CASE m.current_handler
            WHEN '转入学校' THEN m.to_school_id
            WHEN '转出学校' THEN m.from_school_id
            WHEN '学校' THEN m.from_school_id
            WHEN '转入教育局' THEN m.to_authority
            WHEN '转出教育局' THEN m.from_authority
            WHEN '主管教育局' THEN m.from_authority
            WHEN '教育部' THEN '000000' END AS handler_code,
       CASE m.current_handler
            WHEN '转入学校' THEN m.to_school_name
            WHEN '转出学校' THEN m.from_school_name
            WHEN '学校' THEN m.from_school_name
            WHEN '转入教育局' THEN COALESCE(ti.full_name, m.to_authority) || '教育局'
            WHEN '转出教育局' THEN COALESCE(fi.full_name, m.from_authority) || '教育局'
            WHEN '主管教育局' THEN COALESCE(fi.full_name, m.from_authority) || '教育局'
            WHEN '教育部' THEN '教育部' END AS handler_name,
       greatest(m.apply_date, m.step1_time, m.step2_time, m.step3_time, m.step4_time, m.step5_time) AS last_action_date,
       m.as_of_date - greatest(m.apply_date, m.step1_time, m.step2_time, m.step3_time, m.step4_time, m.step5_time) AS days_waiting,
       m.as_of_date - m.apply_date AS days_since_apply,
       fz.movement_id IS NOT NULL AS in_freeze_window,
       COALESCE(m.movement_type = '转学' AND b.prev_type = '休学', false) AS suspended_at_apply,
       r.registration_no IS NOT NULL AS registered,
       COALESCE(pz.movement_id IS NOT NULL AND CAST(date_part('year', m.apply_date) AS BIGINT) = pu.graduation_year, false) AS graduating_pause,
       COALESCE(m.flow_code = 3 AND m.apply_date >= pu.graduation_date AND gw.movement_id IS NULL, false)
           AS outside_graduate_window,
       COALESCE(m.status = '待审核' AND (pu.graduating OR (m.apply_date < pu.graduation_date AND pu.graduation_date <= m.as_of_date)),
                false) AS open_at_graduation
FROM m
LEFT JOIN frozen fz ON fz.movement_id = m.movement_id
LEFT JOIN pupil pu ON pu.registration_no = m.registration_no AND pu.school_id = m.from_school_id
LEFT JOIN in_window pz ON pz.movement_id = m.movement_id AND pz.w_ = 'graduating_pause'
LEFT JOIN in_window gw ON gw.movement_id = m.movement_id AND gw.w_ = 'cross_province_after_graduation'
LEFT JOIN before_apply b ON b.movement_id = m.movement_id
LEFT JOIN registered r ON r.registration_no = m.registration_no AND r.school_id = m.from_school_id
LEFT JOIN regions fi ON fi.code6 = m.from_authority
LEFT JOIN regions ti ON ti.code6 = m.to_authority
