//! Trust in the sync (issue 13): a rejected row never changes the person behind it, a clean sync
//! leaves no drift, the outbox can be hurried and unstuck, and a dead run is not left `running`.
//! Every scenario runs against a real slapd and ends with `orgid ldap reconcile --dry-run`
//! finding nothing.

use orgid_directory::target::ldap::{DirOp, QueuedOp};
use orgid_tests::Slapd;
use serde_json::Value;

use crate::hr::Row;
use crate::ldap_sync::{Env, at, dump, month_one};
use crate::sync::{Backend, orgid};

/// After a clean sync the directory is exactly what the store says.
pub(crate) async fn assert_no_drift(env: &Env) {
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "reconcile found drift after a clean sync:\n{out}");
    assert!(out.contains("no drift"), "{out}");
}

fn warnings(report: &Value) -> String {
    report["warnings"].as_array().map(|w| format!("{w:?}")).unwrap_or_default()
}

/// 王芳 (A1, row 3 of the roster: header, 张伟, then her) with one cell made bad in four ways: each
/// time the run is partial, names the row and column, and leaves her account, her directory entry
/// and her groups exactly as they were.
#[tokio::test]
async fn a_rejected_row_leaves_the_person_exactly_as_they_were() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    assert_no_drift(&env).await;
    let wang = at("uid=wangfang,ou=一科,ou=财务部,ou=C010,ou=G000");
    let before = dump(&slapd).await;
    assert!(before.contains_key(&wang));
    let (_, accounts_before) = orgid(&env.cfg, &["accounts", "list", "--format", "json"]).await;

    type Typo = (&'static str, fn(&mut Row));
    let typos: [Typo; 4] = [
        ("职级", |r| r.grade = "Z99".into()),
        ("状态", |r| r.status = Some("试用".into())),
        ("身份证号码", |r| {
            let mut id = crate::hr::id_number(r.n);
            let last = if id.ends_with('1') { '2' } else { '1' };
            id.pop();
            id.push(last);
            r.id = Some(id);
        }),
        ("职务", |r| r.title = "经\u{7}理".into()),
    ];
    for (column, typo) in typos {
        let mut rows = month_one();
        typo(&mut rows[1]);
        env.hr.write(&rows, false);
        let report = env.sync().await;
        assert_eq!(report["status"], "partial", "{column}: {report}");
        let rejected = report["rejected"].as_array().expect("rejected rows");
        assert_eq!(rejected.len(), 1, "{column}: {report}");
        assert_eq!((rejected[0]["row"].as_u64(), rejected[0]["column"].as_str()), (Some(3), Some(column)), "{report}");
        assert_eq!(report["counts"]["close"], 0, "{column}: nobody is closed for a typo: {report}");
        assert!(report["changes"].as_array().is_some_and(Vec::is_empty), "{column}: nothing changes: {report}");
        assert!(warnings(&report).contains("employee A1 (王芳) is kept as they were"), "{column}: {report}");
        let (_, accounts) = orgid(&env.cfg, &["accounts", "list", "--format", "json"]).await;
        assert_eq!(accounts, accounts_before, "{column}: the accounts are as they were");
        assert_eq!(dump(&slapd).await, before, "{column}: the directory is as it was");
        assert_no_drift(&env).await;
    }

    // The row fixed: still nothing to do.
    env.hr.write(&month_one(), false);
    let report = env.sync().await;
    assert_eq!(report["status"], "ok", "{report}");
    assert!(report["changes"].as_array().is_some_and(Vec::is_empty), "{report}");
    assert_no_drift(&env).await;
}

/// A row that names no ID number, employee number or company may be anyone's: nobody absent is
/// closed in that run, and the report says who was kept.
#[tokio::test]
async fn a_row_that_tells_nobody_keeps_every_absent_person() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let mut rows = month_one();
    let mut nobody = rows[1].clone();
    (nobody.id, nobody.employee_number, nobody.company) = (Some(String::new()), String::new(), String::new());
    rows[1] = nobody; // 王芳's row lost its identity: she is absent, and the bad row may be hers
    env.hr.write(&rows, false);
    let report = env.sync().await;
    assert_eq!(report["counts"]["close"], 0, "{report}");
    assert!(warnings(&report).contains("employee A1 (王芳) is kept as they were"), "{report}");
    assert_no_drift(&env).await;

    // Once the roster is clean, someone really missing from it is closed as before.
    let mut rows = month_one();
    rows.remove(1);
    env.hr.write(&rows, false);
    let report = env.sync().await;
    assert_eq!(report["counts"]["close"], 1, "{report}");
    assert_no_drift(&env).await;
}

/// A person who moves to a company where their grade gives no account is closed, and the locked
/// entry follows their HR facts (place, employee number, company, department) like an active one:
/// reconcile then finds nothing to repair.
#[tokio::test]
async fn a_move_that_closes_the_account_leaves_no_drift() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let mut rows = month_one();
    rows[3].company = "C010".into(); // 杨洋 (M11) from tier 2 to tier 1, which asks for M12
    rows[3].employee_number = "A9".into();
    env.hr.write(&rows, false);
    let report = env.sync().await; // asserts no drift
    assert_eq!(report["counts"]["close"], 1, "{report}");
    let all = dump(&slapd).await;
    assert!(!all.contains_key(&at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000")), "not left under the old OU");
    let yang = &all[&at("uid=yangyang,ou=综合部,ou=C010,ou=G000")];
    let one = |a: &str| yang.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(a)).map(|(_, v)| v[0].clone());
    assert_eq!(one("employeeNumber").as_deref(), Some("A9"));
    assert_eq!(one("o").as_deref(), Some("测试一级公司"));
    assert_eq!(one("mail").as_deref(), Some("a9@example.com"));
    assert_eq!(one("pwdAccountLockedTime").as_deref(), Some("000001010000Z"), "locked");
    assert_no_drift(&env).await;
}

/// Deletes entries behind orgid's back, as an administrator with ldapdelete would.
pub(crate) async fn delete_by_hand(slapd: &Slapd, dns: &[String]) {
    let s = crate::ldap_sync::sink(slapd).await;
    let ops: Vec<_> = dns
        .iter()
        .map(|d| QueuedOp { key: d.clone(), phase: 0, op: DirOp::Delete { dn: d.parse().expect("dn") } })
        .collect();
    assert!(s.apply(&ops).await.iter().all(Result::is_ok));
    s.unbind().await;
}

/// A refused operation waits out a growing retry delay; once the directory is fixed, `ldap push`
/// (and `ldap retry`) applies it at once instead of waiting.
#[tokio::test]
async fn push_applies_what_waits_for_a_retry_once_the_cause_is_fixed() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let group = at("cn=C020,ou=groups");
    let kept = dump(&slapd).await[&group].clone();
    delete_by_hand(&slapd, std::slice::from_ref(&group)).await;

    let mut rows = month_one();
    rows.push(Row::new(7, "C020", "B7", "周杰", "P12")); // joins C020: a member for the missing group
    env.hr.write(&rows, false);
    let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["directory"]["refused"], 1, "the member change is refused: {report}");

    // The administrator puts the group back, then asks orgid to catch up now.
    let attrs: String = kept
        .attrs
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("entryUUID"))
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}: {v}\n")))
        .collect();
    slapd.add(&format!("dn: {group}\n{attrs}")).await;
    let (code, out) = orgid(&env.cfg, &["ldap", "push"]).await;
    assert!(out.contains("1 operations waiting to be retried are tried now"), "{out}");
    assert_eq!(code, 0, "push applies it at once: {out}");
    assert!(out.contains("1 operations applied, 0 refused"), "{out}");
    assert_eq!(crate::ldap_sync::members(&dump(&slapd).await, &group), ["yangyang", "zhoujie"]);
    assert_no_drift(&env).await;
}

/// An account entry deleted by hand: the next update of that account adds it again, and a lock
/// (a replace) queued for it does not fail forever but leaves the entry to reconcile, which adds it
/// back locked.
#[tokio::test]
async fn operations_on_an_entry_deleted_by_hand_do_not_fail_forever() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let (zhang, yang) = (at("uid=zhangwei,ou=综合部,ou=G000"), at("uid=yangyang,ou=综合部,ou=C020,ou=C010,ou=G000"));
    delete_by_hand(&slapd, &[zhang.clone(), yang.clone()]).await;

    let mut rows = month_one();
    rows[0].title = "总经理".into(); // 张伟: an update of the missing entry
    rows[3].left = true; // 杨洋 leaves: a lock of the missing entry
    env.hr.write(&rows, false);
    let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["directory"]["refused"], 0, "{report}");
    let all = dump(&slapd).await;
    let title = all[&zhang].attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case("title")).map(|(_, v)| v[0].clone());
    assert_eq!(title.as_deref(), Some("总经理"), "the update added the entry again");
    let (code, out) = orgid(&env.cfg, &["ldap", "status"]).await;
    assert!(out.contains("outbox      0 pending"), "nothing is stuck: {out}");
    assert_eq!(code, 0, "{out}");

    // The locked entry is missing until reconcile, which is no longer held up, adds it back.
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    let all = dump(&slapd).await;
    let lock = all[&yang]
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("pwdAccountLockedTime"))
        .map(|(_, v)| v[0].clone());
    assert_eq!(lock.as_deref(), Some("000001010000Z"));
    assert_no_drift(&env).await;
}

/// A run whose process was killed stays `running` in the ledger until the next run (or `serve`)
/// on the same host sees that its process is gone and marks it `abandoned`, audited.
#[tokio::test]
async fn a_run_of_a_dead_process_is_marked_abandoned_by_the_next_one() {
    use orgid_directory::{NewRun, RunKind, RunStore};
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    // A process of this host that has ended, as after kill -9.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let read = |p: &str| std::fs::read_to_string(p).expect(p).trim().to_string();
    let owner = format!("{}/{}/{pid}/1", read("/proc/sys/kernel/hostname"), read("/proc/sys/kernel/random/boot_id"));
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");
    let now = chrono::Utc::now();
    let dead = NewRun {
        kind: RunKind::Sync,
        sources: vec!["hr".into()],
        started_at: now,
        actor: "cli".into(),
        owner: Some(owner),
    };
    let dead = app.store.begin_run(&dead).await.expect("begin");
    let alive = NewRun {
        owner: Some(format!("another-host/x/{pid}/1")),
        ..NewRun { kind: RunKind::Sync, sources: vec![], started_at: now, actor: "cli".into(), owner: None }
    };
    let elsewhere = app.store.begin_run(&alive).await.expect("begin");
    app.store.close().await;

    env.sync().await;
    let (_, out) = orgid(&env.cfg, &["runs", "list", "--format", "json"]).await;
    let runs: Value = serde_json::from_str(&out).expect("json");
    let status = |id: i64| {
        runs.as_array()
            .and_then(|r| r.iter().find(|x| x["id"] == id))
            .map(|x| x["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status(dead.0).as_deref(), Some("abandoned"), "{runs}");
    assert_eq!(status(elsewhere.0).as_deref(), Some("running"), "a run of another host is left to it: {runs}");
    let (_, audit) = orgid(&env.cfg, &["audit", "query", "--type", "sync_finished", "--format", "json"]).await;
    assert!(audit.contains("abandoned: its process stopped"), "{audit}");
}

/// `orgid sync 2>&1 | head -2`: the reader goes away after two lines; orgid neither panics nor
/// loses its exit code.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_output_pipe_is_no_panic() {
    struct Head(usize);
    impl std::io::Write for Head {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0 = self.0.saturating_sub(buf.iter().filter(|b| **b == b'\n').count());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    let cfg = env.cfg.display().to_string();
    let args: Vec<std::ffi::OsString> = ["orgid", "--config", &cfg, "sync"].iter().map(Into::into).collect();
    let code = tokio::task::spawn_blocking(move || orgid::cli::main_with(args, Vec::new(), &mut Head(2), &mut Head(0)))
        .await
        .expect("no panic");
    assert_eq!(code, 0, "the sync's own exit code");
    // And an error message to a closed stream: still no panic, still its code.
    let args: Vec<std::ffi::OsString> =
        ["orgid", "--config", "/nonexistent/orgid.toml", "sync"].iter().map(Into::into).collect();
    let code = tokio::task::spawn_blocking(move || orgid::cli::main_with(args, Vec::new(), &mut Head(0), &mut Head(0)))
        .await
        .expect("no panic");
    assert_eq!(code, 2);
}

/// `orgid import` of a file that does not exist blames the file, on a fresh store too.
#[tokio::test]
async fn importing_a_missing_file_blames_the_file() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let hr = crate::hr::Hr::new(dir.path());
    let cfg = hr.config(&crate::sync::store_url(Backend::Sqlite, dir.path()).await, "");
    let (code, out) = orgid(&cfg, &["import", "/missing/form1.xlsx"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("/missing/form1.xlsx: cannot read the request file"), "{out}");
    assert!(!out.contains("knows no companies"), "{out}");
    let (_, runs) = orgid(&cfg, &["runs", "list", "--format", "json"]).await;
    assert_eq!(runs.trim(), "[]", "a mistyped path writes no run: {runs}");
}

/// The environment variable that makes [`sync_for_the_kill_test`] sync.
const SYNC_ENV: &str = "ORGID_E2E_KILLED_SYNC";

/// Not a test of its own: the sync that the kill test kills, in a process of its own. The test
/// runs this binary again for this one test, with `ORGID_E2E_KILLED_SYNC` naming the
/// configuration. Ignored in a normal run; without the variable it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process of another test, which runs it with --ignored"]
async fn sync_for_the_kill_test() {
    let Ok(cfg) = std::env::var(SYNC_ENV) else { return };
    let (code, out) = orgid(std::path::Path::new(&cfg), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
}

/// A first load large enough to be written in parts (2,500 changes, then 10,000 a part) runs in a
/// process of its own, which gets SIGKILL (kill -9) after its first part has committed, and after
/// its second; then one `orgid sync` (which finds the dead run) brings the store and the directory
/// to exactly what they should be, memberships included: `env.sync()` asserts that reconcile finds
/// no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_load_in_parts_killed_midway_converges_with_one_sync() {
    const PEOPLE: u32 = 21_000;
    for committed in [1_i64, 12_500] {
        let slapd = Slapd::start().await;
        let env = Env::new(Backend::Sqlite, &slapd.url()).await;
        let rows: Vec<Row> = (1..=PEOPLE)
            .map(|n| {
                let company = if n % 3 == 0 { "C010" } else { "G000" };
                let mut r = Row::new(n, company, &format!("E{n:05}"), &format!("员工{n}"), "M13");
                r.department = format!("部门{}", n % 7);
                r
            })
            .collect();
        env.hr.write(&rows, false);
        let db = format!("sqlite://{}", env.hr.dir.join("orgid.db").display());
        let log = std::fs::File::create(env.hr.dir.join("killed-sync.log")).expect("log");
        let mut sync = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "trust::sync_for_the_kill_test", "--ignored", "--nocapture", "--test-threads", "1"])
            .env(SYNC_ENV, &env.cfg)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn the sync");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let pool = loop {
            if let Ok(p) = sqlx::SqlitePool::connect(&db).await {
                break p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        loop {
            let people: i64 = sqlx::query_scalar("SELECT count(*) FROM people").fetch_one(&pool).await.unwrap_or(0);
            if people >= committed {
                break;
            }
            let running = sync.try_wait().expect("wait").is_none();
            assert!(std::time::Instant::now() < deadline && running, "the load never got to {committed}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        sync.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        let status = sync.wait().expect("reaped");
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed by SIGKILL");
        let people: i64 = sqlx::query_scalar("SELECT count(*) FROM people").fetch_one(&pool).await.expect("count");
        assert!(people < i64::from(PEOPLE), "killed before the end ({people} people committed)");
        pool.close().await;

        let report = env.sync().await; // asserts that reconcile finds no drift
        assert!(report["directory"]["unavailable"].is_null(), "{report}");
        let all = dump(&slapd).await;
        let g000 = crate::ldap_sync::members(&all, &at("cn=G000,ou=groups"));
        assert_eq!(g000.len(), (PEOPLE - PEOPLE / 3) as usize, "killed after {committed}: every account in its group");
        let (_, runs) = orgid(&env.cfg, &["runs", "list", "--format", "json"]).await;
        assert!(runs.contains("\"abandoned\""), "{runs}");
    }
}

/// A rejected company row: its people's rows are rejected with it, and they are left exactly as
/// they were (accounts and directory), the report naming them.
#[tokio::test]
async fn the_people_of_a_rejected_company_row_are_left_as_they_were() {
    let slapd = Slapd::start().await;
    let env = Env::new(Backend::Sqlite, &slapd.url()).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let before = dump(&slapd).await;
    let (_, accounts_before) = orgid(&env.cfg, &["accounts", "list", "--format", "json"]).await;
    let bad = crate::hr::COMPANIES.replace("C020,测试二级公司,C010,2,", "C020,测试二级公司,C010,9,");
    std::fs::write(env.hr.dir.join("companies.csv"), bad).expect("companies");
    let report = env.sync().await;
    assert_eq!(report["status"], "partial", "{report}");
    assert_eq!(report["counts"]["close"], 0, "{report}");
    assert!(report["changes"].as_array().is_some_and(Vec::is_empty), "{report}");
    assert!(warnings(&report).contains("employee B1 (杨洋) is kept as they were"), "{report}");
    let (_, accounts) = orgid(&env.cfg, &["accounts", "list", "--format", "json"]).await;
    assert_eq!(accounts, accounts_before);
    assert_eq!(dump(&slapd).await, before);
}
