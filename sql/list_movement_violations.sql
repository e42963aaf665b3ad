-- model:  list_movement_violations
-- inputs: movement_checks
-- schema: list_movement_violations
-- grain:  一条学籍异动的一项问题 / one finding on one movement
--
-- Movements that break a rule only visible across records or over time:
--   V1 暑期暂停期内发起转学     (transfer applied for inside the freeze; not withdrawn)
--   V2 休学期间申请转学         (a 休学 pupil must 复学 before a transfer)
--   V3 审核超期                 (waiting more than 14 days at one unit)
--   V4 原学校快照中无此学籍     (the sending school's snapshot lacks the registration)
--   V5 毕业年级业务暂停期内申请 (a graduating pupil's application in the pause of 毕业、升级)
--   V6 毕业后跨省就学不在办理时段 (seed 003: 8月15日至12月14日、3月1日至5月31日)
--   V7 毕业前待清理的在办业务   (an application still 待审核 for a pupil in the graduating grade)
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V1' AS kind_code, '暑期暂停期内发起转学' AS kind
FROM movement_checks WHERE in_freeze_window AND status <> '已撤销'
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V2', '休学期间申请转学（应先复学）'
FROM movement_checks WHERE suspended_at_apply
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V3', '审核超期（单个环节超过14天）'
FROM movement_checks WHERE status = '待审核' AND days_waiting > 14
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V4', '原学校快照中无此学籍'
FROM movement_checks WHERE NOT registered
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V5', '毕业年级业务暂停期内申请'
FROM movement_checks WHERE graduating_pause AND status <> '已撤销'
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V6', '毕业后跨省就学不在办理时段（8月15日至12月14日、3月1日至5月31日）'
FROM movement_checks WHERE outside_graduate_window AND status <> '已撤销'
UNION ALL
SELECT movement_id, registration_no, name, movement_type, status, from_school_id, from_school_name, apply_date,
       current_handler, handler_name, days_waiting, 'V7', '毕业前待清理的在办业务'
FROM movement_checks WHERE open_at_graduation
