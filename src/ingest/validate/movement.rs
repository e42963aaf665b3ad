//! The rules of a movement (学籍异动): its approval chain by flow, the units and times of its
//! steps, its status and handler, and the transfer freeze.

use super::*;

/// The approval chain of a movement (DOMAIN.md §Statuses and movements): flow 0 is any movement
/// other than a transfer (school, then its bureau); flows 1–3 are transfers in one county, in one
/// province, across provinces.
pub fn movement_chain(flow: u8) -> &'static [&'static str] {
    match flow {
        0 => &["学校", "主管教育局"],
        1 => &["转入学校", "转出学校", "主管教育局"],
        2 => &["转入学校", "转入教育局", "转出学校", "转出教育局"],
        _ => &["转入学校", "转入教育局", "教育部", "转出学校", "转出教育局"],
    }
}

/// The cross-province chain as seed 000 第二篇 describes it: four parties, no 教育部 step
/// (“四、转入学校学籍主管部门在学籍系统中核办。五、转出学校在学籍系统中核办。六、转出学校学籍主管部门在学籍系统中
/// 核办。七、转入学校获得其他三方同意信息后”), beside the routed form of 第一篇.
const CROSS_PROVINCE_FOUR_PARTIES: &[&str] = &["转入学校", "转入教育局", "转出学校", "转出教育局"];

/// The chains a movement of `flow` may follow: one, or for a transfer across provinces the
/// routed chain (with 教育部) and the four-party one.
pub fn movement_chains(flow: u8) -> Vec<&'static [&'static str]> {
    match flow {
        3 => vec![movement_chain(3), CROSS_PROVINCE_FOUR_PARTIES],
        f => vec![movement_chain(f)],
    }
}

/// The chain a movement's filled steps follow: the first that agrees with every unit filled in
/// (`units`, empty where not filled) and, when one step is pending, with the current handler.
fn pick_chain(options: Vec<&'static [&'static str]>, units: &[&str], handler: &str) -> &'static [&'static str] {
    let fits = |c: &&[&str]| {
        units
            .iter()
            .enumerate()
            .all(|(k, u)| u.is_empty() || c.get(k) == Some(u))
    };
    let done = units.iter().take_while(|u| !u.is_empty()).count();
    options
        .iter()
        .copied()
        .filter(fits)
        .find(|c| handler.is_empty() || c.get(done).is_none_or(|h| *h == handler))
        .or_else(|| options.iter().copied().find(fits))
        .unwrap_or(options[0])
}

/// A transfer's flow from the two schools' counties: 1 same county, 2 same province, 3 other province.
pub fn transfer_flow(from_county: &str, to_county: &str) -> u8 {
    if from_county == to_county {
        1
    } else if from_county.get(..2) == to_county.get(..2) {
        2
    } else {
        3
    }
}

impl Validator {
    /// A movement on its own: the type against the school's stages, a transfer's destination,
    /// the approval chain of its flow (units in order, no step after a refusal, times in order),
    /// the status and current handler against the steps, the 异动日期; a transfer applied for
    /// inside the summer freeze is listed (warning), since ones started earlier may continue.
    pub(super) fn movement_rules(&self, c: &MovementCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        let date = |i: usize| if ok(i) { idcard::parse_yyyymmdd(&v[i]) } else { None };
        let lookup = |i: usize| -> (Option<&SchoolInfo>, bool) {
            if !ok(i) || self.schools.is_empty() {
                return (None, false);
            }
            let s = self.schools.get(&v[i]);
            (s, s.is_none())
        };
        let ((from, from_unknown), (to, to_unknown)) = (lookup(c.from_school_id), lookup(c.to_school_id));
        let transfer = v[c.movement_type] == "转学";
        // A province's school master holds its own schools only: a transfer with one school outside
        // it comes from or goes to another province (seed 000 第二篇, 跨省转学), and is kept with a
        // warning; a school the pupil is registered in must be known.
        let outside = transfer && (from_unknown != to_unknown);
        for (i, unknown) in [(c.from_school_id, from_unknown), (c.to_school_id, to_unknown)] {
            if unknown && outside {
                out.push(self.err(
                    i,
                    v,
                    "W_SCHOOL_OTHER_PROVINCE",
                    "按外省学校处理；若是本省学校，请核对学校标识码",
                ));
            } else if unknown {
                out.push(self.err(i, v, "R_SCHOOL_UNKNOWN", "学校名录中的学校标识码"));
            }
        }
        if bad[c.movement_type] || v[c.movement_type].is_empty() {
            return;
        }
        let mtype = v[c.movement_type].as_str();
        let list = self.lists[c.movement_type].expect("movement_type has a code list");
        let senior_only = list
            .lookup(mtype)
            .iter()
            .any(|&k| list.values[k].stage.as_deref() == Some("senior"));
        if senior_only && from.is_some_and(|s| !s.stages.contains(&3)) {
            out.push(self.err(
                c.movement_type,
                v,
                "R_TYPE_STAGE",
                "转学、休学、复学、死亡、其他离校等义务教育阶段允许的类型",
            ));
        }
        if transfer && (v[c.to_school_id].is_empty() || v[c.to_school_id] == v[c.from_school_id]) {
            out.push(self.err(c.to_school_id, v, "R_TO_SCHOOL", "与原学校不同的转入学校标识码"));
        }
        let units: Vec<&str> = [c.step1_unit, c.step2_unit, c.step3_unit, c.step4_unit, c.step5_unit]
            .map(|i| v[i].as_str())
            .to_vec();
        let chain = if transfer {
            let flow = match (from, to) {
                (Some(a), Some(b)) => Some(transfer_flow(&a.county, &b.county)),
                _ if outside => Some(3),
                _ => None,
            };
            flow.map(|f| pick_chain(movement_chains(f), &units, &v[c.current_handler]))
        } else {
            Some(movement_chain(0))
        };
        let steps = [
            (c.step1_unit, c.step1_decision, c.step1_time),
            (c.step2_unit, c.step2_decision, c.step2_time),
            (c.step3_unit, c.step3_decision, c.step3_time),
            (c.step4_unit, c.step4_decision, c.step4_time),
            (c.step5_unit, c.step5_decision, c.step5_time),
        ];
        let mut done = 0usize;
        let mut refused = false;
        let mut gap = false;
        let mut prev_time = date(c.apply_date);
        let mut step_ok = true;
        for (k, &(u, d, t)) in steps.iter().enumerate() {
            let filled = [u, d, t].map(|i| !v[i].is_empty());
            if filled == [false; 3] {
                gap = true;
                continue;
            }
            if gap {
                out.push(self.err(u, v, "R_STEP_GAP", format!("先填写审核{}", k)));
                step_ok = false;
                break;
            }
            if let Some(i) = [u, d, t].into_iter().find(|&i| v[i].is_empty()) {
                out.push(self.err(i, v, "R_STEP_INCOMPLETE", "单位、意见、时间三项齐全"));
                step_ok = false;
                break;
            }
            if [u, d, t].into_iter().any(|i| bad[i]) {
                step_ok = false;
                break;
            }
            if refused {
                out.push(self.err(u, v, "R_STEP_AFTER_REFUSAL", "空"));
                step_ok = false;
                break;
            }
            if let Some(chain) = chain
                && chain.get(k) != Some(&v[u].as_str())
            {
                out.push(self.err(
                    u,
                    v,
                    "R_STEP_ORDER",
                    format!(
                        "审核{}应为“{}”（流程：{}）",
                        k + 1,
                        chain.get(k).unwrap_or(&"（无）"),
                        chain.join(" → ")
                    ),
                ));
                step_ok = false;
                break;
            }
            let t_ = date(t);
            if let (Some(p), Some(x)) = (prev_time, t_)
                && x < p
            {
                out.push(self.err(t, v, "R_STEP_TIME", format!("不早于 {}", p.format("%Y%m%d"))));
                step_ok = false;
                break;
            }
            prev_time = t_.or(prev_time);
            refused = v[d] == "不同意";
            done = k + 1;
        }
        if step_ok
            && let Some(chain) = chain
            && ok(c.status)
        {
            let status = v[c.status].as_str();
            let want = if refused {
                "审核不通过"
            } else if done == chain.len() {
                "审核通过"
            } else {
                "待审核"
            };
            if status != want && status != "已撤销" {
                out.push(self.err(c.status, v, "R_STATUS", format!("按已填的审核步骤应为“{want}”")));
            } else if status == "待审核" && v[c.current_handler] != chain[done] {
                out.push(self.err(c.current_handler, v, "R_HANDLER", chain[done]));
            }
        }
        let (apply, effective) = (date(c.apply_date), date(c.effective_date));
        if ok(c.status) && v[c.status] == "审核通过" && effective.is_none() && !bad[c.effective_date] {
            out.push(self.err(c.effective_date, v, "R_EFFECTIVE_DATE", "审核通过的异动须填写异动日期"));
        } else if let (Some(a), Some(e)) = (apply, effective)
            && e < a
        {
            out.push(self.err(
                c.effective_date,
                v,
                "R_EFFECTIVE_DATE",
                format!("不早于申请日期 {}", a.format("%Y%m%d")),
            ));
        }
        if transfer
            && let Some(a) = apply
            && self.cat.calendar.contains("transfer_freeze", a)
        {
            out.push(self.err(c.apply_date, v, "W_TRANSFER_FREEZE", "暂停期以外的日期"));
        }
    }
}
