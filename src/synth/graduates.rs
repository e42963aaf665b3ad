//! Graduates a school still lists. Seed 004 (学籍管理中的特殊问题): "学生学籍已经处于毕业状态…由县级学籍
//! 管理部门在网上做毕业驳回" — a graduate's registration stays, in the 毕业 state, and some schools
//! keep last summer's graduating class in the file they send. About one school in six does
//! here: one class of the cohort that left in the summer before the snapshot's school year.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::pupil::{self, IdRegistry, Person};
use super::world::School;
use crate::cols::StudentCols;

/// Graduates' person numbers start here, so that adding them leaves every other person's number
/// (and the truth's groups) as it was.
pub const FIRST_PERSON: u64 = 1 << 40;

/// Share of schools that still list last summer's graduates.
const SCHOOLS_LISTING: f64 = 1.0 / 6.0;

/// The graduates `school` still lists with their records (none for most schools). Drawn from
/// the generator's own stream `rng`, so the other pupils do not move.
pub fn still_listed(
    school: &School,
    year: i32,
    other_rural_county: &str,
    next_person: &mut u64,
    ids: &mut IdRegistry,
    c: &StudentCols,
    rng: &mut ChaCha8Rng,
) -> Vec<(Person, Vec<String>)> {
    if !rng.random_bool(SCHOOLS_LISTING) {
        return Vec::new();
    }
    let stage = school.stages[rng.random_range(0..school.stages.len())];
    let grade = pupil::grades_of(stage, school.five_four) + 1;
    let n = (school.pupils / 15).clamp(1, 45);
    (0..n)
        .map(|_| {
            let mut p = pupil::person_in_grade(*next_person, school, stage, grade, year, other_rural_county, rng);
            *next_person += 1;
            if let Some(id) = p.id18.as_mut() {
                ids.claim(id);
            }
            // A graduate's record is as the school last kept it; none is planted.
            let rec = pupil::record(&p, school, year, c, rng);
            (p, rec)
        })
        .collect()
}
