//! The lists, rosters and statistics the server offers.

/// A list the server offers. Every one has `school_id` and `county_code` on each row, so any
/// jurisdiction can be cut from it.
#[derive(Debug)]
pub struct ServedList {
    pub name: &'static str,
    /// A list of pupils (one row each, keyed by school and 学籍号), which `changes` compares
    /// between two nights; otherwise a statistics table.
    pub pupils: bool,
}

pub const LISTS: &[ServedList] = &[
    ServedList {
        name: "list_nutrition_beneficiaries",
        pupils: true,
    },
    ServedList {
        name: "list_boarders",
        pupils: true,
    },
    ServedList {
        name: "list_yibu",
        pupils: true,
    },
    ServedList {
        name: "list_aid_applicants",
        pupils: true,
    },
    ServedList {
        name: "list_roster",
        pupils: true,
    },
    ServedList {
        name: "list_graduates",
        pupils: true,
    },
    ServedList {
        name: "list_registration_numbers",
        pupils: true,
    },
    ServedList {
        name: "list_disability_info_missing",
        pupils: true,
    },
    // One row per change, per contradiction, per school: not one per pupil, so no `changes`.
    ServedList {
        name: "list_key_changes",
        pupils: false,
    },
    ServedList {
        name: "list_migrant_contradictions",
        pupils: false,
    },
    ServedList {
        name: "list_nutrition_schools",
        pupils: false,
    },
    ServedList {
        name: "list_meal_ledger_anomalies",
        pupils: false,
    },
    ServedList {
        name: "stats_registration_numbers",
        pupils: false,
    },
    ServedList {
        name: "stats_left_behind",
        pupils: false,
    },
    ServedList {
        name: "stats_migrant",
        pupils: false,
    },
    ServedList {
        name: "stats_school_form",
        pupils: false,
    },
    ServedList {
        name: "stats_nutrition_subsidy",
        pupils: false,
    },
    ServedList {
        name: "stats_nutrition_screening",
        pupils: false,
    },
];
