//! Name pools for synthetic pupils: surnames weighted roughly like the national distribution,
//! given-name characters grouped by pinyin so that homophone variants can be planted, a
//! simplified → traditional table for the characters the generator uses, and look-alike
//! characters (形近字) for shape variants.

use rand::Rng;

/// (surname, weight ‰ of the population), the most common surnames (公安部户籍统计, rounded).
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 71),
    ("李", 70),
    ("张", 64),
    ("刘", 54),
    ("陈", 45),
    ("杨", 32),
    ("黄", 24),
    ("赵", 23),
    ("吴", 21),
    ("周", 21),
    ("徐", 17),
    ("孙", 15),
    ("马", 15),
    ("朱", 14),
    ("胡", 13),
    ("郭", 12),
    ("何", 12),
    ("林", 11),
    ("高", 11),
    ("罗", 11),
    ("郑", 10),
    ("梁", 10),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("韩", 7),
    ("邓", 7),
    ("冯", 7),
    ("曹", 7),
    ("彭", 6),
    ("曾", 6),
    ("肖", 6),
    ("田", 6),
    ("董", 5),
    ("潘", 5),
    ("袁", 5),
    ("蔡", 5),
    ("蒋", 5),
    ("余", 5),
    ("于", 5),
    ("杜", 5),
    ("叶", 4),
    ("程", 4),
    ("魏", 4),
    ("苏", 4),
    ("吕", 4),
    ("丁", 4),
    ("任", 4),
    ("卢", 4),
    ("姚", 4),
    ("沈", 4),
    ("钟", 4),
    ("姜", 4),
    ("崔", 3),
    ("谭", 3),
    ("陆", 3),
    ("范", 3),
    ("汪", 3),
    ("廖", 3),
    ("石", 3),
    ("金", 3),
    ("韦", 3),
    ("贾", 3),
    ("夏", 3),
    ("付", 3),
    ("方", 3),
    ("邹", 2),
    ("熊", 2),
    ("白", 2),
    ("孟", 2),
    ("秦", 2),
    ("邱", 2),
    ("侯", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("闫", 2),
    ("段", 2),
    ("雷", 2),
    ("欧阳", 1),
    ("司马", 1),
    ("上官", 1),
    ("诸葛", 1),
];

/// Given-name characters in homophone groups (same pinyin, different character).
pub const GIVEN_GROUPS: &[&[&str]] = &[
    &["子", "梓", "紫"],
    &["涵", "晗", "含"],
    &["宇", "雨", "语", "羽"],
    &["轩", "萱", "璇", "宣"],
    &["浩", "皓", "昊", "灏"],
    &["欣", "馨", "昕", "鑫"],
    &["静", "婧", "晶"],
    &["杰", "洁", "婕"],
    &["伟", "玮", "炜"],
    &["丽", "莉", "俐"],
    &["一", "依", "怡", "伊"],
    &["诗", "思", "斯"],
    &["博", "伯", "波"],
    &["文", "雯", "汶"],
    &["佳", "嘉", "家"],
    &["晨", "辰", "宸"],
    &["雅", "亚", "娅"],
    &["俊", "骏", "峻"],
    &["明", "铭", "鸣"],
    &["睿", "瑞", "锐"],
    &["泽", "择"],
    &["然", "冉"],
    &["逸", "怡", "亦"],
    &["航", "杭"],
    &["天"],
    &["国", "果"],
    &["华", "桦", "骅"],
    &["军", "君", "钧"],
    &["东", "冬"],
    &["龙", "隆"],
    &["红", "宏", "鸿", "泓"],
    &["涛", "韬", "滔"],
    &["鹏", "朋"],
    &["飞", "菲", "霏"],
    &["阳", "洋", "扬"],
    &["凯", "楷", "铠"],
    // Characters with a common look-alike (玉/王, 晟/晨), so that shape variants meet real names.
    &["玉", "钰", "煜"],
    // Alone: 晟 is read shèng in names but chéng by the pinyin table, so it has no homophone here.
    &["晟"],
];

/// Simplified → traditional for characters above that differ.
pub const TRADITIONAL: &[(&str, &str)] = &[
    ("伟", "偉"),
    ("玮", "瑋"),
    ("炜", "煒"),
    ("丽", "麗"),
    ("国", "國"),
    ("华", "華"),
    ("桦", "樺"),
    ("骅", "驊"),
    ("军", "軍"),
    ("钧", "鈞"),
    ("东", "東"),
    ("龙", "龍"),
    ("红", "紅"),
    ("鸿", "鴻"),
    ("涛", "濤"),
    ("韬", "韜"),
    ("鹏", "鵬"),
    ("阳", "陽"),
    ("杨", "楊"),
    ("刘", "劉"),
    ("陈", "陳"),
    ("张", "張"),
    ("赵", "趙"),
    ("吴", "吳"),
    ("马", "馬"),
    ("郑", "鄭"),
    ("罗", "羅"),
    ("黄", "黃"),
    ("梁", "梁"),
    ("冯", "馮"),
    ("邓", "鄧"),
    ("许", "許"),
    ("韩", "韓"),
    ("萱", "萱"),
    ("馨", "馨"),
    ("鑫", "鑫"),
    ("婧", "婧"),
    ("铭", "銘"),
    ("鸣", "鳴"),
    ("睿", "睿"),
    ("锐", "銳"),
    ("泽", "澤"),
    ("择", "擇"),
    ("杰", "傑"),
    ("洁", "潔"),
    ("诗", "詩"),
    ("宸", "宸"),
    ("骏", "駿"),
    ("凯", "凱"),
    ("铠", "鎧"),
    ("飞", "飛"),
    ("扬", "揚"),
    ("宇", "宇"),
    ("语", "語"),
    ("轩", "軒"),
    ("浩", "浩"),
    ("晨", "晨"),
    ("嘉", "嘉"),
    ("静", "靜"),
    ("娅", "婭"),
    ("亚", "亞"),
    ("博", "博"),
    ("雯", "雯"),
];

/// Look-alike characters (形近字) a clerk may misread or mistype: (written, taken for). Pairs that
/// also sound alike (扬/杨, 博/搏, 峻/竣) are left out, as those are the homophone kind. Given-name
/// characters first; the surnames are used when no given-name character has a look-alike.
pub const SHAPE_SIMILAR: &[(&str, &str)] = &[
    ("天", "夭"),
    ("晨", "晟"),
    ("晟", "晨"),
    ("玉", "王"),
    ("宇", "字"),
    ("佳", "住"),
    ("思", "恩"),
    ("怡", "恰"),
    ("冉", "再"),
    ("瑞", "端"),
    ("钧", "钩"),
    ("鸣", "呜"),
    ("泽", "译"),
    ("亦", "赤"),
    ("昊", "吴"),
    ("明", "朋"),
    ("诗", "待"),
    ("华", "毕"),
    ("子", "孑"),
    ("紫", "柴"),
    ("亚", "业"),
    ("杭", "抗"),
    ("昕", "听"),
    ("王", "玉"),
    ("田", "由"),
    ("于", "干"),
    ("余", "佘"),
    ("金", "全"),
    ("马", "乌"),
    ("贾", "贯"),
];

/// The look-alike of a character, if it has one.
pub fn shape_similar(c: &str) -> Option<&'static str> {
    SHAPE_SIMILAR.iter().find(|(s, _)| *s == c).map(|(_, t)| *t)
}

pub fn traditional(c: &str) -> Option<&'static str> {
    TRADITIONAL.iter().find(|(s, t)| *s == c && s != t).map(|(_, t)| *t)
}

pub fn surname(rng: &mut impl Rng) -> &'static str {
    let total: u32 = SURNAMES.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (s, w) in SURNAMES {
        if x < *w {
            return s;
        }
        x -= w;
    }
    SURNAMES[0].0
}

/// One or two given-name characters; returns the (group, member) picks so variants can be made.
pub fn given(rng: &mut impl Rng) -> Vec<(usize, usize)> {
    let n = if rng.random_bool(0.8) { 2 } else { 1 };
    (0..n)
        .map(|_| {
            let g = rng.random_range(0..GIVEN_GROUPS.len());
            (g, rng.random_range(0..GIVEN_GROUPS[g].len()))
        })
        .collect()
}

pub fn render(surname: &str, given: &[(usize, usize)]) -> String {
    let mut s = surname.to_string();
    for &(g, m) in given {
        s.push_str(GIVEN_GROUPS[g][m]);
    }
    s
}
