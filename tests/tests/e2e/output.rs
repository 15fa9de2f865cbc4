//! What the operator's commands print: times in the configured zone, CSV that Chinese Excel
//! reads (a BOM by default, GBK on request), the same codes in tables and JSON, no colour codes
//! in a pipe, and a dry run that exits as its run would.

use std::path::Path;

use chrono::TimeZone;
use chrono_tz::Asia::Shanghai;
use orgid::services::workflow as wf;
use orgid_directory::store::WorkflowStore;
use orgid_directory::workflow::{CheckKind, RosterCheck};
use orgid_directory::{CompanyCode, PersonKey};

use crate::sync::{Backend, orgid};
use crate::workflow::{APPLY, Env, open, profile};

const BOM: &str = "\u{feff}";

async fn raw(cfg: &Path, args: &[&str]) -> (u8, Vec<u8>) {
    let cfg = cfg.display().to_string();
    let mut full = vec!["orgid", "--config", cfg.as_str()];
    full.extend_from_slice(args);
    let mut out = Vec::new();
    let code = orgid::cli::run_args(&full, Vec::new(), &mut out).await.unwrap();
    (code, out)
}

#[tokio::test]
async fn workflow_tables_show_local_times_and_csv_is_for_excel() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    let hr = env.who("wangfang").await;
    let r = wf::submit(&env.app, &hr, open(90, profile("A9", "何晓东", "C010", "M12", false))).await.unwrap();
    let r = wf::approve(&env.app, &env.who("lina").await, r.id, true, "").await.unwrap();
    let due = r.due.expect("an approved request has a due time");
    let local = due.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M:%S").to_string();

    let (code, table) = orgid(&env.cfg, &["requests", "list"]).await;
    assert_eq!(code, 0, "{table}");
    assert!(table.contains(&local), "due in Asia/Shanghai ({local}): {table}");
    assert!(!table.contains(&due.to_rfc3339()) && !table.contains("+00:00"), "{table}");

    // A roster difference first seen at 10:00 in Shanghai (02:00 UTC).
    let seen = chrono::Utc.with_ymd_and_hms(2026, 9, 28, 2, 0, 0).unwrap();
    let check = RosterCheck {
        id: 0,
        company: CompanyCode("C021".into()),
        person_key: PersonKey::from("key-R1".to_string()),
        employee_number: "R1".into(),
        name: "韩梅".into(),
        kind: CheckKind::Missing,
        detail: "not in the directory".into(),
        detail_zh: String::new(),
        first_seen: seen,
        last_seen: seen,
        resolved_at: None,
    };
    env.app.store.record_roster_checks(&[CompanyCode("C021".into())], &[check], seen).await.unwrap();
    let (_, checks) = orgid(&env.cfg, &["reports", "roster-checks"]).await;
    assert!(checks.contains("2026-09-28 10:00:00") && !checks.contains("02:00:00"), "{checks}");

    // CSV: UTF-8 with a BOM by default, once at the start; plain UTF-8 or GBK on request.
    let (_, csv) = orgid(&env.cfg, &["requests", "list", "--format", "csv"]).await;
    assert!(csv.starts_with(&format!("{BOM}id,kind,company")), "{csv:?}");
    assert_eq!(csv.matches(BOM).count(), 1);
    assert!(csv.contains(&local) && csv.contains("何晓东"), "{csv}");
    let (_, plain) = orgid(&env.cfg, &["requests", "list", "--format", "csv", "--encoding", "utf-8"]).await;
    assert_eq!(plain, csv[BOM.len()..]);
    let (_, gbk) = raw(&env.cfg, &["--encoding", "gbk", "reports", "roster-checks", "--format", "csv"]).await;
    assert!(std::str::from_utf8(&gbk).is_err(), "GBK is not UTF-8");
    let (text, _, bad) = encoding_rs::GBK.decode(&gbk);
    assert!(!bad && text.starts_with("id,company") && text.contains("韩梅,not in the directory"), "{text}");
    // Tables and JSON are never given a BOM.
    let (_, json) = orgid(&env.cfg, &["requests", "list", "--format", "json"]).await;
    assert!(json.starts_with('['), "{json:?}");
    assert!(!table.starts_with(BOM));
}

#[tokio::test]
async fn tables_and_json_name_a_rule_by_the_same_code() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    let (_, table) = orgid(&env.cfg, &["accounts", "explain", "B2"]).await;
    assert!(table.contains("rule             ELIG-2: "), "{table}");
    let (_, json) = orgid(&env.cfg, &["accounts", "explain", "B2", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["decision"]["rule"], "ELIG-2", "{json}");
    let (_, list) = orgid(&env.cfg, &["accounts", "list", "--format", "json"]).await;
    assert!(list.contains("\"rule\": \"ELIG-2\"") && !list.contains("Tier2To4"), "{list}");
}

#[tokio::test]
async fn a_dry_run_exits_as_its_run_would() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    let header = "公司名称,部门,入职日期,工号,姓名,性别,身份证号码,职务,职级,手机号,公司邮箱";
    let good = format!(
        "C010,财务部,2026-11-16,A8,何晓东,男,{},财务总监,M13,13800000017,a8@example.com",
        crate::hr::id_number(80)
    );
    let bad = "C010,财务部,2026-11-16,A9,林木,男,110105194912310021,会计,M12,13800000018,a9@example.com";
    let path = env.hr.dir.join("form1.csv");
    std::fs::write(&path, format!("{header}\n{good}\n{bad}\n")).unwrap();
    let file = path.to_str().unwrap();
    let (dry, out) = orgid(&env.cfg, &["import", file, "--dry-run"]).await;
    assert!(out.starts_with("dry run: nothing was written") && out.contains("1 rejected rows"), "{out}");
    let (real, out) = orgid(&env.cfg, &["import", file]).await;
    assert_eq!((dry, real), (4, 4), "{out}");
    std::fs::write(&path, format!("{header}\n{good}\n")).unwrap();
    assert_eq!(orgid(&env.cfg, &["import", file, "--dry-run"]).await.0, 0, "a clean file");
}

const CHILD_ENV: &str = "ORGID_E2E_CLI_ARGS";

/// Not a test of its own: `orgid` as a process of its own, with real standard streams (the test
/// below runs this binary again for this one test, the arguments in `ORGID_E2E_CLI_ARGS`, one a
/// line). Ignored in a normal run; without the variable it does nothing.
#[test]
#[ignore = "a helper process of another test, which runs it with --ignored"]
fn orgid_in_a_process_of_its_own() {
    let Ok(args) = std::env::var(CHILD_ENV) else { return };
    let args = std::iter::once("orgid").chain(args.lines()).map(std::ffi::OsString::from).collect();
    let code = orgid::cli::main_with(args, std::env::vars(), &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(i32::from(code));
}

/// Log lines on a stderr that is a pipe (or with `NO_COLOR`) carry no colour codes.
#[tokio::test]
async fn no_colour_codes_into_a_pipe() {
    let env = Env::new(Backend::Sqlite, APPLY).await;
    let args = format!("--config\n{}\nsync", env.cfg.display());
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "output::orgid_in_a_process_of_its_own", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, args)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(stderr.contains("sync finished"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "escape codes in a pipe: {stderr:?}");
}
