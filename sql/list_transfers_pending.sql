-- model:  list_transfers_pending
-- inputs: movement_checks
-- schema: list_transfers_pending
-- grain:  一条待审核的转学申请 / one transfer waiting for approval
--
-- 转学待办: transfers waiting for a unit, grouped by 当前处理单位 (a report prints one page per
-- unit), with days waiting and the flow. Each unit has 10 working days (about 14 calendar days):
-- longer is `overdue`, which the bureau above may escalate (强制干预). Transfers applied for
-- inside the summer freeze, or while the pupil was 休学, are flagged.
SELECT handler_code,
       handler_name,
       current_handler,
       movement_id,
       registration_no,
       name,
       from_school_id,
       from_school_name,
       to_school_id,
       to_school_name,
       flow_code,
       flow,
       apply_date,
       last_action_date,
       days_waiting,
       days_since_apply,
       days_waiting > 14 AS overdue,
       in_freeze_window,
       suspended_at_apply
FROM movement_checks
WHERE movement_type = '转学' AND status = '待审核'
