//! `orgid sync` all the way into WeCom (企业微信), against the WeCom API double of the test kit:
//! first load, a second month of changes, rehire, WeCom's documented errors absorbed (token
//! expiry, frequency limits, a userid that exists), reconcile, and convergence after a kill.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orgid_tests::WecomDouble;
use orgid_tests::wecom::{CONTACTS_SECRET, CORP_ID, WecomUser};
use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row};
use crate::ldap_sync::{STAFF, month_one, staff};
use crate::sync::{Backend, orgid, store_url};

struct Env {
    _dir: TempDir,
    hr: Hr,
    cfg: PathBuf,
}

impl Env {
    async fn new(backend: Backend, wecom: &WecomDouble) -> Env {
        Env::with(backend, wecom, "").await
    }

    /// `more` goes at the end of the `[wecom]` section (and may open sections after it).
    async fn with(backend: Backend, wecom: &WecomDouble, more: &str) -> Env {
        let dir = TempDir::new().expect("tempdir");
        let hr = Hr::new(dir.path());
        let url = store_url(backend, dir.path()).await;
        let extra = format!(
            "[safety]\nmax_close_share = 0.5\nmax_shrink_share = 0.5\n[workflow]\nindependent_roster = \"apply\"\n\
             [wecom]\nbase_url = \"{}\"\ncorp_id = \"{CORP_ID}\"\ncontacts_secret = \"{CONTACTS_SECRET}\"\n\
             attr_grade = \"职级\"\nattr_employee_number = \"工号\"\nthrottle_ms = 20\n{more}",
            wecom.base_url()
        );
        let cfg = hr.config(&url, &extra);
        Env { _dir: dir, hr, cfg }
    }

    /// `orgid sync`, which must apply; then WeCom must hold every change (nothing waits) and
    /// reconcile must find nothing to repair.
    async fn sync(&self) -> Value {
        let (code, out) = orgid(&self.cfg, &["sync", "--format", "json"]).await;
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(code == 0 || code == 4, "sync failed ({code}): {v}");
        self.assert_clean().await;
        v
    }

    async fn assert_clean(&self) {
        let (code, status) = orgid(&self.cfg, &["wecom", "status"]).await;
        assert_eq!(code, 0, "{status}");
        assert!(status.contains("outbox      0 pending"), "{status}");
        let (code, out) = orgid(&self.cfg, &["wecom", "reconcile", "--dry-run"]).await;
        assert_eq!(code, 0, "reconcile found drift after a clean sync:\n{out}");
        assert!(!out.contains("missing") && !out.contains("differing"), "{out}");
    }
}

fn user(w: &WecomDouble, userid: &str) -> WecomUser {
    w.user(userid).unwrap_or_else(|| panic!("no member {userid} in {:?}", w.users()))
}

fn attr(u: &WecomUser, name: &str) -> String {
    u.extattr["attrs"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .and_then(|x| x["text"]["value"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// How many calls WeCom answered with `errcode`.
fn answered(w: &WecomDouble, errcode: i64) -> usize {
    w.calls().iter().filter(|(_, c)| *c == errcode).count()
}

fn dept(w: &WecomDouble, path: &[&str]) -> i64 {
    w.department_at(path).unwrap_or_else(|| panic!("no department {path:?} in {:?}", w.departments())).id
}

const G: &str = "测试集团";
const C010: &str = "测试一级公司";

#[tokio::test]
async fn first_sync_and_second_month_reach_wecom() {
    let w = WecomDouble::start().await;
    let env = Env::new(Backend::Sqlite, &w).await;
    env.hr.write(&month_one(), false);
    env.sync().await;

    let wang = user(&w, "wangfang");
    assert_eq!((wang.name.as_str(), wang.position.as_str(), wang.email.as_str()), ("王芳", "经理", "a1@example.com"));
    assert_eq!(wang.mobile, "13800000002");
    assert_eq!(wang.department, vec![dept(&w, &[G, C010, "财务部", "一科"])]);
    assert!(wang.enable);
    assert_eq!((attr(&wang, "职级"), attr(&wang, "工号")), ("M12".to_string(), "A1".to_string()));
    assert_eq!(user(&w, "zhangwei").department, vec![dept(&w, &[G, "综合部"])]);
    assert_eq!(user(&w, "yangyang").department, vec![dept(&w, &[G, C010, "测试二级公司", "综合部"])]);
    assert!(w.user("sunhao").is_none(), "pending approval: no member");
    assert_eq!(w.users().len(), 5);
    let text = format!("{:?}", w.users());
    assert!(!text.contains(&crate::hr::id_number(2)), "no ID number reaches WeCom");

    // The same roster again sends nothing.
    let writes =
        |w: &WecomDouble| w.calls().iter().filter(|(p, _)| p.ends_with("/create") || p.ends_with("/update")).count();
    let before = writes(&w);
    env.sync().await;
    assert_eq!(writes(&w), before, "an unchanged roster writes nothing");

    // Month two: joiner, leaver, in-company move, cross-company move, renamed department.
    let yi = dept(&w, &[G, C010, "财务部", "一科"]);
    let creates = w.count("user/create", 0);
    let mut m2 = month_one();
    m2[1].department = "财务部/核算科".into(); // 王芳 and 欧阳娜娜: the whole 一科 is renamed
    m2[2].department = "财务部/核算科".into();
    m2[3].company = "C021".into(); // 杨洋 to an independent company, new number
    m2[3].employee_number = "B21".into();
    m2[5].left = true; // 陈静 leaves
    m2[0].department = "总裁办".into(); // 张伟 moves inside HQ
    m2.push(Row::new(7, "C020", "B7", "周杰", "P12"));
    env.hr.write(&m2, false);
    env.sync().await;
    assert_eq!(dept(&w, &[G, C010, "财务部", "核算科"]), yi, "renamed in place, same id");
    assert!(w.department_at(&[G, C010, "财务部", "一科"]).is_none());
    assert_eq!(user(&w, "wangfang").department, vec![yi]);
    let yang = user(&w, "yangyang");
    assert_eq!(yang.department, vec![dept(&w, &[G, C010, "测试独立二级公司", "综合部"])]);
    assert_eq!(attr(&yang, "工号"), "B21", "a cross-company move updates the same member");
    assert!(!user(&w, "chenjing").enable, "leavers are disabled, not deleted");
    assert_eq!(user(&w, "zhangwei").department, vec![dept(&w, &[G, "总裁办"])]);
    assert!(user(&w, "zhoujie").enable);
    assert_eq!(w.count("user/create", 0) - creates, 1, "only the joiner is created");
    assert_eq!(w.users().len(), 6);

    // Month three: 陈静 is rehired: the same member enabled again.
    let creates = w.count("user/create", 0);
    let mut m3 = m2.clone();
    m3[5].left = false;
    env.hr.write(&m3, false);
    env.sync().await;
    assert!(user(&w, "chenjing").enable);
    assert_eq!(w.count("user/create", 0), creates, "a rehire creates nothing");
}

#[tokio::test]
async fn token_expiry_frequency_limits_and_existing_members_are_absorbed() {
    let w = WecomDouble::start().await;
    // Made by hand before orgid: one of orgid's people (its create answers 60102) and a stranger.
    w.add_user("wangfang", "王芳(手工)", 1);
    w.add_user("laowang", "老王", 1);
    let env = Env::new(Backend::Postgres, &w).await;
    env.hr.write(&month_one(), false);
    w.limit_next(3); // a 45009 burst at the start
    env.sync().await;
    assert_eq!(w.count("user/create", 60102), 1, "{:?}", w.calls());
    let wang = user(&w, "wangfang");
    assert_eq!((wang.name.as_str(), wang.department.clone()), ("王芳", vec![dept(&w, &[G, C010, "财务部", "一科"])]));
    assert_eq!(user(&w, "laowang").name, "老王", "a stranger is left alone");
    assert_eq!(answered(&w, 45009), 3, "the burst was waited out");

    // Month two with every token expired and a burst of limits in the middle of the run.
    let tokens = w.count("gettoken", 0);
    w.expire_tokens();
    let mut m2 = month_one();
    m2.push(Row::new(7, "C020", "B7", "周杰", "P12"));
    m2.push(Row::new(8, "C020", "B8", "吴敏", "P12"));
    m2[0].department = "总裁办".into();
    env.hr.write(&m2, false);
    let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
    assert!(code == 0 || code == 4, "{out}");
    assert_eq!(answered(&w, 42001), 1, "the expired token was refused once, then fetched again");
    assert!(w.count("gettoken", 0) > tokens, "the token was fetched again");
    // Month three: the token expires and a burst of limits comes while the push is under way.
    w.set_delay(Duration::from_millis(30));
    let mut m3 = m2.clone();
    for (n, name) in (9..).zip(["郑爽", "赵磊", "钱多", "孙丽", "李娜", "周敏"]) {
        m3.push(Row::new(n, "C020", &format!("B{n}"), name, "P12"));
    }
    env.hr.write(&m3, false);
    let cfg = env.cfg.clone();
    let creates = w.count("user/create", 0);
    let task = tokio::spawn(async move { orgid(&cfg, &["sync", "--format", "json"]).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.count("user/create", 0) < creates + 2 {
        assert!(Instant::now() < deadline, "the sync never reached WeCom");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.expire_tokens();
    w.limit_next(4);
    let (code, out) = task.await.expect("the sync task");
    assert!(code == 0 || code == 4, "{out}");
    w.set_delay(Duration::ZERO);
    env.assert_clean().await;
    assert_eq!((answered(&w, 42001), answered(&w, 45009)), (2, 7), "{:?}", w.calls());
    // Nothing lost, nothing doubled: each member created once (orgid's own creates, and the one
    // adopted), all there.
    for login in ["zhoujie", "wumin", "zhengshuang", "zhoumin", "zhangwei"] {
        assert!(user(&w, login).enable, "{login}");
    }
    assert_eq!(user(&w, "zhangwei").department, vec![dept(&w, &[G, "总裁办"])]);
    assert_eq!(w.count("user/create", 0), 12, "4 + 2 + 6 members created once each; wangfang adopted");
    assert_eq!(w.users().len(), 14);
    assert!(w.users().iter().all(|u| u.enable));
    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("laowang") || out.contains("no drift"), "{out}");
}

#[tokio::test]
async fn reconcile_repairs_a_hand_deleted_member_and_leaves_a_stranger_alone() {
    let w = WecomDouble::start().await;
    let env = Env::new(Backend::Sqlite, &w).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let yi = dept(&w, &[G, C010, "财务部", "一科"]);
    assert!(w.remove_user("wangfang"));
    w.add_user("stranger", "陌生人", yi);

    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(r#""drift":"missing_member","userid":"wangfang""#), "{out}");
    assert!(out.contains(r#""drift":"extra_member","userid":"stranger""#), "{out}");
    assert!(w.user("wangfang").is_none(), "a dry run repairs nothing");

    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("repaired: 1 operations applied, 0 refused"), "{out}");
    let wang = user(&w, "wangfang");
    assert_eq!((wang.name.as_str(), wang.department.clone()), ("王芳", vec![yi]));
    assert_eq!(user(&w, "stranger").department, vec![yi], "the stranger is left alone");
    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 members not orgid's (left alone)"), "{out}");
    // The repair is in the audit trail, the stranger (only reported) is not.
    let (code, out) =
        orgid(&env.cfg, &["audit", "query", "--all", "--format", "json", "--type", "reconcile_repair"]).await;
    assert_eq!(code, 0, "{out}");
    let repaired = serde_json::from_str::<Value>(&out).expect("json")["records"].as_array().expect("records").clone();
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(repaired[0]["login"], "wangfang");
    assert_eq!(repaired[0]["actor"], "reconcile");
    assert_eq!(repaired[0]["details"]["attrs"]["target"], "wecom");

    let (code, out) = orgid(&env.cfg, &["wecom", "status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tracked     8 departments, 5 members"), "{out}");
}

#[tokio::test]
async fn purge_deletes_the_long_disabled_member_and_audits_it() {
    let w = WecomDouble::start().await;
    let env = Env::new(Backend::Sqlite, &w).await;
    // Every disabled account is past its grace period at once.
    let text = std::fs::read_to_string(&env.cfg).expect("config");
    std::fs::write(&env.cfg, text.replacen("[safety]\n", "[safety]\npurge_after_days = 0\n", 1)).expect("config");
    env.hr.write(&month_one(), false);
    env.sync().await;
    let mut m2 = month_one();
    m2[5].left = true; // 陈静 leaves
    env.hr.write(&m2, false);
    env.sync().await;
    assert!(!user(&w, "chenjing").enable, "disabled first");

    let (code, out) = orgid(&env.cfg, &["wecom", "purge", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("purge chenjing"), "{out}");
    assert!(w.user("chenjing").is_some(), "a dry run deletes nothing");
    let (code, out) = orgid(&env.cfg, &["wecom", "purge"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 operations applied, 0 refused"), "{out}");
    assert!(w.user("chenjing").is_none(), "purged");
    assert!(w.user("wangfang").is_some(), "the others stay");

    let (code, out) =
        orgid(&env.cfg, &["audit", "query", "--all", "--format", "json", "--type", "account_purge"]).await;
    assert_eq!(code, 0, "{out}");
    let purged = serde_json::from_str::<Value>(&out).expect("json")["records"].as_array().expect("records").clone();
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!((purged[0]["login"].as_str(), purged[0]["actor"].as_str()), (Some("chenjing"), Some("purge")));
    assert_eq!(purged[0]["details"]["attrs"]["dn"], "wecom userid chenjing");
    env.assert_clean().await;
}

#[tokio::test]
async fn a_sync_killed_while_it_pushes_converges_on_the_next_push() {
    let w = WecomDouble::start().await;
    w.set_delay(Duration::from_millis(1));
    let env = Env::new(Backend::Sqlite, &w).await;
    env.hr.write(&staff(), false);
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");
    let task = tokio::spawn(async move {
        orgid::services::sync::sync(&app, false, "test", &orgid::output::progress::Progress::hidden())
            .await
            .map(|r| r.exit_code())
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while w.users().len() < 10 {
        assert!(Instant::now() < deadline, "the sync never reached WeCom");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    let partial = w.users().len();
    assert!(partial < STAFF as usize, "the sync finished before it could be killed ({partial})");

    w.set_delay(Duration::ZERO);
    let (code, out) = orgid(&env.cfg, &["wecom", "push"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 0 refused"), "{out}");
    assert_eq!(w.users().len(), STAFF as usize, "after {partial} before the kill");
    assert_eq!(w.count("user/create", 0), STAFF as usize, "each member created once");
    env.assert_clean().await;
}

/// A WeCom operation refused until it is parked (a member whose mobile a hand-made member holds:
/// 60104, with WeCom's reason), and the alert about it told in WeCom once, through the app.
#[tokio::test]
async fn a_parked_operation_is_told_in_wecom_once() {
    use orgid::services::alerts::{AlertTail, deliver};
    use orgid_tests::wecom::{AGENT_ID, APP_SECRET};

    let w = WecomDouble::start().await;
    w.add_user("laowang", "老王", 1);
    w.add_user_with_mobile("stranger", "陌生人", 1, "13800000002"); // 王芳's number
    let more = format!(
        "agent_id = {AGENT_ID}\napp_secret = \"{APP_SECRET}\"\n[alerts]\nfailures_per_ip = 0\noff_hours_admin = false\nwecom_to = [\"laowang\"]\n"
    );
    let env = Env::with(Backend::Sqlite, &w, &more).await;
    env.hr.write(&month_one(), false);
    let config = orgid::cli::load_config(Some(&env.cfg), Vec::new()).expect("config");
    let app = orgid::app::App::open(config).await.expect("open");
    let mut tail = AlertTail::start(&app).await.expect("tail");
    tail.save(&app).await.expect("save");
    let (code, out) = orgid(&env.cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    for _ in 0..10 {
        let (_, status) = orgid(&env.cfg, &["wecom", "status"]).await;
        if status.contains(", 1 parked)") {
            break;
        }
        orgid(&env.cfg, &["wecom", "push"]).await;
    }
    let (code, status) = orgid(&env.cfg, &["wecom", "status"]).await;
    assert_eq!(code, 1, "{status}");
    assert!(status.contains(", 1 parked)") && status.contains("60104"), "{status}");
    assert!(w.user("wangfang").is_none() && w.user("zhangwei").is_some());

    for expected in [1, 0] {
        let fired = tail.poll(&app).await.expect("poll");
        assert_eq!(fired.len(), expected);
        deliver(&app, &fired).await.expect("deliver");
        tail.recorded(&fired);
        tail.save(&app).await.expect("save");
    }
    let sent = w.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].touser, "laowang");
    assert!(sent[0].content.contains("已搁置") && sent[0].content.contains("wecom"), "{}", sent[0].content);
    assert_eq!(w.count("message/send", 0), 1);
}

/// A held run keeps only the directory's delta; approved, its changes reach WeCom too.
#[tokio::test]
async fn an_approved_held_run_reaches_wecom() {
    let w = WecomDouble::start().await;
    let env = Env::new(Backend::Sqlite, &w).await;
    env.hr.write(&month_one(), false);
    env.sync().await;
    let mut m2 = month_one();
    for r in m2.iter_mut().take(4) {
        r.left = true; // four of five accounts close: more than max_close_share
    }
    for n in 20..24 {
        // People without accounts (grade below the threshold) keep the roster from shrinking.
        m2.push(Row::new(n, "C010", &format!("X{n}"), &format!("员工{n}"), "P5"));
    }
    env.hr.write(&m2, false);
    let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["status"], "held", "{v}");
    assert_ne!(code, 0);
    assert!(user(&w, "wangfang").enable, "held: nothing changes yet");
    let run = v["run"].as_i64().expect("run id").to_string();
    let (code, out) = orgid(&env.cfg, &["sync", "--approve", &run]).await;
    assert_eq!(code, 0, "{out}");
    for login in ["zhangwei", "wangfang", "ouyangnana", "yangyang"] {
        assert!(!user(&w, login).enable, "{login} disabled after the approval");
    }
    assert!(user(&w, "chenjing").enable);
    env.assert_clean().await;
}

/// Departments sit among their siblings as they first appear in the roster (companies as in the
/// company list, before the company's own departments); a roster that reorders moves exactly the
/// departments whose place changed, in place; reconcile puts back an order changed by hand.
#[tokio::test]
async fn departments_follow_the_rosters_order() {
    let w = WecomDouble::start().await;
    let env = Env::new(Backend::Sqlite, &w).await;
    let row = |n: u32, company: &str, number: &str, name: &str, department: &str| {
        let mut r = Row::new(n, company, number, name, "M12");
        r.department = department.into();
        r
    };
    let m1 = vec![
        row(1, "G000", "G1", "张伟", "综合部"),
        row(2, "C010", "A1", "王芳", "人事部"),
        row(3, "C010", "A2", "刘强", "财务部/二科"),
        row(4, "C010", "A4", "杨洋", "行政部"),
        row(6, "C010", "A3", "陈静", "财务部/一科"),
    ];
    env.hr.write(&m1, false);
    env.sync().await;
    let (g, c010, fin) = (dept(&w, &[G]), dept(&w, &[G, C010]), dept(&w, &[G, C010, "财务部"]));
    assert_eq!(w.children(g), [C010, "综合部"]);
    assert_eq!(w.children(c010), ["人事部", "财务部", "行政部"]);
    assert_eq!(w.children(fin), ["二科", "一科"]);
    let ids: Vec<i64> = w.departments().iter().map(|d| d.id).collect();

    // 行政部 and 人事部 swap their first appearance: those two are updated, nothing else is written.
    let writes = |w: &WecomDouble, path: &str| w.calls().iter().filter(|(p, _)| p.ends_with(path)).count();
    let before: Vec<usize> =
        ["department/create", "department/update", "user/create", "user/update"].map(|p| writes(&w, p)).to_vec();
    let m2 = vec![m1[0].clone(), m1[3].clone(), m1[2].clone(), m1[1].clone(), m1[4].clone()];
    env.hr.write(&m2, false);
    env.sync().await;
    let after: Vec<usize> =
        ["department/create", "department/update", "user/create", "user/update"].map(|p| writes(&w, p)).to_vec();
    assert_eq!(after.iter().zip(&before).map(|(a, b)| a - b).collect::<Vec<_>>(), [0, 2, 0, 0], "{:?}", w.calls());
    assert_eq!(w.children(c010), ["行政部", "财务部", "人事部"]);
    assert_eq!(w.children(fin), ["二科", "一科"]);
    let mut now: Vec<i64> = w.departments().iter().map(|d| d.id).collect();
    now.sort_unstable();
    let mut was = ids.clone();
    was.sort_unstable();
    assert_eq!(now, was, "moved in place: no department deleted or created");

    // The same roster again sends nothing.
    let calls = w.calls().len();
    env.sync().await;
    let writes_since =
        w.calls()[calls..].iter().filter(|(p, _)| p.ends_with("/create") || p.ends_with("/update")).count();
    assert_eq!(writes_since, 0, "{:?}", &w.calls()[calls..]);

    // An order changed by hand in WeCom is drift: reported, then put back.
    let hr_dept = dept(&w, &[G, C010, "人事部"]);
    w.set_department_order(hr_dept, 0);
    assert_eq!(w.children(c010), ["行政部", "财务部", "人事部"]);
    w.set_department_order(dept(&w, &[G, C010, "行政部"]), 0);
    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("\"order\"") && out.contains("2 differing departments"), "{out}");
    let (code, out) = orgid(&env.cfg, &["wecom", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(w.children(c010), ["行政部", "财务部", "人事部"]);
    env.assert_clean().await;
}
