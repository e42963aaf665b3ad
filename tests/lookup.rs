//! 全国学籍查询 (issue 23): `xueji lookup` and `/v1/lookup` on hand-made registrations of the
//! sample. One pupil is registered twice, in 黟县 (安徽) and in 江汉区 (湖北): a 问题学籍 of kind 1
//! (身份证件号重复), whose ID number ends in X; another pupil is registered in 江汉区 only. Each
//! test quotes seed 001_a44a5fa5b2008fd7.txt, 第16章 (the scrape writes XX for 姓名 and 身份证).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use xueji::serve::access::{Grant, add_token};
use xueji::serve::{Limits, ServeOptions, Server, start_with};

const NIGHT2: &str = "2026-10-16";
/// Names no sample pupil has.
const NAME_A: &str = "欧阳知夏";
const NAME_B: &str = "司马青禾";

/// A registration picked from the first night, as the tests know it.
#[derive(Debug, Clone)]
struct Reg {
    school: String,
    regno: String,
    id: String,
    gender: String,
    /// YYYY-MM-DD.
    birth: String,
}

struct World {
    _tmp: tempfile::TempDir,
    wh: PathBuf,
    /// The pupil in 黟县 (ID number ending in X).
    a: Reg,
    /// Her second registration, in 江汉区 (its own 学籍号, her name and ID number).
    a2: Reg,
    /// The pupil in 江汉区 only.
    b: Reg,
}

/// Night 1: the sample's 黟县 and 江汉区 as they are. Night 2: the same files with the three
/// registrations changed by hand; then every model.
async fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let (h, yixian) = county("341023");
    let (h2, jianghan) = county("420103");
    assert_eq!(h, h2, "one template");
    let night1 = vec![
        samples().join("schools.csv"),
        write_csv(&tmp.path().join("n1/341023.csv"), &h, &yixian),
        write_csv(&tmp.path().join("n1/420103.csv"), &h, &jianghan),
    ];
    ingest(&wh, NIGHT1, night1, 2).await;
    // Pupils accepted on night 1 whose resident ID number is valid and theirs alone.
    let picked = dump(
        &wh,
        "SELECT sc.county_code, s.registration_no, s.school_id, s.id_number, s.gender, CAST(s.birth_date AS VARCHAR)
         FROM students s JOIN schools sc ON sc.school_id = s.school_id
         WHERE s.id_type = '居民身份证' AND s.registration_no IS NOT NULL
           AND id_check(s.id_number, s.gender, s.birth_date, s.as_of_date) IS NULL
           AND s.id_number IN (SELECT id_number FROM students GROUP BY id_number HAVING COUNT(*) = 1)
           AND s.name NOT IN ('欧阳知夏', '司马青禾')",
        None,
    )
    .await;
    let regs: Vec<(String, Reg)> = picked[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let r = Reg {
                school: f[2].into(),
                regno: f[1].into(),
                id: f[3].into(),
                gender: f[4].into(),
                birth: f[5].into(),
            };
            (f[0].to_string(), r)
        })
        .collect();
    let a = regs
        .iter()
        .find(|(c, r)| c == "341023" && r.id.len() == 18 && r.id.ends_with('X'))
        .expect("a 黟县 pupil whose ID number ends in X")
        .1
        .clone();
    let jh: Vec<&Reg> = regs
        .iter()
        .filter(|(c, r)| c == "420103" && r.id.len() == 18)
        .map(|(_, r)| r)
        .collect();
    // Her second registration in a class of her own age, if there is one.
    let a2: Reg = (*jh.iter().find(|r| r.birth[..4] == a.birth[..4]).unwrap_or(&jh[0])).clone();
    let b: Reg = (*jh.iter().find(|r| r.regno != a2.regno).unwrap()).clone();

    let (name, gender, birth, id_type, id, regno) = (
        col(&h, "姓名"),
        col(&h, "性别"),
        col(&h, "出生日期"),
        col(&h, "身份证件类型"),
        col(&h, "身份证件号"),
        col(&h, "学籍号"),
    );
    let yixian: Vec<csv::StringRecord> = yixian
        .iter()
        .map(|r| {
            if r[regno] == a.regno {
                with(r, name, NAME_A)
            } else {
                r.clone()
            }
        })
        .collect();
    let jianghan: Vec<csv::StringRecord> = jianghan
        .iter()
        .map(|r| {
            if r[regno] == a2.regno {
                // The same child entered again at a school in another province.
                let r = with(r, name, NAME_A);
                let r = with(&r, gender, &a.gender);
                let r = with(&r, birth, &a.birth.replace('-', ""));
                let r = with(&r, id_type, "居民身份证");
                with(&r, id, &a.id)
            } else if r[regno] == b.regno {
                with(r, name, NAME_B)
            } else {
                r.clone()
            }
        })
        .collect();
    let night2 = vec![
        samples().join("schools.csv"),
        write_csv(&tmp.path().join("n2/341023.csv"), &h, &yixian),
        write_csv(&tmp.path().join("n2/420103.csv"), &h, &jianghan),
    ];
    ingest(&wh, NIGHT2, night2, 2).await;
    run_models(&wh).await;
    let a2 = Reg {
        id: a.id.clone(),
        gender: a.gender.clone(),
        birth: a.birth.clone(),
        ..a2
    };
    World {
        _tmp: tmp,
        wh,
        a,
        a2,
        b,
    }
}

/// What no answer may hold: a full ID number (in either case of its X), a 学籍号, a birth date in
/// either form, a name unmasked.
fn assert_nothing_whole(w: &World, text: &str) {
    for r in [&w.a, &w.a2, &w.b] {
        for secret in [
            r.id.clone(),
            r.id.to_lowercase(),
            r.regno.clone(),
            r.birth.clone(),
            r.birth.replace('-', ""),
        ] {
            assert!(!text.contains(&secret), "{secret} shown whole: {text}");
        }
    }
    for n in [NAME_A, NAME_B] {
        assert!(!text.contains(n), "{n} shown unmasked");
    }
}

/// `xueji lookup` with these arguments: exit code and stdout.
fn cli(wh: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["lookup", "--warehouse"])
        .arg(wh)
        .args(["--threads", "2", "--memory-mb", "512"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), stdout)
}

/// The masked form of an ID number: the region, then `*`.
fn masked_id(id: &str) -> String {
    format!("{}{}", &id[..6], "*".repeat(id.len() - 6))
}

/// Seed 001 第16章: "输入学生XX和XX件号,或者XX和全国学籍号,以及验证码,点击“查询”按钮,查询学生学籍信息,
/// 查询结果包括:XX、全国学籍号、XX件号、所在省份、就读学段、就读状态、是否问题学籍、最新学籍变动时间" —
/// found by name and ID number (X in either case) or by name and 学籍号; never by the ID number
/// with another name; each registration with its province, stage, status, problem flag and
/// latest change, the identity masked; exit 0 found, 1 not found, 2 bad arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_on_the_command_line() {
    let w = world().await;
    let lower_x = w.a.id.to_lowercase();
    let (code, out) = cli(&w.wh, &["--name", NAME_A, "--id-number", lower_x.as_str(), "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_nothing_whole(&w, &out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["snapshot_date"], NIGHT2);
    assert_eq!(v["found"], 2, "both registrations of the child: {v}");
    let regs = v["registrations"].as_array().unwrap();
    let mut provinces: Vec<&str> = regs.iter().map(|r| r["province_name"].as_str().unwrap()).collect();
    provinces.sort();
    assert_eq!(provinces, ["安徽省", "湖北省"]);
    for r in regs {
        assert_eq!(r["name"], "欧**夏");
        assert_eq!(r["id_number"], masked_id(&w.a.id));
        assert!(r["stage"].is_string() && r["status"].is_string(), "{r}");
        assert_eq!(r["latest_change"], NIGHT2, "both were changed on the second night");
        // One ID number on two registrations: 身份证件号重复 (DOMAIN.md §问题学籍, kind 1).
        assert_eq!(r["problem"], true, "{r}");
        assert!(
            r["problem_kinds"][0].as_str().unwrap().starts_with("身份证件号重复"),
            "{r}"
        );
    }
    let schools: Vec<&str> = regs.iter().map(|r| r["school_id"].as_str().unwrap()).collect();
    assert!(schools.contains(&w.a.school.as_str()) && schools.contains(&w.a2.school.as_str()));

    // By 学籍号: only the registration that carries it; a Chinese table on a terminal.
    let (code, out) = cli(&w.wh, &["--name", NAME_A, "--registration-no", w.a.regno.as_str()]);
    assert_eq!(code, 0, "{out}");
    assert_nothing_whole(&w, &out);
    for want in [
        "全国学籍查询",
        "所在省份",
        "就读状态",
        "是否问题学籍",
        "安徽省",
        "欧**夏",
        w.a.school.as_str(),
    ] {
        assert!(out.contains(want), "{want} missing: {out}");
    }
    assert!(!out.contains("湖北省"), "the other registration has another 学籍号");

    // Not found: the right ID number with another name, or the other pupil's name.
    let (code, out) = cli(&w.wh, &["--name", "欧阳知秋", "--id-number", w.a.id.as_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("未查到"), "{out}");
    let (code, _) = cli(&w.wh, &["--name", NAME_B, "--id-number", w.a.id.as_str(), "--json"]);
    assert_eq!(code, 1);
    let (code, out) = cli(&w.wh, &["--name", NAME_B, "--id-number", w.b.id.as_str(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["registrations"][0]["problem"], false);
    assert_eq!(v["registrations"][0]["province_name"], "湖北省");

    // Bad arguments: a 学籍号 without the name (seed: "XX和全国学籍号"), both numbers, a number with
    // a space or a wildcard in it, a date before the first run.
    let (id, regno) = (w.a.id.as_str(), w.a.regno.as_str());
    let bad: [&[&str]; 5] = [
        &["--registration-no", regno],
        &["--name", NAME_A, "--id-number", id, "--registration-no", regno],
        &["--name", NAME_A, "--id-number", "3410 2320"],
        &["--name", NAME_A, "--id-number", "34102320%"],
        &["--name", NAME_A, "--id-number", id, "--as-of", "2020-01-01"],
    ];
    for args in bad {
        let (code, out) = cli(&w.wh, args);
        assert_eq!(code, 2, "{args:?}: {out}");
    }
    // Part of a number passes the syntax of an ID number: it is simply not found.
    assert_eq!(cli(&w.wh, &["--name", NAME_A, "--id-number", &w.a.id[..17]]).0, 1);
}

/// A token's grant; `unmask` too, which a lookup ignores: its answer is always masked.
fn grant(id: &str, jurisdiction: &str, lists: &[&str]) -> Grant {
    crate::serve::grant(id, jurisdiction, lists, true, None)
}

async fn server(wh: &Path, dir: &Path, tokens: &Path, audit: &str, limits: Limits) -> Server {
    let o = ServeOptions {
        warehouse: wh.to_str().unwrap().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        tokens: tokens.to_path_buf(),
        audit: dir.join(audit),
        refresh: Duration::from_millis(200),
        threads: 2,
        memory_mb: 1024,
    };
    start_with(&o, &limits).await.unwrap()
}

struct Api {
    base: String,
    http: reqwest::Client,
    /// Every body received, to check that none holds a pupil's identity whole.
    bodies: std::sync::Mutex<Vec<String>>,
}

impl Api {
    fn of(srv: &Server) -> Self {
        Api {
            base: format!("http://{}", srv.addr),
            http: reqwest::Client::new(),
            bodies: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn get(&self, token: Option<&str>, pairs: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut r = self.http.get(format!("{}/v1/lookup?{q}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        self.read(r.send().await.unwrap()).await
    }

    async fn post(&self, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/v1/lookup", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    async fn read(&self, r: reqwest::Response) -> (u16, serde_json::Value) {
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
        )
    }
}

/// Seed 001 第16章: "学籍系统提供查询全国学生学籍基本信息和状态的功能" and "查询结果包括:XX、全国学籍号、
/// XX件号、所在省份、就读学段、就读状态、是否问题学籍、最新学籍变动时间" — the lookup is national, and
/// its result names the province, not the school. So a county token that looks up a child
/// registered elsewhere learns the province, stage, status, problem flag and date, and nothing of
/// the school (`in_jurisdiction: false`); its own registrations show the school and grade too. A
/// token needs `lookup` granted by name; each call is audited with the ID number masked, by GET
/// or by POST (which keeps it out of the URL); the screen's 验证码 becomes a rate limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_over_the_api() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let t_county = add_token(&tokens, grant("county", "341023", &["lookup"])).unwrap();
    let t_hubei = add_token(&tokens, grant("hubei", "42", &["lookup", "list_roster"])).unwrap();
    let t_lists = add_token(&tokens, grant("lists", "*", &["*"])).unwrap();
    let srv = server(&w.wh, dir.path(), &tokens, "audit.jsonl", Limits::default()).await;
    let api = Api::of(&srv);
    let by_id = [("name", NAME_A), ("id_number", w.a.id.as_str())];

    // Found by name and ID number: the county's own registration whole, the other province's
    // without its school.
    let (st, v) = api.get(Some(&t_county), &by_id).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["found"], 2, "{v}");
    assert_eq!(v["snapshot_date"], NIGHT2);
    let regs = v["registrations"].as_array().unwrap();
    let own = regs
        .iter()
        .find(|r| r["in_jurisdiction"] == true)
        .expect("the 黟县 registration");
    assert_eq!(own["school_id"], w.a.school.as_str());
    assert!(own["school_name"].is_string() && own["stage"].is_string(), "{own}");
    assert_eq!(own["province_name"], "安徽省");
    let elsewhere = regs
        .iter()
        .find(|r| r["in_jurisdiction"] == false)
        .expect("the 江汉区 one");
    assert_eq!(elsewhere["province_name"], "湖北省");
    assert!(
        elsewhere["status"].is_string() && elsewhere["stage"].is_string(),
        "{elsewhere}"
    );
    assert_eq!(
        elsewhere["problem"], true,
        "是否问题学籍 is shown wherever the registration is"
    );
    for hidden in ["school_id", "school_name", "county_code", "grade"] {
        assert!(elsewhere[hidden].is_null(), "{hidden}: {elsewhere}");
    }
    assert!(
        !serde_json::to_string(&v).unwrap().contains(&w.a2.school),
        "nothing of the other province's school"
    );

    // The same as POST, the query in the body; and with the check character in lower case.
    let body = serde_json::json!({ "name": NAME_A, "id_number": w.a.id.to_lowercase() });
    let (st, p) = api.post(&t_county, body).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["registrations"], v["registrations"]);

    // By name and 学籍号: the registration that carries it.
    let (st, v) = api
        .get(
            Some(&t_county),
            &[("name", NAME_A), ("registration_no", w.a.regno.as_str())],
        )
        .await;
    assert_eq!((st, v["found"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["registrations"][0]["school_id"], w.a.school.as_str());

    // Not found with the right ID number and a wrong name.
    let (st, v) = api
        .get(Some(&t_county), &[("name", "司马青苗"), ("id_number", w.b.id.as_str())])
        .await;
    assert_eq!((st, v["found"].as_u64()), (200, Some(0)), "{v}");
    assert!(v["registrations"].as_array().unwrap().is_empty());

    // A pupil wholly outside the county token's jurisdiction: nothing of the school; the Hubei
    // token sees it.
    let by_b = [("name", NAME_B), ("id_number", w.b.id.as_str())];
    let (_, v) = api.get(Some(&t_county), &by_b).await;
    let r = &v["registrations"][0];
    assert_eq!(
        (r["in_jurisdiction"].as_bool(), r["problem"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(r["school_id"].is_null() && r["school_name"].is_null(), "{r}");
    assert!(!serde_json::to_string(&v).unwrap().contains(&w.b.school));
    let (_, v) = api.get(Some(&t_hubei), &by_b).await;
    assert_eq!(v["registrations"][0]["in_jurisdiction"], true);
    assert_eq!(v["registrations"][0]["school_id"], w.b.school.as_str());

    // Who may not: no token, a token for lists only (`*` does not grant lookup).
    assert_eq!(api.get(None, &by_id).await.0, 401);
    let (st, v) = api.get(Some(&t_lists), &by_id).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (403, Some("lookup_not_granted")),
        "{v}"
    );
    assert!(v.get("registrations").is_none());

    // Bad parameters: 400 with a Chinese message.
    let (id, regno) = (w.a.id.as_str(), w.a.regno.as_str());
    let bad: [Vec<(&str, &str)>; 6] = [
        vec![("registration_no", regno)],
        vec![("name", NAME_A)],
        vec![("name", NAME_A), ("id_number", id), ("registration_no", regno)],
        vec![("name", NAME_A), ("id_number", "341023%")],
        vec![("name", NAME_A), ("id_number", id), ("school", "2341023001")],
        vec![("name", NAME_A), ("id_number", id), ("date", "2026-13-01")],
    ];
    for pairs in bad {
        let (st, v) = api.get(Some(&t_county), &pairs).await;
        assert_eq!(st, 400, "{pairs:?}: {v}");
        let zh = v["error"]["message"].as_str().unwrap();
        assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{zh}");
    }
    let (st, _) = api
        .post(&t_county, serde_json::json!({ "name": NAME_A, "id": w.a.id }))
        .await;
    assert_eq!(st, 400, "an unknown field");

    srv.stop().await.unwrap();
    for body in api.bodies.lock().unwrap().iter() {
        assert_nothing_whole(&w, body);
    }

    // The audit log: each call, by whom, with the ID number masked, in the query of a GET and in
    // the lookup record of either.
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_nothing_whole(&w, &log);
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let calls: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "response" && l["path"] == "/v1/lookup")
        .collect();
    assert_eq!(calls.len(), 15, "every call audited once");
    let first = calls[0];
    assert_eq!(
        (first["token"].as_str(), first["method"].as_str()),
        (Some("county"), Some("GET"))
    );
    assert!(
        first["query"]
            .as_str()
            .unwrap()
            .contains(&format!("id_number={}", masked_id(&w.a.id))),
        "{first}"
    );
    let l = &first["lookup"];
    assert_eq!(l["id_number"], masked_id(&w.a.id));
    assert_eq!(l["name"], "欧**夏");
    assert_eq!((l["found"].as_u64(), l["in_jurisdiction"].as_u64()), (Some(2), Some(1)));
    assert_eq!(first["snapshot_date"], NIGHT2);
    let posted = calls[1];
    assert_eq!(
        (posted["method"].as_str(), posted["query"].as_str()),
        (Some("POST"), Some(""))
    );
    assert_eq!(posted["lookup"]["id_number"], masked_id(&w.a.id), "{posted}");
    assert!(calls.iter().any(|l| l["token"] == "lists" && l["status"] == 403));

    // The screen's 验证码 as a rate limit: the third lookup of a minute is refused, with when to
    // come back.
    let limits = Limits {
        lookups_per_minute: 2,
        ..Limits::default()
    };
    let srv = server(&w.wh, dir.path(), &tokens, "audit-limited.jsonl", limits).await;
    let url = format!("http://{}/v1/lookup", srv.addr);
    for expect in [200, 200, 429] {
        let r = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&t_county)
            .body(serde_json::to_vec(&serde_json::json!({ "name": NAME_B, "id_number": w.b.id })).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expect);
        if expect == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(v["error"]["code"], "too_many_lookups");
        }
    }
    srv.stop().await.unwrap();
}

/// A county re-sends its night and the warehouse is vacuumed, with no model run in between: the
/// server moves to the night's new `students` version (it looks at `_nights` as well as `_runs`),
/// so the files vacuum removes are no longer the ones its lookups read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_go_on_after_a_resent_night_and_a_vacuum() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let t = add_token(&tokens, grant("county", "341023", &["lookup"])).unwrap();
    let srv = server(&w.wh, dir.path(), &tokens, "audit.jsonl", Limits::default()).await;
    let api = Api::of(&srv);
    let by_id = [("name", NAME_A), ("id_number", w.a.id.as_str())];
    let (st, before) = api.get(Some(&t), &by_id).await;
    assert_eq!((st, before["found"].as_u64()), (200, Some(2)), "{before}");

    let n2 = w._tmp.path().join("n2");
    let resent = vec![
        samples().join("schools.csv"),
        n2.join("341023.csv"),
        n2.join("420103.csv"),
    ];
    ingest(&w.wh, NIGHT2, resent, 2).await;
    // The server looks every 200 ms.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xueji"))
        .args(["vacuum", "--keep-hours", "0", "--force", "--json", "--warehouse"])
        .arg(&w.wh)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let students = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "students")
        .unwrap();
    assert!(
        students["files"].as_u64().unwrap() > 0,
        "the re-sent night retired files: {v}"
    );

    let (st, after) = api.get(Some(&t), &by_id).await;
    assert_eq!(st, 200, "{after}");
    assert_eq!(after["registrations"], before["registrations"]);
    srv.stop().await.unwrap();
}
