//! 身份证号码: validated (GB 11643 check character, birth date), then immediately turned into a
//! `PersonKey` (HMAC-SHA256 under a configured secret). The number itself is never stored, logged
//! or displayed: `IdNumber` has no `Display` and a redacting `Debug`.

use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// A syntactically valid resident ID number. Deliberately not `Display`/`Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdNumber(***)")
    }
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Why an ID number is not valid. Neither language repeats the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("must be 18 characters, found {0}")]
    Length(usize),
    #[error("the first 17 characters must be digits")]
    Digits,
    #[error("the last character must be a digit or X")]
    Last,
    #[error("check character does not match (GB 11643)")]
    Check,
    #[error("birth date part (characters 7–14) is not a valid date")]
    Birth,
}

impl IdNumberError {
    /// The reason in Chinese.
    pub fn zh(&self) -> String {
        match self {
            IdNumberError::Length(n) => format!("应为 18 位，实际为 {n} 位"),
            IdNumberError::Digits => "前 17 位应为数字".into(),
            IdNumberError::Last => "最后一位应为数字或 X".into(),
            IdNumberError::Check => "校验码不符（GB 11643）".into(),
            IdNumberError::Birth => "出生日期部分（第 7–14 位）不是有效日期".into(),
        }
    }
}

impl IdNumber {
    /// Validates an 18-character ID number. Error messages never repeat the number.
    pub fn parse(raw: &str) -> Result<Self, IdNumberError> {
        let s: String = raw.trim().chars().map(|c| c.to_ascii_uppercase()).collect();
        if s.chars().count() != 18 {
            return Err(IdNumberError::Length(s.chars().count()));
        }
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err(IdNumberError::Digits);
        }
        let last = bytes[17];
        if !(last.is_ascii_digit() || last == b'X') {
            return Err(IdNumberError::Last);
        }
        let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        let expected = CHECK[(sum % 11) as usize];
        if expected != last {
            return Err(IdNumberError::Check);
        }
        let birth = &s[6..14];
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err(IdNumberError::Birth);
        }
        Ok(IdNumber(s))
    }
}

/// The stable, opaque key of a person across companies: hex of HMAC-SHA256(secret, ID number).
/// Shared, not copied: a first load's plan, ledger, directory operations and tracking each hold
/// every key (four 64-character strings per person were some 25 MB of 100,000 people's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonKey(pub Arc<str>);

impl PersonKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PersonKey {
    fn from(s: String) -> Self {
        PersonKey(s.into())
    }
}

impl From<&str> for PersonKey {
    fn from(s: &str) -> Self {
        PersonKey(s.into())
    }
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes person keys. Built once from the configured (or stored) secret.
#[derive(Clone)]
pub struct PersonKeyer {
    key: hmac::Key,
}

impl fmt::Debug for PersonKeyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonKeyer(***)")
    }
}

impl PersonKeyer {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    pub fn key(&self, id: &IdNumber) -> PersonKey {
        PersonKey(hex::encode(hmac::sign(&self.key, id.0.as_bytes()).as_ref()).into())
    }

    /// A value that identifies the secret without revealing it, kept in the store so that a
    /// changed secret is detected before it splits every person in two.
    pub fn fingerprint(&self) -> String {
        hex::encode(&hmac::sign(&self.key, b"orgid person-key fingerprint v1").as_ref()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a valid number from 17 digits by computing its check character.
    pub(crate) fn with_check(first17: &str) -> String {
        let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        format!("{first17}{}", CHECK[(sum % 11) as usize] as char)
    }

    #[test]
    fn accepts_valid_numbers_including_x() {
        // Published GB 11643 example.
        assert!(IdNumber::parse("11010519491231002X").is_ok());
        assert!(IdNumber::parse("11010519491231002x").is_ok(), "lower-case x is normalised");
        assert!(IdNumber::parse(&with_check("32010619900307123")).is_ok());
    }

    #[test]
    fn rejects_with_reasons_that_do_not_echo_the_number() {
        let cases = [
            ("1101051949123100", "18 characters"),
            ("11010519491231002Y", "digit or X"),
            ("1101051949123A002X", "first 17"),
            ("110105194912310021", "check character"),
            (&with_check("11010519491332002")[..], "birth date"),
        ];
        for (raw, why) in cases {
            let err = IdNumber::parse(raw).expect_err(raw);
            let e = err.to_string();
            assert!(e.contains(why), "{raw}: {e}");
            assert!(!e.contains(&raw[..10]) && !err.zh().contains(&raw[..10]), "error must not echo the number: {e}");
        }
    }

    #[test]
    fn keys_are_stable_secret_dependent_and_debug_is_redacted() {
        let id = IdNumber::parse("11010519491231002X").expect("valid");
        let a = PersonKeyer::new(b"secret-one-0123456789");
        let b = PersonKeyer::new(b"secret-two-0123456789");
        assert_eq!(a.key(&id), a.key(&IdNumber::parse("11010519491231002x").expect("valid")));
        assert_ne!(a.key(&id), b.key(&id));
        assert_eq!(a.key(&id).0.len(), 64);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(format!("{id:?}"), "IdNumber(***)");
    }
}
