//! Login names for new accounts: full-name pinyin (张三 → zhangsan) or the employee number, made
//! unique with a numeric suffix (zhangsan2). Logins never change once given.

use std::collections::HashSet;

use orgid_config::LoginScheme;
use pinyin::ToPinyin;

/// The login stem for a person, before de-duplication. Always non-empty ASCII `[a-z0-9._-]`.
pub fn stem(scheme: LoginScheme, name: &str, employee_number: &str) -> String {
    let from_number = || {
        let s: String = employee_number
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if s.is_empty() { "user".to_string() } else { s }
    };
    match scheme {
        LoginScheme::EmployeeNumber => from_number(),
        LoginScheme::Pinyin => {
            let mut out = String::new();
            for c in name.chars() {
                if let Some(p) = c.to_pinyin() {
                    out.push_str(p.plain());
                } else if c.is_ascii_alphanumeric() {
                    out.push(c.to_ascii_lowercase());
                } else if matches!(c, '.' | '-' | '_') && !out.is_empty() {
                    out.push(c);
                } else if matches!(c, ' ' | '·' | '•') && !out.is_empty() && !out.ends_with('.') {
                    out.push('.');
                }
            }
            let out = out.trim_matches(|c| c == '.' || c == '-' || c == '_').to_string();
            if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { from_number() } else { out }
        }
    }
}

/// Hands out unique logins against those already taken.
pub struct LoginAllocator {
    taken: HashSet<String>,
}

impl LoginAllocator {
    pub fn new(taken: impl IntoIterator<Item = String>) -> Self {
        Self { taken: taken.into_iter().collect() }
    }

    pub fn allocate(&mut self, stem: &str) -> String {
        if self.taken.insert(stem.to_string()) {
            return stem.to_string();
        }
        // Suffixes start at 2 (zhangsan, zhangsan2, …); a stem ending in a digit gets a dot first.
        let sep = if stem.ends_with(|c: char| c.is_ascii_digit()) { "." } else { "" };
        (2u64..)
            .map(|n| format!("{stem}{sep}{n}"))
            .find(|candidate| self.taken.insert(candidate.clone()))
            .unwrap_or_else(|| stem.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_stems() {
        assert_eq!(stem(LoginScheme::Pinyin, "张三", "E1"), "zhangsan");
        assert_eq!(stem(LoginScheme::Pinyin, "欧阳娜娜", "E1"), "ouyangnana");
        assert_eq!(stem(LoginScheme::Pinyin, "阿依古丽·买买提", "E1"), "ayiguli.maimaiti");
        assert_eq!(stem(LoginScheme::Pinyin, "John Smith", "E1"), "john.smith");
        assert_eq!(stem(LoginScheme::Pinyin, "★", "E-01"), "e-01", "nothing usable: employee number");
        assert_eq!(stem(LoginScheme::EmployeeNumber, "张三", "SZ0012"), "sz0012");
    }

    #[test]
    fn allocation_is_unique_and_suffixes_from_two() {
        let mut a = LoginAllocator::new(["zhangsan".to_string()]);
        assert_eq!(a.allocate("zhangsan"), "zhangsan2");
        assert_eq!(a.allocate("zhangsan"), "zhangsan3");
        assert_eq!(a.allocate("lisi"), "lisi");
        assert_eq!(a.allocate("sz0012"), "sz0012");
        assert_eq!(a.allocate("sz0012"), "sz0012.2");
    }
}
