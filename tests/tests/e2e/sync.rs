//! The sync core end to end: HR files in, the CLI in-process, accounts and the ledger out. Every
//! test body runs against SQLite and against a real PostgreSQL server.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};

pub use orgid_tests::Backend;

/// A fresh, empty store of the given kind.
pub async fn store_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("orgid.db").display()),
        Backend::Postgres => orgid_tests::Postgres::shared().fresh_database().await,
    }
}

/// Runs `orgid --config CFG ARGS…` in-process; returns the exit code and what it printed.
pub async fn orgid(cfg: &Path, args: &[&str]) -> (u8, String) {
    let cfg = cfg.display().to_string();
    let mut full = vec!["orgid", "--config", cfg.as_str()];
    full.extend_from_slice(args);
    let mut out = Vec::new();
    let code =
        orgid::cli::run_args(&full, Vec::new(), &mut out).await.unwrap_or_else(|e| panic!("{full:?} failed: {e:#}"));
    (code, String::from_utf8(out).expect("utf-8 output"))
}

/// Like `orgid` but the command is expected to fail with an error (not an exit code).
pub async fn orgid_err(cfg: &Path, args: &[&str]) -> String {
    let cfg = cfg.display().to_string();
    let mut full = vec!["orgid", "--config", cfg.as_str()];
    full.extend_from_slice(args);
    let mut out = Vec::new();
    format!("{:#}", orgid::cli::run_args(&full, Vec::new(), &mut out).await.expect_err("should fail"))
}

async fn json(cfg: &Path, args: &[&str]) -> (u8, Value) {
    let mut a = args.to_vec();
    a.extend_from_slice(&["--format", "json"]);
    let (code, out) = orgid(cfg, &a).await;
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}")))
}

async fn accounts(cfg: &Path, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["accounts", "list"];
    args.extend_from_slice(filter);
    let (code, v) = json(cfg, &args).await;
    assert_eq!(code, 0);
    v.as_array().expect("array").clone()
}

/// login → status, for compact assertions.
async fn statuses(cfg: &Path) -> Vec<(String, String)> {
    accounts(cfg, &[])
        .await
        .iter()
        .map(|a| {
            (a["login"].as_str().unwrap_or_default().to_string(), a["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn counts(report: &Value) -> Value {
    report["counts"].clone()
}

struct Case {
    _dir: TempDir,
    hr: Hr,
    cfg: PathBuf,
}

async fn case(backend: Backend, extra_config: &str) -> Case {
    let dir = TempDir::new().expect("tempdir");
    let hr = Hr::new(dir.path());
    let url = store_url(backend, dir.path()).await;
    let cfg = hr.config(&url, extra_config);
    Case { _dir: dir, hr, cfg }
}

fn month_one() -> Vec<Row> {
    let mut chen = Row::new(6, "C010", "A3", "陈静", "P5");
    chen.confidential = true;
    vec![
        Row::new(1, "G000", "G1", "张伟", ""),
        Row::new(2, "C010", "A1", "王芳", "M12"),
        Row::new(3, "C010", "A2", "刘强", "P11"),
        Row::new(4, "C020", "B1", "杨洋", "M11"),
        Row::new(5, "N001", "N1", "孙浩", "M15"),
        chen,
    ]
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

both!(
    first_sync_lists_and_explains,
    second_month_moves_leavers_and_rehire,
    safety_hold_then_approve,
    shrunken_or_empty_source_fails
);
both!(bad_rows_are_reported_and_good_rows_applied, dry_run_writes_nothing, import_request_forms);

async fn first_sync_lists_and_explains(b: Backend) {
    let c = case(b, "").await;
    c.hr.write(&month_one(), false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["status"], "ok");
    assert_eq!(counts(&report)["open"], 4);
    assert_eq!(counts(&report)["pending_approval"], 1);
    assert_eq!(counts(&report)["people_updated"], 1, "刘强 is kept without an account");

    let all = accounts(&c.cfg, &[]).await;
    assert_eq!(all.len(), 5);
    let wang = all.iter().find(|a| a["employee_number"] == "A1").expect("王芳");
    assert_eq!(wang["login"], "wangfang");
    assert_eq!(wang["name"], "王芳");
    assert_eq!(wang["company"], "C010");
    assert_eq!(wang["department"], "综合部");
    assert_eq!(wang["status"], "active");
    assert_eq!(wang["rule"], "ELIG-1");

    let c010: Vec<_> = accounts(&c.cfg, &["--company", "C010"]).await.iter().map(|a| a["login"].clone()).collect();
    assert_eq!(c010, [Value::from("wangfang"), Value::from("chenjing")]);
    let pending = accounts(&c.cfg, &["--status", "pending_approval"]).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["login"], "sunhao");
    let (_, csv) = orgid(&c.cfg, &["accounts", "list", "--status", "active", "--format", "csv"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("\u{feff}login,employee_number,name,company,department"), "{csv}");
    assert_eq!(lines.len(), 5, "header + 4 active: {csv}");

    let (_, explain) = orgid(&c.cfg, &["accounts", "explain", "A2"]).await;
    assert!(explain.contains("BELOW-GRADE: 一级企业: P11 is below M12/P12 and above"), "{explain}");
    assert!(explain.contains("account          none"), "{explain}");
    let (_, explain) = json(&c.cfg, &["accounts", "explain", "N1"]).await;
    assert_eq!(explain["decision"]["outcome"], "needs_approval");
    assert_eq!(explain["company"]["tier"], "unrated");
    assert_eq!(explain["account"]["status"], "pending_approval");
    let e = orgid_err(&c.cfg, &["accounts", "explain", "NOBODY"]).await;
    assert!(e.contains("no person with employee number `NOBODY`"), "{e}");

    // The same roster again changes nothing.
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 0);
    assert_eq!(report["changes"].as_array().map(Vec::len), Some(0), "{report}");
    let (_, runs) = json(&c.cfg, &["runs", "list"]).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    assert_eq!(runs[1]["counts"]["open"], 4, "oldest last");
}

async fn second_month_moves_leavers_and_rehire(b: Backend) {
    // The joiner of independent C021 is applied like the others here (see workflow.rs for "check").
    let c = case(b, "[safety]\nmax_close_share = 0.5\n[workflow]\nindependent_roster = \"apply\"\n").await;
    c.hr.write(&month_one(), false);
    assert_eq!(orgid(&c.cfg, &["sync"]).await.0, 0);
    let before = accounts(&c.cfg, &[]).await;
    let chen_login = before.iter().find(|a| a["employee_number"] == "A3").map(|a| a["login"].clone()).expect("陈静");

    let mut m2 = month_one();
    m2[1].left = true; // 王芳 leaves
    m2[1].leave_date = "2026-01-15".into();
    m2[3].department = "运营部/客服中心".into(); // 杨洋 moves inside C020
    m2[5].company = "C020".into(); // 陈静 moves to C020 with a new employee number
    m2[5].employee_number = "B9".into();
    m2.push(Row::new(7, "C021", "B21", "周杰", "P13")); // joiner
    c.hr.write(&m2, true); // this month's export is GBK
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{report}");
    let n = counts(&report);
    assert_eq!(
        (n["open"].as_u64(), n["close"].as_u64(), n["adjust"].as_u64(), n["move"].as_u64()),
        (Some(1), Some(1), Some(1), Some(1)),
        "{n}"
    );

    let after = accounts(&c.cfg, &[]).await;
    let chen = after.iter().find(|a| a["employee_number"] == "B9").expect("陈静 under the new number");
    assert_eq!(chen["login"], chen_login, "a cross-company move keeps the account");
    assert_eq!(chen["company"], "C020");
    assert!(after.iter().all(|a| a["employee_number"] != "A3"), "the old number is gone");
    let wang = after.iter().find(|a| a["employee_number"] == "A1").expect("王芳 kept");
    assert_eq!(wang["status"], "disabled", "leavers are disabled, never deleted");
    assert_eq!(wang["rule"], "LEAVER");
    let yang = after.iter().find(|a| a["employee_number"] == "B1").expect("杨洋");
    assert_eq!(yang["department"], "运营部/客服中心");

    // The ledger has the per-account changes with the fields that changed.
    let (_, detail) = json(&c.cfg, &["runs", "show", "2"]).await;
    let mv = detail["changes"].as_array().expect("changes").iter().find(|c| c["op"] == "move").expect("move").clone();
    let fields: Vec<_> = mv["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(fields, ["employee_number", "company", "email"]);

    // Month 3: 王芳 is rehired; the same account comes back.
    let mut m3 = m2.clone();
    m3[1].left = false;
    m3[1].leave_date = String::new();
    c.hr.write(&m3, false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 0);
    assert_eq!(counts(&report)["reopen"], 1, "{report}");
    let wang = accounts(&c.cfg, &["--status", "active"])
        .await
        .into_iter()
        .find(|a| a["employee_number"] == "A1")
        .expect("王芳");
    assert_eq!(wang["login"], "wangfang");
}

async fn safety_hold_then_approve(b: Backend) {
    let c = case(b, "").await;
    let staff: Vec<Row> =
        (1..=40).map(|n| Row::new(n, "G000", &format!("G{n:03}"), &format!("员工{n}"), "P3")).collect();
    c.hr.write(&staff, false);
    assert_eq!(orgid(&c.cfg, &["sync"]).await.0, 0);
    let before = statuses(&c.cfg).await;

    // 3 of 40 leave: 7.5% > 5%, held before writing anything.
    let mut m2 = staff.clone();
    for r in &mut m2[..3] {
        r.left = true;
    }
    c.hr.write(&m2, false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 3, "held: {report}");
    assert_eq!(report["status"], "held");
    assert!(
        report["message"].as_str().is_some_and(|m| m.contains("3 of 40") && m.contains("max_close_share")),
        "{report}"
    );
    let held = report["run"].as_i64().expect("run id").to_string();
    assert_eq!(statuses(&c.cfg).await, before, "a held run writes nothing");
    let (_, detail) = json(&c.cfg, &["runs", "show", &held]).await;
    assert_eq!(detail["summary"]["status"], "held");

    let (code, report) = json(&c.cfg, &["sync", "--approve", &held]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(counts(&report)["close"], 3);
    let disabled = accounts(&c.cfg, &["--status", "disabled"]).await;
    assert_eq!(disabled.len(), 3);
    let (_, detail) = json(&c.cfg, &["runs", "show", &held]).await;
    assert_eq!(detail["summary"]["status"], "approved");
    let e = orgid_err(&c.cfg, &["sync", "--approve", &held]).await;
    assert!(e.contains("is approved, not held"), "{e}");

    // A hold that something else overtook cannot be approved any more.
    let mut m3 = m2.clone();
    for r in &mut m3[3..6] {
        r.left = true;
    }
    c.hr.write(&m3, false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 3);
    let held = report["run"].as_i64().expect("run id").to_string();
    let mut m4 = m2.clone();
    m4[10].title = "主管".into();
    c.hr.write(&m4, false);
    assert_eq!(json(&c.cfg, &["sync"]).await.0, 0, "an unrelated change is applied");
    let (code, report) = json(&c.cfg, &["sync", "--approve", &held]).await;
    assert_eq!(code, 1, "{report}");
    assert!(report["message"].as_str().is_some_and(|m| m.contains("changed since run")), "{report}");
    assert_eq!(accounts(&c.cfg, &["--status", "disabled"]).await.len(), 3, "the stale plan was not applied");
}

async fn shrunken_or_empty_source_fails(b: Backend) {
    let c = case(b, "").await;
    let staff: Vec<Row> = (1..=20).map(|n| Row::new(n, "G000", &format!("G{n:03}"), &format!("员工{n}"), "")).collect();
    c.hr.write(&staff, false);
    assert_eq!(orgid(&c.cfg, &["sync"]).await.0, 0);
    let before = statuses(&c.cfg).await;

    c.hr.write(&staff[..10], false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["status"], "failed");
    assert!(report["message"].as_str().is_some_and(|m| m.contains("50.0% fewer than the 20")), "{report}");
    c.hr.write(&[], false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 1);
    assert!(report["message"].as_str().is_some_and(|m| m.contains("no active people")), "{report}");
    assert_eq!(statuses(&c.cfg).await, before, "nothing closed");
    let (_, runs) = json(&c.cfg, &["runs", "list"]).await;
    let st: Vec<_> =
        runs.as_array().expect("runs").iter().map(|r| r["status"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(st, ["failed", "failed", "ok"]);

    // A missing column stops the run with the column's name.
    std::fs::write(c.hr.roster(), "公司名称,部门,工号,姓名\nG000,综合部,G001,员工1\n").expect("write");
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 1);
    assert!(report["message"].as_str().is_some_and(|m| m.contains("missing column 身份证号码")), "{report}");
}

async fn bad_rows_are_reported_and_good_rows_applied(b: Backend) {
    let c = case(b, "").await;
    let mut rows = month_one();
    rows[2].grade = "M99".into();
    rows[3].hire_date = "2021-02-30".into();
    rows.push(Row::new(8, "C999", "X1", "林峰", "M12"));
    c.hr.write(&rows, false);
    let (code, report) = json(&c.cfg, &["sync"]).await;
    assert_eq!(code, 4, "partial: {report}");
    assert_eq!(report["status"], "partial");
    let rejected = report["rejected"].as_array().expect("rejected");
    let file = c.hr.roster().display().to_string();
    let got: Vec<(String, u64, String)> = rejected
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap_or_default().to_string(),
                r["row"].as_u64().unwrap_or(0),
                r["column"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (file.clone(), 4, "职级".to_string()),
            (file.clone(), 5, "入职日期".to_string()),
            (file, 8, "公司名称".to_string())
        ]
    );
    assert!(rejected[0]["reason"].as_str().is_some_and(|r| r.contains("M99")), "{report}");
    assert_eq!(counts(&report)["open"], 3, "the good rows went through");
    let (_, detail) = json(&c.cfg, &["runs", "show", "1"]).await;
    assert_eq!(detail["summary"]["status"], "partial");
    assert_eq!(detail["rejected"].as_array().map(Vec::len), Some(3));
    let (_, table) = orgid(&c.cfg, &["runs", "show", "1"]).await;
    assert!(table.contains("3 rejected rows"), "{table}");
}

async fn dry_run_writes_nothing(b: Backend) {
    let c = case(b, "").await;
    c.hr.write(&month_one(), false);
    let (code, out) = orgid(&c.cfg, &["sync", "--dry-run"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("dry run: nothing was written"), "{out}");
    assert!(out.contains("open 4, reopen 0, adjust 0, move 0, close 0, pending approval 1"), "{out}");
    assert!(out.contains("wangfang"), "the plan lists the changes: {out}");
    assert!(accounts(&c.cfg, &[]).await.is_empty());
    let (_, runs) = json(&c.cfg, &["runs", "list"]).await;
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "not even the ledger");
}

async fn import_request_forms(b: Backend) {
    let c = case(b, "").await;
    c.hr.write(&month_one(), false);
    assert_eq!(orgid(&c.cfg, &["sync"]).await.0, 0);

    // Form 1 in GBK: one good opening, one with a bad ID number.
    let form1 = format!(
        "公司名称,部门,入职日期,工号,姓名,性别,身份证号码,职务,职级,手机号,公司邮箱\n\
         C020,财务部,2026-11-16,B99,何晓东,男,{},财务总监,M13,13800000017,hxd@example.com\n\
         C020,财务部,2026-11-16,B98,林木,男,110105194912310021,会计,M12,13800000018,lm@example.com\n",
        crate::hr::id_number(9)
    );
    let path = c.hr.dir.join("form1.csv");
    std::fs::write(&path, encoding_rs::GBK.encode(&form1).0).expect("write");
    let (code, report) = json(&c.cfg, &["import", path.to_str().expect("path")]).await;
    assert_eq!(code, 4, "{report}");
    assert_eq!(counts(&report)["open"], 1);
    assert_eq!(report["rejected"][0]["row"], 3);
    assert_eq!(report["rejected"][0]["column"], "身份证号码");
    assert!(!report.to_string().contains("110105194912310021"), "an ID number never reaches output");

    // Form 2: 杨洋 (B1, C020) moves to C010 as A7, M12; a row with a stale 异动前工号 is refused.
    let header = "异动前公司,异动前部门,入职日期,异动前工号,姓名,性别,身份证号码,异动前职务,异动前职级,手机号,异动前公司邮箱,异动后公司,异动后部门,异动日期,异动后工号,异动后职务,异动后职级,异动后公司邮箱";
    let form2 = format!(
        "{header}\nC020,综合部,2009-03-01,B1,杨洋,男,{},经理,M11,13800000004,b1@example.com,C010,运营部,2026-11-20,A7,运营总监,M12,a7@example.com\n\
         C010,综合部,2007-03-01,WRONG,王芳,女,{},经理,M12,13800000002,a1@example.com,C020,运营部,2026-11-20,B8,经理,M12,b8@example.com\n",
        crate::hr::id_number(4),
        crate::hr::id_number(2)
    );
    let path = c.hr.dir.join("form2.csv");
    std::fs::write(&path, form2).expect("write");
    let (code, report) = json(&c.cfg, &["import", path.to_str().expect("path")]).await;
    assert_eq!(code, 4, "{report}");
    assert_eq!(counts(&report)["move"], 1, "{report}");
    assert_eq!(report["rejected"][0]["column"], "异动前工号");
    let yang = accounts(&c.cfg, &[]).await.into_iter().find(|a| a["employee_number"] == "A7").expect("杨洋 as A7");
    assert_eq!(yang["login"], "yangyang");
    assert_eq!(yang["company"], "C010");
}

#[tokio::test]
async fn a_changed_person_key_secret_is_refused() {
    let c = case(Backend::Sqlite, "[identity]\nperson_key_secret = \"first-secret-0123456789\"\n").await;
    c.hr.write(&month_one(), false);
    assert_eq!(orgid(&c.cfg, &["sync"]).await.0, 0);
    let text = std::fs::read_to_string(&c.cfg).expect("read").replace("first-secret", "other-secret");
    std::fs::write(&c.cfg, text).expect("write");
    let e = orgid_err(&c.cfg, &["accounts", "list"]).await;
    assert!(e.contains("does not match the secret this store was first used with"), "{e}");
    assert!(!e.contains("other-secret"), "the secret is not echoed: {e}");
}

#[tokio::test]
async fn check_config_names_key_and_line() {
    let dir = TempDir::new().expect("tempdir");
    let cfg = dir.path().join("orgid.toml");
    std::fs::write(&cfg, "[sync]\nschedule = \"every day\"\n\n[safety]\nmax_close_share = 5\n").expect("write");
    let (code, out) = orgid(&cfg, &["check-config"]).await;
    assert_eq!(code, 2);
    let file = cfg.display();
    assert!(
        out.contains(&format!(
            "{file}:5:1: key `safety.max_close_share`: is 5, but must be a share between 0.0 and 1.0"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("{file}:2:1: key `sync.schedule`: `every day` is not a cron expression")), "{out}");
    std::fs::write(&cfg, "[sync]\nschedule = \"0 0 3 * * MON-FRI\"\n").expect("write");
    let (code, out) = orgid(&cfg, &["check-config"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("configuration OK"), "{out}");
}

/// Leaving dates are dates in the configured zone (Asia/Shanghai), and time is injected: the
/// same sync an hour apart, across local midnight, decides differently.
#[tokio::test]
async fn a_leaving_date_closes_the_account_from_local_midnight() {
    use chrono::TimeZone;
    use std::sync::Arc;

    let c = case(Backend::Sqlite, "").await;
    let mut staff: Vec<Row> =
        (1..=30).map(|n| Row::new(n, "G000", &format!("G{n:03}"), &format!("员工{n}"), "")).collect();
    staff[0].leave_date = "2026-11-23".into(); // still employed, leaving on the 23rd
    c.hr.write(&staff, false);
    let at = |h: u32, m: u32| chrono::Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).single().expect("time");
    let clock = Arc::new(orgid_directory::FixedClock::new(at(15, 30))); // 23:30 on the 22nd in Shanghai
    let config = orgid::cli::load_config(Some(&c.cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open_with_clock(config, clock.clone()).await.expect("open");
    let quiet = orgid::output::progress::Progress::hidden();

    let closes = |r: &orgid::services::ledger::RunReport| match r {
        orgid::services::ledger::RunReport::Applied { plan, .. } => plan.counts.close,
        other => panic!("not applied: {other:?}"),
    };
    let first = orgid::services::sync::sync(&app, false, "test", &quiet).await.expect("sync");
    assert_eq!(closes(&first), 0, "the evening before the leaving date");
    clock.set(at(16, 30)); // 00:30 on the 23rd in Shanghai, still the 22nd in UTC
    let second = orgid::services::sync::sync(&app, false, "test", &quiet).await.expect("sync");
    assert_eq!(closes(&second), 1, "from local midnight of the leaving date");
    let closed = accounts(&c.cfg, &["--status", "disabled"]).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["employee_number"], "G001");
    assert_eq!(closed[0]["rule"], "LEAVER");
}
