//! Login names for new accounts: full-name pinyin (张三 → zhangsan) or the employee number, made
//! unique with a numeric suffix (zhangsan2). Logins never change once given.

use std::collections::{HashMap, HashSet};

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
    /// The logins taken, by a 64-bit hash of each: a million logins as strings held some 60 MB
    /// beside the plan's own copies. Two logins with one hash (about one chance in 30 million
    /// at a million people) only make the second namesake's suffix one higher: a login is
    /// never given twice, as a hash is never forgotten.
    taken: HashSet<u64>,
    /// Per stem, the suffix its last namesake got. Logins are only ever taken, so the first free
    /// suffix never goes down: the search for the next namesake starts there. (From 2 each time,
    /// the n-th `wangwei` of a million-person group tried n candidates: quadratic in namesakes.)
    next: HashMap<String, u64>,
}

/// A login's hash in [`LoginAllocator::taken`] (`DefaultHasher::new` has fixed keys: the same
/// every run of a build).
fn login_hash(login: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    login.hash(&mut h);
    h.finish()
}

impl LoginAllocator {
    pub fn new(taken: impl IntoIterator<Item = String>) -> Self {
        Self { taken: taken.into_iter().map(|l| login_hash(&l)).collect(), next: HashMap::new() }
    }

    pub fn allocate(&mut self, stem: &str) -> String {
        if self.taken.insert(login_hash(stem)) {
            return stem.to_string();
        }
        // Suffixes start at 2 (zhangsan, zhangsan2, …); a stem ending in a digit gets a dot first.
        let sep = if stem.ends_with(|c: char| c.is_ascii_digit()) { "." } else { "" };
        let from = self.next.get(stem).copied().unwrap_or(2);
        let Some((n, login)) = (from..)
            .map(|n| (n, format!("{stem}{sep}{n}")))
            .find(|(_, candidate)| self.taken.insert(login_hash(candidate)))
        else {
            return stem.to_string();
        };
        self.next.insert(stem.to_string(), n);
        login
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

    #[test]
    fn namesakes_get_the_first_free_suffix_whoever_took_the_others() {
        // The logins taken already, and those another stem's allocation took meanwhile, are skipped.
        let mut a = LoginAllocator::new(["wangwei", "wangwei2", "wangwei4"].map(String::from));
        assert_eq!(a.allocate("wangwei"), "wangwei3");
        assert_eq!(a.allocate("wangwei3"), "wangwei3.2");
        assert_eq!(a.allocate("wangwei5"), "wangwei5");
        assert_eq!(a.allocate("wangwei"), "wangwei6");
        assert_eq!(a.allocate("wangwei"), "wangwei7");
        let many: Vec<String> = (0..10_000).map(|_| a.allocate("lina")).collect();
        assert_eq!(many[0], "lina");
        assert_eq!(many[9_999], "lina10000");
    }
}
