//! The second registration of a planted fuzzy duplicate: how each variant kind changes the
//! pupil's record (ID number, name, birth date, gender), as typing and copying by schools do.
//!
//! The ID kinds keep name, gender and birth date and leave the number failing its check
//! character and nothing else, so that ingest reports exactly W_ID_CHECK. The name, birth-date,
//! gender and missing-ID kinds register the pupil without an ID number: with the same valid
//! number the official rule (kind 1) would find them anyway.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use super::names::{self, GIVEN_GROUPS, shape_similar, traditional};
use super::plant::{Fuzzy, l_number};
use super::pupil::{Person, make_id};
use super::world::School;
use crate::cols::StudentCols;
use crate::idcard;

/// Apply a fuzzy variant to the second registration of a person.
pub fn apply_fuzzy(f: Fuzzy, r: &mut [String], p: &Person, school: &School, c: &StudentCols, rng: &mut impl Rng) {
    let id = p.id18.clone().unwrap_or_default();
    match f {
        Fuzzy::IdTypo
        | Fuzzy::IdTransposed
        | Fuzzy::IdFullWidth
        | Fuzzy::IdLegacy15
        | Fuzzy::IdDigit
        | Fuzzy::IdAdjacent
        | Fuzzy::IdWrongCheck
        | Fuzzy::IdTwoEdits => {
            r[c.id_number] = id_variant(f, &id, p.birth, rng);
            if r[c.id_number] != id {
                r[c.registration_no] = l_number(school, p.birth, rng);
            }
        }
        Fuzzy::IdMissing => without_id(r, c, school, p.birth, p.male, rng),
        Fuzzy::GenderWrong => {
            r[c.gender] = if p.male { "女" } else { "男" }.into();
            // The J number is made from what the school recorded.
            without_id(r, c, school, p.birth, !p.male, rng);
        }
        Fuzzy::BirthDay | Fuzzy::BirthMonth | Fuzzy::BirthYear | Fuzzy::BirthSwap => {
            let birth = birth_variant(f, p.birth, rng);
            r[c.birth_date] = birth.format("%Y%m%d").to_string();
            without_id(r, c, school, birth, p.male, rng);
        }
        Fuzzy::NameSpaces
        | Fuzzy::NameFullWidthSpace
        | Fuzzy::NameTraditional
        | Fuzzy::NameHomophone
        | Fuzzy::NameShape
        | Fuzzy::NameOther
        | Fuzzy::NameDrop
        | Fuzzy::NameAdd => {
            without_id(r, c, school, p.birth, p.male, rng);
            r[c.name] = match f {
                Fuzzy::NameOther | Fuzzy::NameDrop | Fuzzy::NameAdd => name_edit(f, p, rng),
                _ => name_variant(f, p),
            };
        }
    }
}

/// Register the pupil without an ID number (证件类型 其他, a J number from the recorded birth
/// date and gender); the parents' ID numbers keep R_GUARDIAN_ID away.
fn without_id(r: &mut [String], c: &StudentCols, school: &School, birth: NaiveDate, male: bool, rng: &mut impl Rng) {
    r[c.id_type] = "其他".into();
    r[c.id_number].clear();
    r[c.registration_no] = format!("J{}", make_id(&school.county, birth, male, rng.random_range(0..500)));
}

fn id_variant(f: Fuzzy, id: &str, birth: NaiveDate, rng: &mut impl Rng) -> String {
    match f {
        Fuzzy::IdTypo => {
            let pos = rng.random_range(14..17);
            let mut b = id.as_bytes().to_vec();
            b[pos] = if b[pos] == b'9' { b'0' } else { b[pos] + 1 };
            String::from_utf8(b).expect("ascii")
        }
        Fuzzy::IdTransposed => {
            let mut b = id.as_bytes().to_vec();
            let pos = (14..16).find(|&i| b[i] != b[i + 1]).unwrap_or(12);
            b.swap(pos, pos + 1);
            String::from_utf8(b).expect("ascii")
        }
        Fuzzy::IdFullWidth => id
            .chars()
            .map(|ch| {
                if ch.is_ascii_digit() {
                    char::from_u32(ch as u32 - '0' as u32 + '０' as u32).unwrap_or(ch)
                } else {
                    ch
                }
            })
            .collect(),
        Fuzzy::IdLegacy15 => format!("{}{}", &id[..6], &id[8..17]),
        // Anywhere in the 17 digits (the check character alone is IdWrongCheck).
        Fuzzy::IdDigit => pick(substitutions(id, birth), rng).unwrap_or_else(|| bump(id, &[15])),
        Fuzzy::IdAdjacent => {
            let b = id.as_bytes();
            let swaps: Vec<Vec<u8>> = (0..16)
                .filter(|&i| b[i] != b[i + 1])
                .map(|i| {
                    let mut x = b.to_vec();
                    x.swap(i, i + 1);
                    x
                })
                .filter(|x| only_check_fails(x, birth))
                .collect();
            // A number without two different neighbours (never seen) cannot be transposed.
            pick(swaps, rng).unwrap_or_else(|| bump(id, &[15]))
        }
        Fuzzy::IdWrongCheck => {
            let good = idcard::check_char(&id[..17]).unwrap_or('0');
            let others: Vec<char> = "0123456789X".chars().filter(|&ch| ch != good).collect();
            format!("{}{}", &id[..17], others[rng.random_range(0..others.len())])
        }
        Fuzzy::IdTwoEdits => two_edits(id, birth, rng),
        _ => id.to_string(),
    }
}

/// Every number one digit of the first 17 away from `id` that ingest reports as W_ID_CHECK only.
fn substitutions(id: &str, birth: NaiveDate) -> Vec<Vec<u8>> {
    let b = id.as_bytes();
    (0..17)
        .flat_map(move |pos| {
            (b'0'..=b'9').filter(move |&d| d != b[pos]).map(move |d| {
                let mut x = b.to_vec();
                x[pos] = d;
                x
            })
        })
        .filter(|x| only_check_fails(x, birth))
        .collect()
}

/// Two corruptions (each a wrong digit or a swap of neighbours), drawn until the result is more
/// than one edit away and reports W_ID_CHECK only: two wrong digits can cancel out in the check
/// sum (then the number passes and nothing is reported), so such draws are redrawn.
fn two_edits(id: &str, birth: NaiveDate, rng: &mut impl Rng) -> String {
    let orig = id.as_bytes();
    for _ in 0..100 {
        let mut b = orig.to_vec();
        for _ in 0..2 {
            if rng.random_bool(0.5) {
                let pos = rng.random_range(0..17);
                b[pos] = b'0' + (b[pos] - b'0' + rng.random_range(1..10u8)) % 10;
            } else {
                let pos = rng.random_range(0..16);
                b.swap(pos, pos + 1);
            }
        }
        if beyond_one_edit(orig, &b) && only_check_fails(&b, birth) {
            return String::from_utf8(b).expect("ascii");
        }
    }
    // Digits 15 and 16 each one up change the check sum by 8a + 4b (a, b ≡ 1 or 2 mod 11), never 0.
    bump(id, &[14, 15])
}

/// Whether `b` differs from `orig` by more than one substitution or one swap of neighbours.
fn beyond_one_edit(orig: &[u8], b: &[u8]) -> bool {
    let diff: Vec<usize> = (0..orig.len()).filter(|&i| orig[i] != b[i]).collect();
    match diff[..] {
        [] | [_] => false,
        [i, j] => !(j == i + 1 && orig[i] == b[j] && orig[j] == b[i]),
        _ => true,
    }
}

/// Whether an ID number changed in its first 17 digits makes ingest report W_ID_CHECK and
/// nothing else. `idcard::analyse` tests the birth part before the check character, so a birth
/// part that is no real date, before 1900 or in the future would give W_ID_DATE instead (kept
/// clear of the future by staying within 4 years of the true birth date: a pupil is at least 6);
/// a region or gender digit changed is not looked at once the check fails, and neither is the
/// birth part against 出生日期 (W_ID_GENDER, W_ID_BIRTH need a number that passes).
fn only_check_fails(b: &[u8], birth: NaiveDate) -> bool {
    let Ok(s) = std::str::from_utf8(b) else {
        return false;
    };
    let date_ok = s
        .get(6..14)
        .and_then(idcard::parse_yyyymmdd)
        .is_some_and(|d| d.year() >= 1900 && d <= birth + chrono::Duration::days(4 * 365));
    date_ok && s.len() == 18 && idcard::check_char(&s[..17]) != s[17..].chars().next()
}

fn pick(options: Vec<Vec<u8>>, rng: &mut impl Rng) -> Option<String> {
    if options.is_empty() {
        return None;
    }
    let k = rng.random_range(0..options.len());
    String::from_utf8(options[k].clone()).ok()
}

/// `id` with the digits at `positions` one up (9 becomes 0): the sequence digits, so the birth
/// part stays and the check fails.
fn bump(id: &str, positions: &[usize]) -> String {
    let mut b = id.as_bytes().to_vec();
    for &pos in positions {
        b[pos] = b'0' + (b[pos] - b'0' + 1) % 10;
    }
    String::from_utf8(b).expect("ascii")
}

/// The birth date as a birth-date variant records it; always a real date, no later than 4 years
/// after the true one (so not in the future), and less than a year and a day from it, so the
/// age-for-grade warning (W_AGE, more than 2 years off the usual age) cannot be raised.
fn birth_variant(f: Fuzzy, birth: NaiveDate, rng: &mut impl Rng) -> NaiveDate {
    match f {
        Fuzzy::BirthDay => birth + chrono::Duration::days(if rng.random_bool(0.5) { 1 } else { -1 }),
        Fuzzy::BirthMonth => {
            // One month off in the same year (the month typed wrong), the day kept where that
            // month has it, else the month's last day.
            let m = birth.month();
            let mut to: Vec<u32> = [m - 1, m + 1].into_iter().filter(|x| (1..=12).contains(x)).collect();
            if to.len() == 2 && rng.random_bool(0.5) {
                to.swap(0, 1);
            }
            to.iter()
                .find_map(|&x| birth.with_month(x))
                .or_else(|| {
                    (1..birth.day())
                        .rev()
                        .find_map(|d| NaiveDate::from_ymd_opt(birth.year(), to[0], d))
                })
                .unwrap_or(birth)
        }
        Fuzzy::BirthYear => {
            let y = birth.year() + if rng.random_bool(0.5) { 1 } else { -1 };
            // 29 February has no twin in the next or last year.
            birth
                .with_year(y)
                .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))
                .unwrap_or(birth)
        }
        Fuzzy::BirthSwap => swap_day_month(birth).unwrap_or(birth),
        _ => birth,
    }
}

/// Day and month swapped (MMDD read as DDMM): only a real, different date when both are at most
/// 12 and differ.
pub(super) fn swap_day_month(birth: NaiveDate) -> Option<NaiveDate> {
    if birth.day() <= 12 && birth.day() != birth.month() {
        NaiveDate::from_ymd_opt(birth.year(), birth.day(), birth.month())
    } else {
        None
    }
}

/// The name as a deterministic name variant writes it (also used to see whether the kind
/// applies: a result equal to the name means it cannot).
pub(super) fn name_variant(f: Fuzzy, p: &Person) -> String {
    let given: Vec<&'static str> = p.given.iter().map(|&(g, m)| GIVEN_GROUPS[g][m]).collect();
    match f {
        Fuzzy::NameSpaces => format!("{} {}", p.surname, given.concat()),
        Fuzzy::NameFullWidthSpace => format!("{}\u{3000}{}", p.surname, given.concat()),
        Fuzzy::NameTraditional => {
            let mut s: String = p
                .surname
                .chars()
                .map(|ch| traditional(&ch.to_string()).unwrap_or(&ch.to_string()).to_string())
                .collect();
            let mut changed = s != p.surname;
            for ch in given {
                match traditional(ch) {
                    Some(t) if !changed => {
                        s.push_str(t);
                        changed = true;
                    }
                    _ => s.push_str(ch),
                }
            }
            s
        }
        Fuzzy::NameHomophone => {
            // Swap one given-name character for another of its pinyin group.
            let mut given = p.given.clone();
            if let Some(slot) = given.iter_mut().find(|(g, _)| GIVEN_GROUPS[*g].len() > 1) {
                slot.1 = (slot.1 + 1) % GIVEN_GROUPS[slot.0].len();
            }
            names::render(p.surname, &given)
        }
        Fuzzy::NameShape => {
            // The first given-name character with a look-alike; else the surname's.
            match given.iter().position(|ch| shape_similar(ch).is_some()) {
                Some(k) => {
                    let mut s = p.surname.to_string();
                    for (i, &ch) in given.iter().enumerate() {
                        s.push_str(if i == k { shape_similar(ch).unwrap_or(ch) } else { ch });
                    }
                    s
                }
                None => match shape_similar(p.surname) {
                    Some(t) => format!("{t}{}", given.concat()),
                    None => p.name(),
                },
            }
        }
        _ => p.name(),
    }
}

/// A name with a given-name character replaced by one that sounds different, dropped, or added.
fn name_edit(f: Fuzzy, p: &Person, rng: &mut impl Rng) -> String {
    let mut given: Vec<&'static str> = p.given.iter().map(|&(g, m)| GIVEN_GROUPS[g][m]).collect();
    match f {
        // A name must keep one given-name character (applicable() asks for two).
        Fuzzy::NameDrop if given.len() >= 2 => {
            let k = rng.random_range(0..given.len());
            given.remove(k);
        }
        Fuzzy::NameAdd => {
            let ch = pool_char(rng);
            let at = rng.random_range(0..=given.len());
            given.insert(at, ch);
        }
        Fuzzy::NameOther if !given.is_empty() => {
            // Not a character the ear confuses with it (the homophone kind covers those).
            let k = rng.random_range(0..given.len());
            let was = sound(given[k]);
            let others: Vec<&'static str> = GIVEN_GROUPS
                .iter()
                .flat_map(|g| g.iter().copied())
                .filter(|ch| sound(ch) != was)
                .collect();
            if !others.is_empty() {
                given[k] = others[rng.random_range(0..others.len())];
            }
        }
        _ => {}
    }
    format!("{}{}", p.surname, given.concat())
}

fn pool_char(rng: &mut impl Rng) -> &'static str {
    let g = rng.random_range(0..GIVEN_GROUPS.len());
    GIVEN_GROUPS[g][rng.random_range(0..GIVEN_GROUPS[g].len())]
}

/// How a character sounds to an ear that merges zh/z, ch/c, sh/s and -ang/-eng/-ing with
/// -an/-en/-in (as the matcher's sound key does): the toneless pinyin of its first reading, folded.
fn sound(ch: &str) -> String {
    use pinyin::ToPinyin;
    let plain = ch.chars().next().and_then(|c| c.to_pinyin()).map_or("", |p| p.plain());
    let s = ["zh", "ch", "sh"]
        .iter()
        .find_map(|pre| plain.strip_prefix(pre).map(|rest| format!("{}{rest}", &pre[..1])))
        .unwrap_or_else(|| plain.to_string());
    match s.strip_suffix("ng") {
        Some(r) if r.ends_with(['a', 'e', 'i']) => r.to_string() + "n",
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::idcard::IdDefect;

    fn pupil(given: &[&str], birth: NaiveDate) -> Person {
        let at = |ch: &str| {
            GIVEN_GROUPS
                .iter()
                .enumerate()
                .find_map(|(g, grp)| grp.iter().position(|x| *x == ch).map(|m| (g, m)))
                .expect("a pool character")
        };
        let parent = |male: bool| (String::new(), male, String::new(), String::new());
        Person {
            id: 1,
            surname: "李",
            given: given.iter().map(|&ch| at(ch)).collect(),
            male: true,
            birth,
            id18: Some(make_id("110101", birth, true, 7)),
            birth_county: "110101".into(),
            hukou_county: "110101".into(),
            rural_hukou: false,
            stage: 1,
            grade: 3,
            parents: [parent(true), parent(false)],
            left_behind: 0,
            migrant_reported: false,
            boarder: false,
            yibu: false,
        }
    }

    #[test]
    fn id_variants_fail_the_check_character_and_nothing_else() {
        let today = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let birth = super::super::pupil::birth_for(1, 1 + (seed % 6) as u32, 2026, false, &mut rng);
            let id = make_id("110101", birth, seed % 2 == 0, (seed % 500) as u32);
            for f in [
                Fuzzy::IdDigit,
                Fuzzy::IdAdjacent,
                Fuzzy::IdWrongCheck,
                Fuzzy::IdTwoEdits,
            ] {
                let v = id_variant(f, &id, birth, &mut rng);
                assert_ne!(v, id, "{f:?}");
                assert_eq!(
                    idcard::analyse(&v, today, |_| true).err(),
                    Some(IdDefect::BadCheck),
                    "{f:?} {v}"
                );
                let diff = id.bytes().zip(v.bytes()).filter(|(a, b)| a != b).count();
                match f {
                    Fuzzy::IdDigit | Fuzzy::IdWrongCheck => assert_eq!(diff, 1, "{f:?} {id} {v}"),
                    Fuzzy::IdAdjacent => assert_eq!(diff, 2, "{id} {v}"),
                    _ => assert!(beyond_one_edit(id.as_bytes(), v.as_bytes()), "{id} {v}"),
                }
            }
        }
    }

    #[test]
    fn birth_variants_are_real_dates_near_the_true_one() {
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let birth = super::super::pupil::birth_for(2, 1, 2026, false, &mut rng);
            for f in [Fuzzy::BirthDay, Fuzzy::BirthMonth, Fuzzy::BirthYear] {
                let v = birth_variant(f, birth, &mut rng);
                assert_ne!(v, birth, "{f:?}");
                assert!((v - birth).num_days().abs() <= 366, "{f:?} {birth} {v}");
            }
        }
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(swap_day_month(d(2016, 3, 7)), Some(d(2016, 7, 3)));
        assert_eq!(swap_day_month(d(2016, 3, 13)), None);
        assert_eq!(swap_day_month(d(2016, 5, 5)), None);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(birth_variant(Fuzzy::BirthYear, d(2016, 2, 29), &mut rng).day(), 28);
        // January has one neighbour in its year; 31 February is not a date.
        assert_eq!(
            birth_variant(Fuzzy::BirthMonth, d(2016, 1, 31), &mut rng),
            d(2016, 2, 29)
        );
    }

    #[test]
    fn name_variants_change_the_name_as_their_kind_says() {
        let birth = NaiveDate::from_ymd_opt(2016, 3, 7).unwrap();
        assert_eq!(name_variant(Fuzzy::NameShape, &pupil(&["浩", "天"], birth)), "李浩夭");
        assert_eq!(name_variant(Fuzzy::NameShape, &pupil(&["晨"], birth)), "李晟");
        // 李 has no look-alike, nor has 浩: the kind does not apply.
        assert_eq!(name_variant(Fuzzy::NameShape, &pupil(&["浩"], birth)), "李浩");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let p = pupil(&["浩", "然"], birth);
            assert_eq!(name_edit(Fuzzy::NameDrop, &p, &mut rng).chars().count(), 2);
            assert_eq!(name_edit(Fuzzy::NameAdd, &p, &mut rng).chars().count(), 4);
            let other = name_edit(Fuzzy::NameOther, &p, &mut rng);
            assert_eq!(other.chars().count(), 3);
            let changed: Vec<(char, char)> = p.name().chars().zip(other.chars()).filter(|(a, b)| a != b).collect();
            assert_eq!(changed.len(), 1, "{other}");
            assert_ne!(
                sound(&changed[0].0.to_string()),
                sound(&changed[0].1.to_string()),
                "{other}"
            );
        }
        assert_eq!(sound("晨"), sound("成"), "folded like the matcher's key");
        assert_ne!(sound("天"), sound("夭"));
    }
}
