//! Synthetic 学籍异动: every movement type; transfers in all three flows with their approval
//! chains (approved, pending at each unit, refused), some started inside the summer freeze window.

use anyhow::Result;
use chrono::NaiveDate;
use rand::Rng;

use super::GenOptions;
use super::world::School;
use crate::cols::MovementCols;
use crate::ingest::validate::{movement_chain, movement_chains};
use crate::schema::catalog;

const OTHER_TYPES: &[(&str, u32)] = &[
    ("休学", 14),
    ("复学", 8),
    ("调班", 8),
    ("跳级", 2),
    ("死亡", 1),
    ("失踪", 1),
    ("出国", 4),
    ("回国复学", 2),
    ("恢复入学资格", 2),
    ("其他离校", 4),
    ("退学", 3),
    ("留级", 2),
    ("开除", 1),
    ("批量转学", 1),
];

/// The pupil's status at the school it leaves once a movement of this type is approved.
fn status_after(mtype: &str) -> &'static str {
    match mtype {
        "转学" | "批量转学" => "转出",
        "休学" => "休学",
        "死亡" => "死亡",
        "失踪" => "失踪",
        "出国" => "出国",
        "其他离校" => "其他离校",
        "退学" => "退学",
        "开除" => "开除",
        _ => "在校",
    }
}

/// `sample`: (学籍号, 姓名, school index, stage, person id) of pupils that move.
pub fn write(
    o: &GenOptions,
    schools: &[School],
    sample: &[(String, String, usize, u8, u64)],
    year: i32,
    rng: &mut impl Rng,
) -> Result<u64> {
    let t = &catalog().movements;
    let c = MovementCols::new(t);
    let mut w = csv::Writer::from_path(o.out.join("movements.csv"))?;
    w.write_record(t.columns.iter().map(|c| c.header.as_str()))?;
    let mut truth = csv::Writer::from_path(o.out.join("truth/movements.csv"))?;
    truth.write_record([
        "movement_id",
        "person_id",
        "registration_no",
        "school_id",
        "movement_type",
        "flow",
        "in_freeze_window",
        "status",
        "expect_pupil_status",
        "suspended_at_apply",
    ])?;
    let start = NaiveDate::from_ymd_opt(year - 1, 9, 1).expect("date");
    let days = (o.as_of - start).num_days().max(30);
    let mut n = 0u64;
    for (k, (regno, name, si, stage, person)) in sample.iter().enumerate() {
        let from = &schools[*si];
        let mut r = vec![String::new(); c.len];
        let id = format!("YD{}{:08}", year, k + 1);
        r[c.movement_id] = id.clone();
        r[c.registration_no] = regno.clone();
        r[c.name] = name.clone();
        r[c.from_school_id] = from.id.clone();
        let mut apply = start + chrono::Duration::days(rng.random_range(0..days - 20));
        let transfer = rng.random_bool(0.5);
        let (mtype, flow, units): (&str, u8, Vec<&str>) = if transfer {
            let cands: Vec<&School> = schools
                .iter()
                .filter(|s| s.id != from.id && s.stages.contains(stage))
                .collect();
            let Some(to) = (!cands.is_empty()).then(|| cands[rng.random_range(0..cands.len())]) else {
                continue;
            };
            r[c.to_school_id] = to.id.clone();
            let flow = if to.county == from.county {
                1
            } else if to.province == from.province {
                2
            } else {
                3
            };
            // A few transfers start inside 7/15–8/14, which the rules forbid.
            if rng.random_bool(0.05) {
                apply = NaiveDate::from_ymd_opt(year, 7, 15).expect("date")
                    + chrono::Duration::days(rng.random_range(0..31));
            }
            // Every other cross-province transfer follows the four parties of seed 000 第二篇
            // (no 教育部 step), the rest the routed chain of 第一篇.
            let chain = if flow == 3 && k % 2 == 1 {
                movement_chains(3)[1]
            } else {
                movement_chain(flow)
            };
            ("转学", flow, chain.to_vec())
        } else {
            let total: u32 = OTHER_TYPES.iter().map(|x| x.1).sum();
            let mut x = rng.random_range(0..total);
            let mut ty = OTHER_TYPES[0].0;
            for (name, wgt) in OTHER_TYPES {
                if x < *wgt {
                    ty = name;
                    break;
                }
                x -= wgt;
            }
            // 义务教育 has no 退学, 开除 or 留级.
            if *stage < 3 && matches!(ty, "退学" | "开除" | "留级") {
                ty = "其他离校";
            }
            (ty, 0, movement_chain(0).to_vec())
        };
        r[c.movement_type] = mtype.into();
        r[c.apply_date] = apply.format("%Y%m%d").to_string();
        r[c.reason] = if transfer {
            "随父母工作调动"
        } else {
            "家长申请"
        }
        .into();
        let outcome = rng.random_range(0..100);
        let (done, refused) = match outcome {
            0..70 => (units.len(), false),
            70..90 => (rng.random_range(0..units.len()), false),
            _ => (rng.random_range(1..=units.len()), true),
        };
        let step_cols = [
            (c.step1_unit, c.step1_decision, c.step1_time),
            (c.step2_unit, c.step2_decision, c.step2_time),
            (c.step3_unit, c.step3_decision, c.step3_time),
            (c.step4_unit, c.step4_decision, c.step4_time),
            (c.step5_unit, c.step5_decision, c.step5_time),
        ];
        let mut when = apply;
        for (i, unit) in units.iter().enumerate().take(done) {
            when = (when + chrono::Duration::days(rng.random_range(0..6))).min(o.as_of);
            let (u, d, tm) = step_cols[i];
            r[u] = (*unit).into();
            r[d] = if refused && i + 1 == done {
                "不同意"
            } else {
                "同意"
            }
            .into();
            r[tm] = when.format("%Y%m%d").to_string();
        }
        let status = if refused {
            "审核不通过"
        } else if done == units.len() {
            r[c.effective_date] = when.format("%Y%m%d").to_string();
            "审核通过"
        } else {
            r[c.current_handler] = units[done].into();
            "待审核"
        };
        r[c.status] = status.into();
        w.write_record(&r)?;
        let in_window = transfer && catalog().calendar.contains("transfer_freeze", apply);
        let pupil_status = if status == "审核通过" {
            status_after(mtype)
        } else {
            "在校"
        };
        truth.write_record([
            id.as_str(),
            &person.to_string(),
            regno,
            &from.id,
            mtype,
            &flow.to_string(),
            if in_window { "1" } else { "0" },
            status,
            pupil_status,
            "0",
        ])?;
        n += 1;
        // Some pupils on 休学 apply for a transfer before 复学, which the rules forbid: the
        // application waits at the receiving school and the pupil stays 休学.
        if mtype == "休学"
            && status == "审核通过"
            && when < o.as_of
            && rng.random_bool(0.3)
            && let Some(to) = schools
                .iter()
                .find(|s| s.id != from.id && s.county == from.county && s.stages.contains(stage))
        {
            let mut t2 = vec![String::new(); c.len];
            let id2 = format!("YD{}S{:07}", year, k + 1);
            t2[c.movement_id] = id2.clone();
            t2[c.registration_no] = regno.clone();
            t2[c.name] = name.clone();
            t2[c.from_school_id] = from.id.clone();
            t2[c.to_school_id] = to.id.clone();
            t2[c.movement_type] = "转学".into();
            let a2 = (when + chrono::Duration::days(rng.random_range(1..30))).min(o.as_of);
            t2[c.apply_date] = a2.format("%Y%m%d").to_string();
            t2[c.reason] = "随父母工作调动".into();
            t2[c.current_handler] = movement_chain(1)[0].into();
            t2[c.status] = "待审核".into();
            w.write_record(&t2)?;
            let frozen = crate::schema::catalog().calendar.contains("transfer_freeze", a2);
            truth.write_record([
                id2.as_str(),
                &person.to_string(),
                regno,
                &from.id,
                "转学",
                "1",
                if frozen { "1" } else { "0" },
                "待审核",
                "休学",
                "1",
            ])?;
            n += 1;
        }
    }
    w.flush()?;
    truth.flush()?;
    Ok(n)
}
