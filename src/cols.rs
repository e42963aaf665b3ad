//! Column positions of the input tables, resolved once from the schema files, so that code
//! names columns through fields instead of scattering string literals (STYLE.md).

use crate::schema::TableSchema;

macro_rules! column_index {
    ($name:ident { $($col:ident),* $(,)? }) => {
        #[allow(dead_code)]
        #[derive(Debug, Clone)]
        pub struct $name { $(pub $col: usize,)* pub len: usize }
        impl $name {
            pub fn new(t: &TableSchema) -> Self {
                let find = |n: &str| t.index_of(n).unwrap_or_else(|| panic!("bug: column {n} is not in schemas/{}.toml", t.table.name));
                Self { $($col: find(stringify!($col)),)* len: t.columns.len() }
            }
        }
    };
}

column_index!(StudentCols {
    school_id,
    name,
    gender,
    birth_date,
    birthplace_code,
    native_place,
    ethnicity,
    nationality,
    id_type,
    overseas_status,
    health_status,
    political_status,
    id_number,
    hukou_type,
    hukou_region_code,
    class_code,
    enrol_month,
    admission_mode,
    attendance_mode,
    current_address,
    postal_address,
    home_address,
    phone,
    postcode,
    is_only_child,
    had_preschool,
    left_behind_type,
    needs_aid,
    receives_yibu,
    is_orphan,
    is_martyr_child,
    school_distance_km,
    commute_mode,
    needs_school_bus,
    former_name,
    id_valid_period,
    blood_type,
    speciality,
    aux_registration_no,
    class_seat_no,
    student_source,
    email,
    homepage,
    disability_type,
    gov_purchased_place,
    inclusive_class,
    m1_name,
    m1_relation,
    m1_relation_note,
    m1_address,
    m1_hukou_region_code,
    m1_phone,
    m1_is_guardian,
    m1_id_type,
    m1_id_number,
    m1_ethnicity,
    m1_employer,
    m1_position,
    m2_name,
    m2_relation,
    m2_relation_note,
    m2_address,
    m2_hukou_region_code,
    m2_phone,
    m2_is_guardian,
    m2_id_type,
    m2_id_number,
    m2_ethnicity,
    m2_employer,
    m2_position,
    is_migrant_child,
    registration_no,
});

column_index!(SchoolCols {
    school_id,
    school_name,
    county_code,
    authority_code,
    school_kind,
    ownership,
    urban_rural,
    branch_of,
    address,
    school_system,
});

column_index!(MovementCols {
    movement_id,
    registration_no,
    name,
    movement_type,
    from_school_id,
    to_school_id,
    apply_date,
    effective_date,
    reason,
    step1_unit,
    step1_decision,
    step1_time,
    step2_unit,
    step2_decision,
    step2_time,
    step3_unit,
    step3_decision,
    step3_time,
    step4_unit,
    step4_decision,
    step4_time,
    step5_unit,
    step5_decision,
    step5_time,
    current_handler,
    status,
});
