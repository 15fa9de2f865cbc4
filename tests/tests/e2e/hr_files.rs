//! HR files that must not be trusted as they come, through `orgid sync` and `orgid import` into a
//! real slapd: a quote left open, files beyond `[limits]`, a cell too long, a column twice, and
//! merged cells. A refused file changes nothing; a rejected row changes nothing for its person;
//! every scenario ends with a clean sync that leaves no drift.

use std::path::PathBuf;

use orgid_tests::Slapd;
use serde_json::Value;
use tempfile::TempDir;

use crate::hr::{Hr, Row, id_number};
use crate::ldap_sync::{at, dump, month_one};
use crate::sync::{Backend, orgid, store_url};

const HEADER: [&str; 14] = [
    "公司名称",
    "部门",
    "入职日期",
    "工号",
    "姓名",
    "性别",
    "身份证号码",
    "职务",
    "职级",
    "手机号",
    "公司邮箱",
    "机要岗",
    "状态",
    "离职日期",
];

/// A row's cells, in `HEADER` order (as `Hr::write` writes them).
fn cells(r: &Row) -> Vec<String> {
    vec![
        r.company.clone(),
        r.department.clone(),
        r.hire_date.clone(),
        r.employee_number.clone(),
        r.name.clone(),
        "男".into(),
        id_number(r.n),
        r.title.clone(),
        r.grade.clone(),
        format!("1380000{:04}", r.n % 10_000),
        format!("{}@example.com", r.employee_number.to_lowercase()),
        if r.confidential { "是" } else { "否" }.into(),
        if r.left { "离职" } else { "在职" }.into(),
        r.leave_date.clone(),
    ]
}

/// A CSV line as Excel saves one: quoted only where needed.
fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let quoted = |c: &str| {
        if c.contains([',', '"', '\n', '\r']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.to_owned() }
    };
    cells.iter().map(|c| quoted(c.as_ref())).collect::<Vec<_>>().join(",")
}

fn roster_lines(rows: &[Row]) -> Vec<String> {
    let mut lines = vec![csv_line(&HEADER)];
    lines.extend(rows.iter().map(|r| csv_line(&cells(r))));
    lines
}

struct Env {
    _dir: TempDir,
    hr: Hr,
    url: String,
    ldap: String,
    cfg: PathBuf,
}

impl Env {
    /// A store, slapd, and `[limits]` as given (empty: the defaults).
    async fn new(slapd: &Slapd, limits: &str) -> Env {
        let dir = TempDir::new().expect("tempdir");
        let hr = Hr::new(dir.path());
        let url = store_url(Backend::Sqlite, dir.path()).await;
        let mut env = Env { cfg: dir.path().join("orgid.toml"), _dir: dir, hr, url, ldap: slapd.url() };
        env.configure("roster.csv", limits);
        env
    }

    /// Points the source at `roster` (a file in the HR folder).
    /// Confidential posts open directly (`confidential_roster = "apply"`), as in `Hr::config`: these
    /// tests are about files, the confidential office's requests are `workflow.rs`'s.
    fn configure(&mut self, roster: &str, limits: &str) {
        let text = format!(
            "[store]\nurl = \"{}\"\n[sync]\nschedule = \"\"\n[safety]\nmax_close_share = 0.5\nmax_shrink_share = 0.5\n\
             [workflow]\nconfidential_roster = \"apply\"\n\
             {limits}\n[ldap]\nurl = \"{}\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\nbind_password = \"secret\"\n\
             base_dn = \"dc=example,dc=com\"\n[[sources]]\nname = \"hr\"\nkind = \"roster\"\n\
             companies = \"companies.csv\"\nroster = \"{roster}\"\n",
            self.url, self.ldap
        );
        std::fs::write(&self.cfg, text).expect("write config");
    }

    fn file(&self, name: &str) -> PathBuf {
        self.hr.dir.join(name)
    }

    fn write_roster(&self, text: &str) {
        std::fs::write(self.hr.roster(), text).expect("write roster");
    }

    /// `orgid ARGS --format json`: exit code and report.
    async fn json(&self, args: &[&str]) -> (u8, Value) {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--format", "json"]);
        let (code, out) = orgid(&self.cfg, &a).await;
        (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}")))
    }

    /// Everything a run could change: the store's people and accounts, and the directory.
    async fn state(&self, slapd: &Slapd) -> (Value, String) {
        let (code, accounts) = self.json(&["accounts", "list"]).await;
        assert_eq!(code, 0);
        (accounts, format!("{:?}", dump(slapd).await))
    }

    /// A clean sync of `rows`, then reconcile finds the directory as the store says.
    async fn clean_sync_leaves_no_drift(&self, rows: &[Row]) {
        self.write_roster(&(roster_lines(rows).join("\r\n") + "\r\n"));
        let (code, report) = self.json(&["sync"]).await;
        assert_eq!(code, 0, "{report}");
        let (code, out) = orgid(&self.cfg, &["ldap", "reconcile", "--dry-run"]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("no drift"), "{out}");
    }
}

fn one(e: &orgid_connectors::ldap::LdapEntry, name: &str) -> String {
    let values = e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    values.unwrap_or_default().into_iter().next().unwrap_or_default()
}

/// A failed run: exit 1, its message, and nothing written but the ledger's line.
fn assert_failed(code: u8, report: &Value, message: &str) {
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["status"], "failed", "{report}");
    let got = report["message"].as_str().unwrap_or_default();
    assert!(got.contains(message), "want …{message}…\ngot {got}");
}

/// Month two: 王芳 becomes 主管, 周杰 joins C020.
fn month_two() -> Vec<Row> {
    let mut rows = month_one();
    rows[1].title = "主管".into();
    rows.push(Row::new(7, "C020", "B7", "周杰", "P12"));
    rows
}

#[tokio::test]
async fn a_quote_left_open_refuses_the_roster_and_names_its_row() {
    let slapd = Slapd::start().await;
    let env = Env::new(&slapd, "").await;
    env.clean_sync_leaves_no_drift(&month_one()).await;
    let before = env.state(&slapd).await;

    // Row 7 (陈静) types a quote before her name; the csv reader took everything after it for her
    // name, and 周杰 (row 8) vanished.
    let mut lines = roster_lines(&month_two());
    lines[6] = lines[6].replacen(",陈静,", ",\"陈静,", 1);
    env.write_roster(&(lines.join("\r\n") + "\r\n"));
    let (code, report) = env.json(&["sync"]).await;
    let file = env.hr.roster().display().to_string();
    assert_failed(
        code,
        &report,
        &format!(
            "source hr: {file}: row 7, column E: a quote opens here and never closes: the rest of the file (lines 7–8)"
        ),
    );
    assert_eq!(env.state(&slapd).await, before, "nothing changed");
    let (_, runs) = env.json(&["runs", "list"]).await;
    assert_eq!(runs[0]["status"], "failed", "{runs}");

    // A request file likewise.
    let form = env.file("form1.csv");
    std::fs::write(
        &form,
        lines[..1].iter().chain(&lines[7..]).cloned().collect::<Vec<_>>().join("\n").replacen(",周杰,", ",周杰,\"", 1),
    )
    .expect("write");
    let (code, report) = env.json(&["import", form.to_str().expect("path")]).await;
    assert_failed(code, &report, "form1.csv: row 2, column F: a quote opens here and never closes");
    assert_eq!(env.state(&slapd).await, before, "nothing changed");

    env.clean_sync_leaves_no_drift(&month_two()).await;
}

#[tokio::test]
async fn files_beyond_the_limits_are_refused_before_they_are_read_and_change_nothing() {
    let slapd = Slapd::start().await;
    let limits = "[limits]\nmax_file_mb = 1\nmax_xlsx_unpacked_mb = 1\nmax_rows = 20\n";
    let mut env = Env::new(&slapd, limits).await;
    env.clean_sync_leaves_no_drift(&month_one()).await;
    let before = env.state(&slapd).await;
    let file = env.hr.roster().display().to_string();

    // Over 1 MB on disk (blank lines after the rows).
    let text = roster_lines(&month_two()).join("\n") + &"\n".repeat(1_100_000);
    env.write_roster(&text);
    let (code, report) = env.json(&["sync"]).await;
    assert_failed(
        code,
        &report,
        &format!(
            "source hr: {file}: the file is {:.1} MB ({} bytes), more than the 1 MB allowed (limits.max_file_mb); it \
             was not read",
            text.len() as f64 / 1_048_576.0,
            text.len()
        ),
    );
    assert_eq!(env.state(&slapd).await, before);

    // More rows than allowed: refused at the 21st (the header and 19 people fit).
    let crowd: Vec<Row> =
        (1..=30).map(|n| Row::new(100 + n, "G000", &format!("G{n:03}"), &format!("员工{n}"), "")).collect();
    let mut rows = month_two();
    rows.extend(crowd);
    env.write_roster(&(roster_lines(&rows).join("\n") + "\n"));
    let (code, report) = env.json(&["sync"]).await;
    assert_failed(
        code,
        &report,
        &format!(
            "source hr: {file}: row 21: the file has more than the 20 rows allowed (limits.max_rows); it was refused here"
        ),
    );
    assert_eq!(env.state(&slapd).await, before);
    let form = env.file("form1.csv");
    std::fs::write(&form, roster_lines(&rows).join("\n")).expect("write");
    let (code, report) = env.json(&["import", form.to_str().expect("path")]).await;
    assert_failed(code, &report, "form1.csv: row 21: the file has more than the 20 rows allowed (limits.max_rows)");
    assert_eq!(env.state(&slapd).await, before);

    // An .xlsx of a few KB that would unpack to over 1 MB.
    let xlsx = env.file("roster.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("cell");
    }
    for (i, r) in month_two().iter().enumerate() {
        for (c, v) in cells(r).iter().enumerate() {
            ws.write_string(1 + i as u32, c as u16, v).expect("cell");
        }
    }
    for i in 0..600u32 {
        ws.write_string(100 + i, 20, format!("{}{i}", "备注".repeat(450))).expect("cell");
    }
    wb.save(&xlsx).expect("save");
    assert!(std::fs::metadata(&xlsx).expect("size").len() < 100_000);
    env.configure("roster.xlsx", limits);
    let (code, report) = env.json(&["sync"]).await;
    assert_failed(code, &report, &format!("source hr: {}: the workbook would unpack to ", xlsx.display()));
    assert!(
        report["message"].as_str().is_some_and(|m| m.contains("(limits.max_xlsx_unpacked_mb); it was not unpacked"))
    );
    assert_eq!(env.state(&slapd).await, before);

    env.configure("roster.csv", limits);
    env.clean_sync_leaves_no_drift(&month_two()).await;
}

#[tokio::test]
async fn a_cell_too_long_rejects_its_row_and_its_person_is_left_as_they_were() {
    let slapd = Slapd::start().await;
    let env = Env::new(&slapd, "").await;
    env.clean_sync_leaves_no_drift(&month_one()).await;

    // 周杰 joins with a 3 MB 职务 (1,000,000 characters); 王芳's new title is good.
    let mut rows = month_two();
    rows[6].title = "高级经理".repeat(250_000);
    env.write_roster(&(roster_lines(&rows).join("\n") + "\n"));
    let (code, out) = orgid(&env.cfg, &["sync", "--format", "json"]).await;
    assert!(out.len() < 10_000, "the value is not printed ({} bytes)", out.len());
    let report: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(code, 4, "partial: {report}");
    let rejected = report["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!((&rejected[0]["row"], &rejected[0]["column"]), (&Value::from(8), &Value::from("职务")));
    let reason = rejected[0]["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        format!("1000000 characters, more than the 1000 allowed (limits.max_cell_chars): `{}…`", "高级经理".repeat(50))
    );
    let all = dump(&slapd).await;
    assert_eq!(
        one(&all[&at("uid=wangfang,ou=一科,ou=财务部,ou=C010,ou=G000")], "title"),
        "主管",
        "the good rows went through"
    );
    assert!(!all.keys().any(|k| k.contains("zhoujie")), "周杰 has no entry");
    let (_, accounts) = env.json(&["accounts", "list"]).await;
    assert!(!accounts.to_string().contains("B7"), "周杰 is not in the store: {accounts}");
    // The ledger keeps the reason as printed, not the value.
    let run = report["run"].as_i64().expect("run").to_string();
    let (_, detail) = env.json(&["runs", "show", &run]).await;
    assert_eq!(detail["rejected"][0]["reason"], reason);
    let db: u64 =
        ["orgid.db", "orgid.db-wal"].iter().filter_map(|f| std::fs::metadata(env.file(f)).ok()).map(|m| m.len()).sum();
    assert!(db < 3_000_000, "the store did not take the value in ({db} bytes)");

    // Form 2 moves 杨洋 with a 异动后职务 of 5,000 characters: rejected, and 杨洋 stays exactly as
    // before, in the store and in the directory; 张伟's adjustment on the next row goes through.
    let before_yang = (
        accounts.as_array().expect("accounts").iter().find(|a| a["employee_number"] == "B1").cloned(),
        format!("{:?}", all.iter().find(|(k, _)| k.contains("uid=yangyang")).expect("杨洋")),
    );
    let form2 = format!(
        "异动前公司,异动前部门,入职日期,异动前工号,姓名,性别,身份证号码,异动前职务,异动前职级,手机号,异动前公司邮箱,\
         异动后公司,异动后部门,异动日期,异动后工号,异动后职务,异动后职级,异动后公司邮箱\n\
         C020,综合部,2009-03-01,B1,杨洋,男,{},经理,M11,13800000004,b1@example.com,C010,运营部,2026-11-20,A7,{},M12,a7@example.com\n\
         G000,综合部,2006-03-01,G1,张伟,男,{},经理,,13800000001,g1@example.com,G000,综合部,2026-11-20,G1,总裁,,g1@example.com\n",
        id_number(4),
        "运".repeat(5000),
        id_number(1),
    );
    let form = env.file("form2.csv");
    std::fs::write(&form, form2).expect("write");
    let (code, report) = env.json(&["import", form.to_str().expect("path")]).await;
    assert_eq!(code, 4, "{report}");
    assert_eq!(report["rejected"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(
        (&report["rejected"][0]["row"], &report["rejected"][0]["column"]),
        (&Value::from(2), &Value::from("异动后职务"))
    );
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("5000 characters") && r.chars().count() < 300),
        "{report}"
    );
    let (_, accounts) = env.json(&["accounts", "list"]).await;
    let all = dump(&slapd).await;
    let after_yang = (
        accounts.as_array().expect("accounts").iter().find(|a| a["employee_number"] == "B1").cloned(),
        format!("{:?}", all.iter().find(|(k, _)| k.contains("uid=yangyang")).expect("杨洋")),
    );
    assert_eq!(after_yang, before_yang, "杨洋 is left exactly as they were");
    assert_eq!(one(&all[&at("uid=zhangwei,ou=综合部,ou=G000")], "title"), "总裁", "the next row went through");

    env.clean_sync_leaves_no_drift(&month_two()).await;
}

#[tokio::test]
async fn a_column_twice_is_refused_by_name() {
    let slapd = Slapd::start().await;
    let env = Env::new(&slapd, "").await;
    env.clean_sync_leaves_no_drift(&month_one()).await;
    let before = env.state(&slapd).await;

    // A second 工号 column at the end, which HR filled with other numbers.
    let lines: Vec<String> = roster_lines(&month_two())
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { format!("{l},工号") } else { format!("{l},X{i}") })
        .collect();
    env.write_roster(&(lines.join("\n") + "\n"));
    let (code, report) = env.json(&["sync"]).await;
    let file = env.hr.roster().display().to_string();
    assert_failed(
        code,
        &report,
        &format!(
            "source hr: {file}: row 1: column 工号 appears twice (columns D and O); keep one, so that it is clear which to read"
        ),
    );
    assert_eq!(env.state(&slapd).await, before);

    let form = env.file("form1.csv");
    let header = "公司名称,部门,入职日期,工号,姓名,性别,身份证号码,职务,职级,手机号,手机";
    std::fs::write(
        &form,
        format!(
            "{header}\nC020,财务部,2026-11-16,B99,何晓东,男,{},财务总监,M13,13800000017,13800000017\n",
            id_number(9)
        ),
    )
    .expect("write");
    let (code, report) = env.json(&["import", form.to_str().expect("path")]).await;
    assert_failed(
        code,
        &report,
        "form1.csv: row 1: column 手机号 appears twice (columns J as `手机号` and K as `手机`)",
    );
    assert_eq!(env.state(&slapd).await, before);

    env.clean_sync_leaves_no_drift(&month_two()).await;
}

/// The roster as an .xlsx whose 公司名称 is merged over each company's rows, as HR exports it.
#[tokio::test]
async fn merged_company_cells_are_the_company_of_every_row_they_cover() {
    let slapd = Slapd::start().await;
    let mut env = Env::new(&slapd, "").await;
    let mut rows = month_two();
    for (n, name) in (20..).zip(["赵敏", "钱进", "孙立", "李华"]) {
        rows.push(Row::new(n, "C020", &format!("B{n}"), name, "M12"));
    }
    rows.sort_by_key(|r| r.company.clone());
    let name = |code: &str| match code {
        "G000" => "测试集团",
        "C010" => "测试一级公司",
        "C020" => "测试二级公司",
        _ => "测试新加入公司",
    };
    let path = env.file("roster.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let plain = rust_xlsxwriter::Format::new();
    ws.merge_range(0, 0, 0, 13, "员工花名册（2026年11月）", &plain).expect("title");
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(1, c as u16, *h).expect("cell");
    }
    let mut first = 0;
    for (i, r) in rows.iter().enumerate() {
        for (c, v) in cells(r).iter().enumerate().skip(1) {
            ws.write_string(2 + i as u32, c as u16, v).expect("cell");
        }
        if rows.get(i + 1).is_none_or(|next| next.company != r.company) {
            let (top, bottom) = (2 + first as u32, 2 + i as u32);
            if top == bottom {
                ws.write_string(top, 0, name(&r.company)).expect("cell");
            } else {
                ws.merge_range(top, 0, bottom, 0, name(&r.company), &plain).expect("merge");
            }
            first = i + 1;
        }
    }
    wb.save(&path).expect("save");
    env.configure("roster.xlsx", "");

    let (code, report) = env.json(&["sync"]).await;
    assert_eq!(code, 0, "every row has its company: {report}");
    assert_eq!(report["counts"]["open"], 10, "{report}");
    assert_eq!(report["counts"]["pending_approval"], 1, "N001 (unrated) waits: {report}");
    let (_, accounts) = env.json(&["accounts", "list"]).await;
    let mut companies: Vec<(String, String)> = accounts
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| {
            (a["employee_number"].as_str().unwrap_or("").to_owned(), a["company"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    companies.sort();
    let mut want: Vec<(String, String)> = rows.iter().map(|r| (r.employee_number.clone(), r.company.clone())).collect();
    want.sort();
    assert_eq!(companies, want);
    let all = dump(&slapd).await;
    assert!(all.contains_key(&at("uid=lihua,ou=综合部,ou=C020,ou=C010,ou=G000")), "the last row of a merged range");
    assert_eq!(all.keys().filter(|k| k.starts_with("uid=")).count(), 10);
    let (code, out) = orgid(&env.cfg, &["ldap", "reconcile", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no drift"), "{out}");
}
