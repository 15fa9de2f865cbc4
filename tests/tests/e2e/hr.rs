//! Synthetic HR files for end-to-end tests: a company list and a roster, written as CSV in UTF-8
//! or GBK. ID numbers are made up with a valid GB 11643 check character.

use std::path::{Path, PathBuf};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// A valid ID number for person `n` (stable across calls).
pub fn id_number(n: u32) -> String {
    let body = format!("320106{}{:03}", 19700101 + (n % 28) + 100 * (n / 28 % 12), n % 1000);
    let body = &body[..17];
    let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    format!("{body}{}", "10X98765432".as_bytes()[(sum % 11) as usize] as char)
}

#[derive(Clone, Debug)]
pub struct Row {
    pub n: u32,
    pub company: String,
    pub department: String,
    pub hire_date: String,
    pub employee_number: String,
    pub name: String,
    pub title: String,
    pub grade: String,
    pub confidential: bool,
    pub left: bool,
    pub leave_date: String,
    /// The ID number as written, instead of person `n`'s valid one.
    pub id: Option<String>,
    /// 状态 as written, instead of 在职/离职 from `left`.
    pub status: Option<String>,
}

impl Row {
    /// Person `n`, identified across files by their ID number.
    pub fn new(n: u32, company: &str, employee_number: &str, name: &str, grade: &str) -> Row {
        Row {
            n,
            company: company.into(),
            department: "综合部".into(),
            hire_date: format!("20{:02}-03-01", 5 + n % 15),
            employee_number: employee_number.into(),
            name: name.into(),
            title: "经理".into(),
            grade: grade.into(),
            confidential: false,
            left: false,
            leave_date: String::new(),
            id: None,
            status: None,
        }
    }
}

pub const COMPANIES: &str = "公司编码,公司名称,上级公司编码,企业级别,运营模式
G000,测试集团,,集团,集团统一运营
C010,测试一级公司,G000,1,集团统一运营
C020,测试二级公司,C010,2,集团统一运营
C021,测试独立二级公司,C010,2,独立运营
N001,测试新加入公司,G000,未定级,集团统一运营
";

pub struct Hr {
    pub dir: PathBuf,
}

impl Hr {
    pub fn new(dir: &Path) -> Hr {
        std::fs::write(dir.join("companies.csv"), COMPANIES).expect("write companies");
        Hr { dir: dir.to_path_buf() }
    }

    pub fn roster(&self) -> PathBuf {
        self.dir.join("roster.csv")
    }

    /// Writes the roster (UTF-8 with BOM, or GBK).
    pub fn write(&self, rows: &[Row], gbk: bool) {
        let mut text = String::from(
            "公司名称,部门,入职日期,工号,姓名,性别,身份证号码,职务,职级,手机号,公司邮箱,机要岗,状态,离职日期\n",
        );
        for r in rows {
            let mobile = format!("1380000{:04}", r.n % 10_000);
            let email = format!("{}@example.com", r.employee_number.to_lowercase());
            let cells = [
                r.company.as_str(),
                &r.department,
                &r.hire_date,
                &r.employee_number,
                &r.name,
                "男",
                &r.id.clone().unwrap_or_else(|| id_number(r.n)),
                &r.title,
                &r.grade,
                &mobile,
                &email,
                if r.confidential { "是" } else { "否" },
                r.status.as_deref().unwrap_or(if r.left { "离职" } else { "在职" }),
                &r.leave_date,
            ];
            let quoted: Vec<String> = cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            text.push_str(&quoted.join(","));
            text.push('\n');
        }
        let bytes = if gbk {
            let (b, _, bad) = encoding_rs::GBK.encode(&text);
            assert!(!bad, "test data must be encodable in GBK");
            b.into_owned()
        } else {
            let mut b = vec![0xEF, 0xBB, 0xBF];
            b.extend_from_slice(text.as_bytes());
            b
        };
        std::fs::write(self.roster(), bytes).expect("write roster");
    }

    /// A configuration for this HR folder and store. Its group opens confidential posts that the
    /// roster qualifies directly (`workflow.confidential_roster = "apply"`): these tests are about
    /// the sync; the confidential office's requests are tested in `workflow.rs`.
    pub fn config(&self, store_url: &str, extra: &str) -> PathBuf {
        let apply = "confidential_roster = \"apply\"\n";
        let extra = match extra.find("[workflow]\n").filter(|_| !extra.contains("confidential_roster")) {
            Some(i) => format!("{}[workflow]\n{apply}{}", &extra[..i], &extra[i + "[workflow]\n".len()..]),
            None if !extra.contains("confidential_roster") => format!("{extra}\n[workflow]\n{apply}"),
            None => extra.to_string(),
        };
        let path = self.dir.join("orgid.toml");
        let text = format!(
            "[store]\nurl = \"{store_url}\"\n[sync]\nschedule = \"\"\n{extra}\n[[sources]]\nname = \"hr\"\nkind = \"roster\"\ncompanies = \"companies.csv\"\nroster = \"roster.csv\"\n"
        );
        std::fs::write(&path, text).expect("write config");
        path
    }
}
