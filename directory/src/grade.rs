//! 职级: a track (M management, P professional) and a level 1..=16. "M12 以上" includes M12.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Track {
    M,
    P,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grade {
    pub track: Track,
    pub level: u8,
}

impl Grade {
    pub const MAX_LEVEL: u8 = 16;
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.track {
            Track::M => 'M',
            Track::P => 'P',
        };
        write!(f, "{t}{}", self.level)
    }
}

impl FromStr for Grade {
    type Err = String;
    /// Accepts `M12`, `m12`, `P 9`, full-width `Ｍ１２`; rejects anything outside M1–M16 / P1–P16.
    fn from_str(s: &str) -> Result<Self, String> {
        let norm: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                    char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
                }
                c => c,
            })
            .collect();
        let bad = || format!("`{s}` is not a grade (M1–M16 or P1–P16)");
        let mut chars = norm.chars();
        let track = match chars.next().map(|c| c.to_ascii_uppercase()) {
            Some('M') => Track::M,
            Some('P') => Track::P,
            _ => return Err(bad()),
        };
        let digits = chars.as_str();
        if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let level: u8 = digits.parse().map_err(|_| bad())?;
        if !(1..=Self::MAX_LEVEL).contains(&level) {
            return Err(bad());
        }
        Ok(Grade { track, level })
    }
}

impl Serialize for Grade {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grade {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_tracks_and_bounds() {
        assert_eq!("M12".parse(), Ok(Grade { track: Track::M, level: 12 }));
        assert_eq!("p1".parse(), Ok(Grade { track: Track::P, level: 1 }));
        assert_eq!(" P 16 ".parse(), Ok(Grade { track: Track::P, level: 16 }));
        assert_eq!("Ｍ１１".parse(), Ok(Grade { track: Track::M, level: 11 }));
        for bad in ["", "M", "M0", "M17", "X12", "12", "M-1", "M1.5", "M012", "MM12"] {
            assert!(bad.parse::<Grade>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(Grade { track: Track::P, level: 9 }.to_string(), "P9");
    }
}
