//! Synthetic 问题学籍 decisions (佐证 / 变更 / 删除 with the county's review and arbitration) for
//! about half of the planted official groups, one scenario each, with the state every member
//! and group must end in (truth/decisions.csv).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use rand::Rng;

use super::GenOptions;
use super::plant::{DupScope, Fuzzy, Plant};
use crate::schema::catalog;

/// A registration of a person whose registrations form an official problem group.
pub struct Member {
    pub person: u64,
    pub plant: Option<Plant>,
    pub school_id: String,
    pub registration_no: String,
    pub name: String,
}

/// The official kind of a planted group, and whether it spans counties.
pub(super) fn kind_of(p: Plant) -> Option<(u8, bool)> {
    match p {
        Plant::Dup(s, noid) => Some((
            if noid { 2 } else { 1 },
            matches!(s, DupScope::OtherCounty | DupScope::OtherProvince),
        )),
        Plant::Fuzzy(Fuzzy::IdFullWidth) => Some((1, false)),
        Plant::IdDefect(_) => Some((3, false)),
        _ => None,
    }
}

/// One application: (member index, action, county decision, arbiter decision).
type Step = (usize, &'static str, &'static str, &'static str);

type Scenario = (&'static str, &'static [Step], [&'static str; 2], &'static str);

/// A group nobody has handled yet.
const UNTOUCHED: Scenario = ("untouched", &[], ["待处理", "待处理"], "待处理");

/// Scenarios by kind, taken in turn: name, applications, and the expected state of each member (first, later).
fn scenarios(kind: u8, cross: bool) -> &'static [Scenario] {
    match (kind, cross) {
        (1, true) => &[
            (
                "delete_later",
                &[(1, "删除", "同意", "")],
                ["自动佐证通过", "已通过"],
                "已解决",
            ),
            (
                "arbitrated",
                &[(0, "佐证", "同意", "同意"), (1, "佐证", "同意", "不同意")],
                ["仲裁通过", "仲裁未通过"],
                "处理中",
            ),
            (
                "awaiting_arbitration",
                &[(0, "佐证", "同意", ""), (1, "佐证", "同意", "")],
                ["待上级仲裁", "待上级仲裁"],
                "处理中",
            ),
            (
                "refused",
                &[(1, "变更", "不同意", "")],
                ["待处理", "区县未通过"],
                "处理中",
            ),
            UNTOUCHED,
        ],
        (1, false) => &[
            (
                "delete_later",
                &[(1, "删除", "同意", "")],
                ["自动佐证通过", "已通过"],
                "已解决",
            ),
            (
                "attest_first",
                &[(0, "佐证", "同意", "")],
                ["已通过", "待处理"],
                "处理中",
            ),
            ("pending", &[(1, "变更", "", "")], ["待处理", "待区县审核"], "处理中"),
            // seed 002: within one county "只能通过一个,另外一个自动不通过" — the first approved passes.
            (
                "two_attests_one_county",
                &[(0, "佐证", "同意", ""), (1, "佐证", "同意", "")],
                ["已通过", "自动不通过"],
                "处理中",
            ),
            // seed 002: an attest still awaiting review fails once another has passed.
            (
                "attest_and_pending",
                &[(0, "佐证", "同意", ""), (1, "佐证", "", "")],
                ["已通过", "自动不通过"],
                "处理中",
            ),
            // seed 000 六: "删除——学校管理员发起删除学籍申请,系统自动审核通过": no county review.
            (
                "delete_unreviewed",
                &[(1, "删除", "", "")],
                ["自动佐证通过", "已通过"],
                "已解决",
            ),
            (
                "refused",
                &[(1, "变更", "不同意", "")],
                ["待处理", "区县未通过"],
                "处理中",
            ),
            UNTOUCHED,
        ],
        (2, _) => &[
            (
                "all_attest",
                &[(0, "佐证", "同意", ""), (1, "佐证", "同意", "")],
                ["已通过", "已通过"],
                "已解决",
            ),
            (
                "change_later",
                &[(1, "变更", "同意", "")],
                ["自动佐证通过", "已通过"],
                "已解决",
            ),
            UNTOUCHED,
        ],
        _ => &[
            ("change", &[(0, "变更", "同意", "")], ["已通过", ""], "已解决"),
            (
                "attest_not_allowed",
                &[(0, "佐证", "同意", "")],
                ["处理方式不允许", ""],
                "处理中",
            ),
            UNTOUCHED,
        ],
    }
}

/// Write `dedup_decisions.csv` and `truth/decisions.csv`; returns the number of applications.
pub fn write(o: &GenOptions, members: &[Member], year: i32, rng: &mut impl Rng) -> Result<u64> {
    let t = &catalog().dedup_decisions;
    let col = |n: &str| {
        t.columns
            .iter()
            .position(|c| c.name == n)
            .expect("dedup_decisions column")
    };
    let mut w = csv::Writer::from_path(o.out.join("dedup_decisions.csv"))?;
    w.write_record(t.columns.iter().map(|c| c.header.as_str()))?;
    let mut truth = csv::Writer::from_path(o.out.join("truth/decisions.csv"))?;
    truth.write_record([
        "person_id",
        "school_id",
        "registration_no",
        "kind",
        "scenario",
        "member_state",
        "group_status",
    ])?;
    let mut by_person: BTreeMap<u64, Vec<&Member>> = BTreeMap::new();
    for m in members {
        by_person.entry(m.person).or_default().push(m);
    }
    let mut turn: BTreeMap<(u8, bool), usize> = BTreeMap::new();
    let mut n = 0u64;
    for (person, regs) in by_person {
        let Some((kind, cross)) = regs.iter().find_map(|m| m.plant.and_then(kind_of)) else {
            continue;
        };
        // Kind 3 is the planted registration alone; kinds 1 and 2 are the original and its copy.
        let regs: Vec<&Member> = if kind == 3 {
            regs.iter().copied().filter(|m| m.plant.is_some()).collect()
        } else {
            regs
        };
        if regs.len() != if kind == 3 { 1 } else { 2 } {
            continue;
        }
        let list = scenarios(kind, cross);
        let k = turn.entry((kind, cross)).or_default();
        let (name, steps, states, status) = list[*k % list.len()];
        *k += 1;
        let apply =
            NaiveDate::from_ymd_opt(year, 9, 20).expect("date") + chrono::Duration::days(rng.random_range(0..10));
        for &(who, action, county, arbiter) in steps {
            let m = regs[who];
            n += 1;
            let mut r = vec![String::new(); t.columns.len()];
            r[col("decision_id")] = format!("WT{year}{n:08}");
            r[col("school_id")] = m.school_id.clone();
            r[col("registration_no")] = m.registration_no.clone();
            r[col("name")] = m.name.clone();
            r[col("problem_kind")] =
                ["身份证件号重复", "姓名性别出生日期重复", "身份证件号错误"][kind as usize - 1].into();
            r[col("action")] = action.into();
            r[col("apply_date")] = apply.format("%Y%m%d").to_string();
            r[col("note")] = match action {
                "佐证" => "已上传户口簿与出生证明",
                "变更" => "已按户口簿更正",
                _ => "重复录入，申请删除",
            }
            .into();
            if !county.is_empty() {
                r[col("county_decision")] = county.into();
                r[col("county_time")] = (apply + chrono::Duration::days(3)).format("%Y%m%d").to_string();
            }
            if !arbiter.is_empty() {
                r[col("arbiter_decision")] = arbiter.into();
                r[col("arbiter_time")] = (apply + chrono::Duration::days(10)).format("%Y%m%d").to_string();
            }
            w.write_record(&r)?;
        }
        for (i, m) in regs.iter().enumerate() {
            truth.write_record([
                person.to_string().as_str(),
                &m.school_id,
                &m.registration_no,
                &kind.to_string(),
                name,
                states[i],
                status,
            ])?;
        }
    }
    w.flush()?;
    truth.flush()?;
    Ok(n)
}
