//! The password policy (pure) and one-time initial passwords. Hashing is the pool's
//! (`hashing.rs`).

use chrono::{DateTime, Duration, Utc};
use orgid_config::PasswordConfig;
use ring::rand::{SecureRandom, SystemRandom};

use crate::IdpError;
pub use crate::hashing::{one_hash_time, parallel_hash_rate};
use crate::i18n::{Lang, Msg};

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    TooShort(u32),
    TooFewClasses(u32),
    ContainsLogin,
    Reused(u32),
    Unchanged,
}

impl Weakness {
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (Weakness::TooShort(n), Lang::Zh) => format!("密码至少需要 {n} 个字符。"),
            (Weakness::TooShort(n), Lang::En) => format!("The password needs at least {n} characters."),
            (Weakness::TooFewClasses(n), Lang::Zh) => {
                format!("密码需包含大写字母、小写字母、数字、其他字符中的至少 {n} 类。")
            }
            (Weakness::TooFewClasses(n), Lang::En) => {
                format!("The password needs {n} of: upper case, lower case, digits, other characters.")
            }
            (Weakness::ContainsLogin, _) => Msg::PasswordContainsLogin.text(lang).into(),
            (Weakness::Reused(n), Lang::Zh) => format!("不能使用最近 {n} 次用过的密码。"),
            (Weakness::Reused(n), Lang::En) => format!("The password must differ from the last {n} ones."),
            (Weakness::Unchanged, _) => Msg::PasswordUnchanged.text(lang).into(),
        }
    }
}

/// Length, character classes and the login: the checks that need no history.
pub fn check_strength(policy: &PasswordConfig, login: &str, new: &str) -> Result<(), Weakness> {
    if (new.chars().count() as u64) < u64::from(policy.min_length) {
        return Err(Weakness::TooShort(policy.min_length));
    }
    let classes = [
        new.chars().any(|c| c.is_lowercase()),
        new.chars().any(|c| c.is_uppercase()),
        new.chars().any(|c| c.is_ascii_digit()),
        new.chars().any(|c| !(c.is_lowercase() || c.is_uppercase() || c.is_ascii_digit())),
    ]
    .iter()
    .filter(|x| **x)
    .count() as u32;
    if classes < policy.min_classes {
        return Err(Weakness::TooFewClasses(policy.min_classes));
    }
    if login.chars().count() >= 3 && new.to_lowercase().contains(&login.to_lowercase()) {
        return Err(Weakness::ContainsLogin);
    }
    Ok(())
}

/// Where a password stands at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Fine,
    /// Expires in this many days (within the warning window).
    ExpiresSoon(i64),
    Expired,
}

pub fn age(policy: &PasswordConfig, changed_at: DateTime<Utc>, now: DateTime<Utc>) -> Age {
    if policy.max_age_days == 0 {
        return Age::Fine;
    }
    let expires = changed_at + Duration::days(i64::from(policy.max_age_days));
    if now >= expires {
        return Age::Expired;
    }
    // Whole days left, rounded up: exactly ten days before expiry is "10".
    let left = ((expires - now).num_seconds() + 86_399).div_euclid(86_400);
    if left <= i64::from(policy.warn_days) { Age::ExpiresSoon(left) } else { Age::Fine }
}

/// A random initial password that satisfies any policy up to 4 classes: letters without look-
/// alikes, digits and a symbol, at least one of each class.
pub fn initial(policy: &PasswordConfig) -> Result<String, IdpError> {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const OTHER: &[u8] = b"#%+=@!?";
    let len = policy.initial_length.max(policy.min_length).max(10) as usize;
    let rng = SystemRandom::new();
    let pick = |set: &[u8]| -> Result<u8, IdpError> {
        // Rejection sampling: no modulo bias.
        loop {
            let mut b = [0u8; 1];
            rng.fill(&mut b).map_err(|_| IdpError::Internal("no system randomness".into()))?;
            let limit = 256 - 256 % set.len();
            if (b[0] as usize) < limit {
                return Ok(set[b[0] as usize % set.len()]);
            }
        }
    };
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, OTHER].concat();
    let mut out = vec![pick(LOWER)?, pick(UPPER)?, pick(DIGIT)?, pick(OTHER)?];
    while out.len() < len {
        out.push(pick(&all)?);
    }
    // Shuffle so that the class order is not fixed (Fisher–Yates).
    for i in (1..out.len()).rev() {
        let j = loop {
            let mut b = [0u8; 1];
            rng.fill(&mut b).map_err(|_| IdpError::Internal("no system randomness".into()))?;
            let limit = 256 - 256 % (i + 1);
            if (b[0] as usize) < limit {
                break b[0] as usize % (i + 1);
            }
        };
        out.swap(i, j);
    }
    String::from_utf8(out).map_err(|_| IdpError::Internal("initial password".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::TimeZone;

    fn policy() -> PasswordConfig {
        PasswordConfig::default()
    }

    #[test]
    fn strength_follows_the_level_3_profile() {
        let p = policy();
        assert_eq!(check_strength(&p, "zhangwei", "Ab1!"), Err(Weakness::TooShort(8)));
        assert_eq!(check_strength(&p, "zhangwei", "abcdefgh1"), Err(Weakness::TooFewClasses(3)));
        assert_eq!(check_strength(&p, "zhangwei", "Zhangwei2026"), Err(Weakness::ContainsLogin));
        assert_eq!(check_strength(&p, "zhangwei", "Spring2026"), Ok(()));
        assert_eq!(check_strength(&p, "zhangwei", "spring-2026"), Ok(()));
        // Chinese characters count as "other" and as characters, not bytes.
        assert_eq!(check_strength(&p, "li", "密码abc123"), Ok(()));
    }

    #[test]
    fn age_warns_in_the_window_and_expires_on_the_day() {
        let p = policy();
        let changed = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(age(&p, changed, changed + Duration::days(10)), Age::Fine);
        assert_eq!(age(&p, changed, changed + Duration::days(80)), Age::ExpiresSoon(10));
        assert_eq!(age(&p, changed, changed + Duration::days(89)), Age::ExpiresSoon(1));
        assert_eq!(age(&p, changed, changed + Duration::days(90)), Age::Expired);
        let never = PasswordConfig { max_age_days: 0, ..policy() };
        assert_eq!(age(&never, changed, changed + Duration::days(9000)), Age::Fine);
    }

    #[test]
    fn initial_passwords_pass_the_policy_and_differ() {
        let p = policy();
        let a = initial(&p).unwrap();
        let b = initial(&p).unwrap();
        assert_eq!(a.len(), 12);
        assert_ne!(a, b);
        check_strength(&PasswordConfig { min_classes: 4, ..p.clone() }, "zhangwei", &a).unwrap();
    }
}
