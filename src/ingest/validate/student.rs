//! The rules of a registration row (学籍): its school, class and cohort, the fields of its
//! stage, the ID number and the family members.

use super::*;

fn school_year(d: NaiveDate) -> i32 {
    if d.month() >= 9 { d.year() } else { d.year() - 1 }
}

/// How many years the cohort of a pupil's class (班号) may be from the year of 入学年月 (留级,
/// 跳级, 休学 and back) before it is taken for a typing error.
const MAX_COHORT_SHIFT: i32 = 3;

/// How many summers after its graduation a class may still be listed without a warning.
const MAX_YEARS_GRADUATED: i32 = 2;

impl Validator {
    pub(super) fn student_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        let school = self.schools.get(&v[c.school_id]);
        if ok(c.school_id) && !self.schools.is_empty() && school.is_none() {
            out.push(self.err(c.school_id, v, "R_SCHOOL_UNKNOWN", "学校名录中的学校标识码"));
        }
        // Stage: from the class code, checked against what the school offers.
        let mut stage: Option<u8> = None;
        let mut class_entry: Option<i32> = None;
        if ok(c.class_code) {
            let s = &v[c.class_code];
            let b = s.as_bytes();
            if b.len() == 7 && b.iter().all(u8::is_ascii_digit) && (b'1'..=b'3').contains(&b[4]) {
                let st = b[4] - b'0';
                class_entry = s[..4].parse().ok();
                match school {
                    Some(sc) if !sc.stages.contains(&st) => {
                        out.push(self.err(
                            c.class_code,
                            v,
                            "R_CLASS_STAGE",
                            format!(
                                "学段代码 {}",
                                sc.stages.iter().map(u8::to_string).collect::<Vec<_>>().join("/")
                            ),
                        ));
                        stage = (sc.stages.len() == 1).then(|| sc.stages[0]);
                    }
                    _ => stage = Some(st),
                }
            } else {
                out.push(self.err(
                    c.class_code,
                    v,
                    "R_CLASS_FORMAT",
                    "7位：入学年份4位+学段1位(1小学 2初中 3高中)+班序2位，如 2023101",
                ));
            }
        }
        // The grade comes from the cohort in the 班号: 入学年月 counts from the first grade of the
        // stage whatever happened since (seed 000, 第三篇 12: "无论学生如何转学…小学从小学一年级
        // 算起"), so a pupil who repeated or skipped a year, or came back from 休学, is in a class
        // of another cohort. A few years apart is a warning; more is an error.
        if ok(c.enrol_month) {
            let entry: i32 = v[c.enrol_month][..4].parse().unwrap_or(0);
            // The class's cohort when it is close enough to 入学年月 to be the pupil's own.
            let cohort = class_entry.filter(|ce| (ce - entry).abs() <= MAX_COHORT_SHIFT);
            if let Some(ce) = class_entry
                && ce != entry
            {
                if cohort.is_none() {
                    out.push(self.err(
                        c.class_code,
                        v,
                        "R_CLASS_YEAR",
                        format!(
                            "班号前4位应在 {} 至 {} 之间",
                            entry - MAX_COHORT_SHIFT,
                            entry + MAX_COHORT_SHIFT
                        ),
                    ));
                } else {
                    out.push(self.err(
                        c.class_code,
                        v,
                        "W_CLASS_YEAR",
                        format!("入学年月 {entry} 年；留级、跳级、休学复学的学生如此，其余请核对"),
                    ));
                }
            }
            if let Some(st) = stage {
                let (cohort, col) = match cohort {
                    Some(ce) => (ce, c.class_code),
                    None => (entry, c.enrol_month),
                };
                let grade = school_year(self.snapshot) - cohort + 1;
                let five_four = school.is_some_and(|s| s.five_four);
                let max = grades_of_stage(st, five_four);
                // A cohort past the last grade has graduated (毕业): a school may still list its
                // graduates, who are kept as such (the status model says 毕业); only a cohort
                // that has not started yet is impossible.
                if grade < 1 {
                    out.push(self.err(
                        col,
                        v,
                        "R_GRADE",
                        format!(
                            "{}班级的入学年份不应晚于 {}",
                            ["", "小学", "初中", "高中"][st as usize],
                            school_year(self.snapshot)
                        ),
                    ));
                } else if grade > max + MAX_YEARS_GRADUATED {
                    // A graduate is kept, but a class that left long ago is more likely a wrong
                    // 班号 or 入学年月 than a school still listing its old graduates.
                    out.push(self.err(
                        col,
                        v,
                        "W_GRADUATED_LONG_AGO",
                        format!(
                            "近 {MAX_YEARS_GRADUATED} 年内毕业的班级；此班于 {} 年毕业",
                            cohort + max
                        ),
                    ));
                } else if grade <= max && ok(c.birth_date) {
                    // Age at 1 September against the usual age of the grade: only a warning.
                    let birth = idcard::parse_yyyymmdd(&v[c.birth_date]).expect("checked");
                    let sep1 = NaiveDate::from_ymd_opt(school_year(self.snapshot), 9, 1).expect("date");
                    let age = sep1.years_since(birth).unwrap_or(0) as i32;
                    let first = [0, 6, 6 + grades_of_stage(1, five_four), 15][st as usize];
                    let usual = first + grade - 1;
                    if (age - usual).abs() > 2 {
                        out.push(self.err(
                            c.birth_date,
                            v,
                            "W_AGE",
                            format!(
                                "{}{}年级学生通常约 {usual} 岁，此生 {age} 岁",
                                ["", "小学", "初中", "高中"][st as usize],
                                grade
                            ),
                        ));
                    }
                }
            }
        }
        // 义务教育-only fields.
        for (i, col) in self.table.columns.iter().enumerate() {
            if col.stage.as_deref() != Some("compulsory") || bad[i] {
                continue;
            }
            match stage {
                // seed 000: “是否留守儿童”选项由义务教育阶段学生填写,高中学生不用填写 (and so for
                // 随迁子女, 一补): not filling it is what the seed asks, a value filled anyway is
                // set aside (stored empty) with a warning, not a reason to turn the pupil away.
                Some(3) if !v[i].is_empty() && v[i] != "否" && v[i] != "非留守儿童" => {
                    out.push(self.err(i, v, "W_STAGE_FIELD", "空、“否”或“非留守儿童”"))
                }
                Some(1 | 2) if v[i].is_empty() => out.push(self.err(i, v, "R_STAGE_REQUIRED", "义务教育阶段必填")),
                _ => {}
            }
        }
        if let (Some(st), true, Some(list)) = (stage, ok(c.admission_mode), self.lists[c.admission_mode]) {
            let want = if st == 3 { "senior" } else { "compulsory" };
            if !list
                .lookup(&v[c.admission_mode])
                .iter()
                .any(|&k| list.values[k].stage.as_deref() == Some(want))
            {
                let names: Vec<&str> = list
                    .values
                    .iter()
                    .filter(|x| x.stage.as_deref() == Some(want))
                    .map(|x| x.name.as_str())
                    .collect();
                out.push(self.err(c.admission_mode, v, "R_ADMISSION_STAGE", names.join("、")));
            }
        }
        self.field_rules(c, stage, v, bad, out);
        if ok(c.gov_purchased_place) && v[c.gov_purchased_place] == "是" && school.is_some_and(|s| s.public) {
            out.push(self.err(c.gov_purchased_place, v, "R_GOV_PLACE_PUBLIC", "否"));
        }
        self.id_rules(c, v, bad, out);
        self.member_rules(c, v, bad, out);
    }

    /// Rules the seeds state for single fields, each quoted where it is checked.
    pub(super) fn field_rules(
        &self,
        c: &StudentCols,
        stage: Option<u8>,
        v: &[String],
        bad: &[bool],
        out: &mut Vec<Finding>,
    ) {
        let ok = |i: usize| !bad[i] && !v[i].is_empty();
        // seed 000, 第三篇 14: "义务教育阶段没有“借读”的说法和概念,高中的学生来源分为:正常入学、借读、其他"
        if matches!(stage, Some(1 | 2)) && ok(c.student_source) && v[c.student_source] == "借读" {
            out.push(self.err(c.student_source, v, "R_SOURCE_STAGE", "正常入学、其他"));
        }
        // seed 000, 第三篇 26: "如果监护人不在该范围,则可以选择“其他”,然后在关系说明栏中,填写监护人关系"
        for (rel, note) in [(c.m1_relation, c.m1_relation_note), (c.m2_relation, c.m2_relation_note)] {
            if ok(rel) && v[rel] == "其他" && v[note].trim().is_empty() {
                out.push(self.err(note, v, "W_RELATION_NOTE", "关系为“其他”时填写具体关系，如姑妈、舅舅"));
            }
        }
        // seed 000, 第三篇: "行政区划代码为12位,前六位为省市县,后六位补六个0" — a code below the county is
        // read at its county.
        for i in [
            c.hukou_region_code,
            c.birthplace_code,
            c.m1_hukou_region_code,
            c.m2_hukou_region_code,
        ] {
            if ok(i) && v[i].len() == 12 && v[i].is_ascii() && &v[i][6..] != "000000" {
                out.push(self.err(i, v, "W_REGION_TAIL", format!("{}000000", &v[i][..6])));
            }
        }
        // seed 000, 第三篇 10: "外国学生的“户口性质”填写“非农业户口”,“户口所在地”填写学生所在学校的所在区域"
        let foreign = ok(c.nationality) && !["中国", "中国大陆"].contains(&v[c.nationality].as_str());
        if foreign && ok(c.hukou_type) && v[c.hukou_type] != "非农业户口" {
            out.push(self.err(c.hukou_type, v, "W_FOREIGN_HUKOU", "非农业户口"));
        }
        if foreign
            && ok(c.hukou_region_code)
            && let Some(school) = self.schools.get(&v[c.school_id])
            && !v[c.hukou_region_code].starts_with(&school.county)
        {
            out.push(self.err(
                c.hukou_region_code,
                v,
                "W_FOREIGN_HUKOU_PLACE",
                format!("学校所在区县 {}（{}000000）", school.county, school.county),
            ));
        }
        // seed 000, 第三篇 4: "中国籍学生的籍贯可具体到区县一级;外籍学生的籍贯可填写为“国外”" — a Chinese
        // pupil's 籍贯 is a place of China, from the province down to the county at most.
        if ok(c.nationality) && !foreign && ok(c.native_place) && !self.cat.regions.names_place(&v[c.native_place]) {
            out.push(self.err(
                c.native_place,
                v,
                "W_NATIVE_PLACE",
                "中国的省、市或区县名称（如“安徽省阜阳市临泉县”）",
            ));
        }
        // reference/TEMPLATE_FIELDS.md §2.8: "视力残疾随班就读 ↔ 视力残疾; 听力残疾随班就读 ↔ 听力残疾;
        // 智力残疾随班就读 ↔ 智力残疾; 其他残疾随班就读 ↔ 言语/肢体/精神/多重/其他残疾". Only this
        // direction: a disabled pupil in a special school is 非随班就读.
        if ok(c.inclusive_class) && ok(c.disability_type) {
            let d = v[c.disability_type].as_str();
            let fits = match v[c.inclusive_class].as_str() {
                "视力残疾随班就读" => d == "视力残疾",
                "听力残疾随班就读" => d == "听力残疾",
                "智力残疾随班就读" => d == "智力残疾",
                "其他残疾随班就读" => ["言语残疾", "肢体残疾", "精神残疾", "多重残疾", "其他残疾"].contains(&d),
                _ => true,
            };
            if !fits {
                out.push(self.err(
                    c.disability_type,
                    v,
                    "W_INCLUSIVE_DISABILITY",
                    format!("与随班就读“{}”相应的残疾类型", v[c.inclusive_class]),
                ));
            }
        }
        // seed 004, 4: "“一补“是指“对寄宿生的补助”"; seed 000, 第三篇: "是否住校是判断是否寄宿生的依据"
        if ok(c.receives_yibu) && v[c.receives_yibu] == "是" && ok(c.attendance_mode) && v[c.attendance_mode] == "走读"
        {
            out.push(self.err(
                c.receives_yibu,
                v,
                "W_YIBU_NONBOARDER",
                "一补只给住校生；走读生应为“否”",
            ));
        }
    }

    pub(super) fn id_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        if bad[c.id_type] || v[c.id_type].is_empty() {
            return;
        }
        let id = &v[c.id_number];
        if id.is_empty() {
            if v[c.id_type] != "其他" {
                out.push(self.err(c.id_number, v, "R_ID_REQUIRED", "证件号码"));
            }
            return;
        }
        if v[c.id_type] != "居民身份证" {
            return;
        }
        let (norm, changed) = idcard::normalise(id);
        if changed {
            out.push(self.err(c.id_number, v, "W_ID_NONSTANDARD", norm.clone()));
        }
        let regions = &self.cat.regions;
        match idcard::analyse(&norm, self.snapshot, |r| regions.known6(r)) {
            Err(defect) => {
                let exp = match defect {
                    IdDefect::BadCheck => format!("校验位应为 {}", idcard::check_char(&norm[..17]).unwrap_or('?')),
                    IdDefect::Legacy15 => format!("升级后为 {}", idcard::upgrade15(&norm).unwrap_or_default()),
                    _ => "18位居民身份证号".into(),
                };
                out.push(self.err(c.id_number, v, defect.rule(), exp));
            }
            Ok(rid) => {
                if !bad[c.gender] && !v[c.gender].is_empty() && (v[c.gender] == "男") != rid.male {
                    out.push(self.err(
                        c.gender,
                        v,
                        "W_ID_GENDER",
                        if rid.male {
                            "男（身份证号第17位为奇数）"
                        } else {
                            "女（身份证号第17位为偶数）"
                        },
                    ));
                }
                if !bad[c.birth_date]
                    && !v[c.birth_date].is_empty()
                    && idcard::parse_yyyymmdd(&v[c.birth_date]) != Some(rid.birth)
                {
                    out.push(self.err(c.birth_date, v, "W_ID_BIRTH", rid.birth.format("%Y%m%d").to_string()));
                }
            }
        }
    }

    pub(super) fn member_rules(&self, c: &StudentCols, v: &[String], bad: &[bool], out: &mut Vec<Finding>) {
        let regions = &self.cat.regions;
        let mut member_has_id = false;
        for (tp, num) in [(c.m1_id_type, c.m1_id_number), (c.m2_id_type, c.m2_id_number)] {
            if v[num].is_empty() || bad[tp] {
                continue;
            }
            if v[tp].is_empty() || v[tp] == "居民身份证" {
                let (norm, _) = idcard::normalise(&v[num]);
                match idcard::analyse(&norm, self.snapshot, |r| regions.known6(r)) {
                    Ok(_) => member_has_id = true,
                    Err(d) => out.push(self.err(
                        num,
                        v,
                        "R_MEMBER_ID",
                        format!(
                            "有效的18位居民身份证号（{}）",
                            self.cat.rule(d.rule()).message.split('，').next().unwrap_or("")
                        ),
                    )),
                }
            }
        }
        if v[c.id_number].is_empty()
            && v[c.id_type] == "其他"
            && !member_has_id
            && !out.iter().any(|f| f.rule == "R_MEMBER_ID")
        {
            out.push(self.err(c.m1_id_number, v, "R_GUARDIAN_ID", "至少一名家庭成员的居民身份证号"));
        }
        // Every child has a guardian (an orphan's is the 福利院 or the 民政部门): a row whose members
        // are both marked 否 names none. Both cells well-formed, or nothing is said.
        let is = |i: usize, x: &str| !bad[i] && v[i] == x;
        if is(c.m1_is_guardian, "否") && (v[c.m2_is_guardian].is_empty() || is(c.m2_is_guardian, "否")) {
            out.push(self.err(c.m1_is_guardian, v, "W_NO_GUARDIAN", "至少一名家庭成员是监护人"));
        }
        if !v[c.m2_name].is_empty() {
            for i in [
                c.m2_relation,
                c.m2_address,
                c.m2_hukou_region_code,
                c.m2_phone,
                c.m2_is_guardian,
            ] {
                if v[i].is_empty() {
                    out.push(self.err(
                        i,
                        v,
                        "R_MEMBER_INCOMPLETE",
                        "成员2的关系、现住址、户口所在地、联系电话、是否监护人",
                    ));
                }
            }
        }
    }
}
