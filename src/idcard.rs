//! Resident identity numbers (GB 11643-1999): check character, parsing, legacy upgrade.
//!
//! Used by the import checks (warnings that feed 问题学籍 kind 3) and by the generator.
//! Every function works on the raw string a user typed, so it never panics on odd input.

use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The check character for the first 17 digits (ISO 7064 MOD 11-2). `None` if not 17 ASCII digits.
pub fn check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(CHECK_CHARS[(sum % 11) as usize] as char)
}

/// What is wrong with an ID number, as far as can be seen offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdDefect {
    /// Not 18 characters of digits (last may be X), and not a 15-digit legacy number.
    Malformed,
    /// A 15-digit number from before 1999; it must be upgraded to 18 digits.
    Legacy15,
    /// The birth date part is not a real date (or lies in the future).
    BadDate,
    /// The check character does not match the first 17 digits.
    BadCheck,
    /// The address code is not a known county.
    UnknownRegion,
}

impl IdDefect {
    /// Stable reason code, as listed in schemas/rules.toml.
    pub fn rule(self) -> &'static str {
        match self {
            IdDefect::Malformed => "W_ID_MALFORMED",
            IdDefect::Legacy15 => "W_ID_LEGACY15",
            IdDefect::BadDate => "W_ID_DATE",
            IdDefect::BadCheck => "W_ID_CHECK",
            IdDefect::UnknownRegion => "W_ID_REGION",
        }
    }
}

/// A structurally valid 18-character number, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentId<'a> {
    pub region: &'a str,
    pub birth: NaiveDate,
    /// Sequence digit 17: odd = male.
    pub male: bool,
}

/// Normalise what people type: strip spaces (also U+3000), full-width digits/X to ASCII, x to X.
/// Returns the normalised text and whether anything changed.
pub fn normalise(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut changed = false;
    for c in raw.chars() {
        match c {
            ' ' | '\u{3000}' | '\t' => changed = true,
            '０'..='９' => {
                out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8));
                changed = true;
            }
            'Ｘ' | 'ｘ' | 'x' => {
                out.push('X');
                changed = true;
            }
            _ => out.push(c),
        }
    }
    (out, changed)
}

/// Upgrade a 15-digit legacy number (YYMMDD, no check) to 18 digits: insert "19", add the check.
pub fn upgrade15(id15: &str) -> Option<String> {
    if id15.len() != 15 || !id15.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let first17 = format!("{}19{}", &id15[..6], &id15[6..]);
    let check = check_char(&first17)?;
    Some(format!("{first17}{check}"))
}

/// Parse and check an ID number. `region_known` says whether a 6-digit county code exists.
/// The structural defects come first: a malformed number has no date or check to speak of.
pub fn analyse<'a>(
    id: &'a str,
    today: NaiveDate,
    region_known: impl Fn(&str) -> bool,
) -> Result<ResidentId<'a>, IdDefect> {
    let b = id.as_bytes();
    if b.len() == 15 && b.iter().all(u8::is_ascii_digit) {
        return Err(IdDefect::Legacy15);
    }
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(IdDefect::Malformed);
    }
    let birth = parse_yyyymmdd(&id[6..14])
        .filter(|d| *d <= today && d.year_ce().1 >= 1900)
        .ok_or(IdDefect::BadDate)?;
    if check_char(&id[..17]) != Some(b[17] as char) {
        return Err(IdDefect::BadCheck);
    }
    if !region_known(&id[..6]) {
        return Err(IdDefect::UnknownRegion);
    }
    Ok(ResidentId {
        region: &id[..6],
        birth,
        male: (b[16] - b'0') % 2 == 1,
    })
}

/// `YYYYMMDD` to a date, `None` if it is not a real calendar date.
pub fn parse_yyyymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[..4].parse().ok()?;
    let m: u32 = s[4..6].parse().ok()?;
    let d: u32 = s[6..8].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

use chrono::Datelike;

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 9, 1).unwrap()
    }

    #[test]
    fn check_character_follows_iso_7064() {
        // The worked example of GB 11643-1999 appendix: 11010519491231002X.
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("44052418800101001"), Some('4'));
        assert_eq!(check_char("4405241880010100"), None);
    }

    #[test]
    fn analyse_reports_each_defect_kind() {
        let known = |r: &str| r == "110105" || r == "440524";
        assert!(analyse("11010519491231002X", today(), known).is_ok());
        assert_eq!(analyse("110105491231002", today(), known), Err(IdDefect::Legacy15));
        assert_eq!(analyse("11010519491231002", today(), known), Err(IdDefect::Malformed));
        assert_eq!(analyse("1101051949123100AX", today(), known), Err(IdDefect::Malformed));
        assert_eq!(
            analyse("110105194902300021", today(), known).unwrap_err(),
            IdDefect::BadDate
        );
        assert_eq!(analyse("110105194912310021", today(), known), Err(IdDefect::BadCheck));
        let id = format!("99010519491231002{}", check_char("99010519491231002").unwrap());
        assert_eq!(analyse(&id, today(), known), Err(IdDefect::UnknownRegion));
    }

    #[test]
    fn gender_digit_is_the_seventeenth() {
        let id = analyse("11010519491231002X", today(), |_| true).unwrap();
        assert!(!id.male, "digit 17 is 2: female");
        assert_eq!(id.birth, NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
    }

    #[test]
    fn legacy_numbers_upgrade_with_19_and_a_check() {
        assert_eq!(upgrade15("110105491231002").as_deref(), Some("11010519491231002X"));
        assert_eq!(upgrade15("11010549123100"), None);
    }

    #[test]
    fn normalise_full_width_spaces_and_lower_x() {
        assert_eq!(
            normalise("１１０１０５ 19491231002x"),
            ("11010519491231002X".to_string(), true)
        );
        assert_eq!(
            normalise("11010519491231002X"),
            ("11010519491231002X".to_string(), false)
        );
    }
}
