//! The working-day calendar: weekends, statutory holidays and adjusted working weekends, per year,
//! from TOML (`directory/calendar/cn.toml` is built in).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The built-in calendar (mainland China, the years in `directory/calendar/cn.toml`).
pub const BUILT_IN: &str = include_str!("../../calendar/cn.toml");

/// A calendar file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar: {0}")]
pub struct CalendarError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    year: Vec<YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: String,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    workdays: Vec<String>,
}

/// One covered year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Year {
    /// Where the year's arrangement comes from.
    pub source: String,
    pub holidays: BTreeSet<NaiveDate>,
    pub workdays: BTreeSet<NaiveDate>,
}

/// Working days by year. Outside the covered years only weekends are rest days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, Year>,
}

fn date(s: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| CalendarError(format!("`{}` is not a date (YYYY-MM-DD)", s.trim())))
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Calendar {
    /// The built-in calendar.
    pub fn built_in() -> Calendar {
        // The file is part of the source and tested; an error here is a build defect.
        Calendar::from_toml(BUILT_IN).unwrap_or_default()
    }

    /// Parses a calendar file (see `directory/calendar/cn.toml` for the format).
    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        let file: File = toml::from_str(text).map_err(|e| CalendarError(e.to_string()))?;
        let mut years = BTreeMap::new();
        for y in file.year {
            let mut holidays = BTreeSet::new();
            for h in &y.holidays {
                let (from, to) = match h.split_once("..") {
                    Some((a, b)) => (date(a)?, date(b)?),
                    None => (date(h)?, date(h)?),
                };
                if to < from || (to - from).num_days() > 31 {
                    return Err(CalendarError(format!("year {}: `{h}` is not a range of at most a month", y.year)));
                }
                let mut d = from;
                while d <= to {
                    holidays.insert(d);
                    d = d + Days::new(1);
                }
            }
            let mut workdays = BTreeSet::new();
            for w in &y.workdays {
                let d = date(w)?;
                if !is_weekend(d) {
                    return Err(CalendarError(format!("year {}: working day {d} is not a weekend day", y.year)));
                }
                workdays.insert(d);
            }
            if let Some(d) = holidays.iter().chain(&workdays).find(|d| d.year() != y.year) {
                return Err(CalendarError(format!("year {}: {d} is in another year", y.year)));
            }
            if let Some(d) = holidays.intersection(&workdays).next() {
                return Err(CalendarError(format!("year {}: {d} is both a holiday and a working day", y.year)));
            }
            if years.insert(y.year, Year { source: y.source, holidays, workdays }).is_some() {
                return Err(CalendarError(format!("year {} appears twice", y.year)));
            }
        }
        Ok(Calendar { years })
    }

    /// `other`'s years replace this calendar's.
    pub fn merge(&mut self, other: Calendar) {
        self.years.extend(other.years);
    }

    /// Whether the year's holidays are known.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The covered years.
    pub fn years(&self) -> impl Iterator<Item = (i32, &Year)> {
        self.years.iter().map(|(y, v)| (*y, v))
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.years.get(&d.year()) {
            Some(y) if y.workdays.contains(&d) => true,
            Some(y) if y.holidays.contains(&d) => false,
            _ => !is_weekend(d),
        }
    }

    /// The `n`th working day after `d` (`d` itself when `n` is 0).
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut cur = d;
        let mut left = n;
        while left > 0 {
            cur = cur + Days::new(1);
            if self.is_working_day(cur) {
                left -= 1;
            }
        }
        cur
    }

    /// Working days in `(from, to]`: how late something done on `to` is for a deadline on `from`
    /// (0 when `to` is not after `from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut n = 0;
        let mut cur = from;
        while cur < to {
            cur = cur + Days::new(1);
            if self.is_working_day(cur) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn d(s: &str) -> NaiveDate {
        date(s).unwrap()
    }

    #[test]
    fn the_built_in_2026_calendar_has_the_state_council_arrangement() {
        let c = Calendar::from_toml(BUILT_IN).expect("the built-in calendar parses");
        assert!(c.covers(2026) && !c.covers(2027));
        let y = c.years().next().unwrap().1;
        assert!(y.source.contains("国务院办公厅"), "{}", y.source);
        for h in ["2026-01-01", "2026-02-16", "2026-02-23", "2026-04-06", "2026-05-05", "2026-06-19", "2026-09-25"] {
            assert!(!c.is_working_day(d(h)), "{h} is a holiday");
        }
        for h in 1..=7 {
            assert!(!c.is_working_day(d(&format!("2026-10-0{h}"))), "National Day 10-0{h}");
        }
        for w in ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"] {
            assert!(c.is_working_day(d(w)), "{w} is an adjusted working weekend");
            assert!(is_weekend(d(w)));
        }
        assert!(c.is_working_day(d("2026-10-08")) && c.is_working_day(d("2026-10-09")));
        assert!(!c.is_working_day(d("2026-10-11")), "an ordinary Sunday");
        assert_eq!(y.holidays.len(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
    }

    #[test]
    fn working_days_skip_the_national_day_holiday_and_count_the_swapped_saturday() {
        let c = Calendar::built_in();
        // Wednesday 30 September + 2 working days: 1–7 October off, Thursday 8, Friday 9.
        assert_eq!(c.add_working_days(d("2026-09-30"), 2), d("2026-10-09"));
        // Friday 9 October + 1: Saturday 10 October is a working day.
        assert_eq!(c.add_working_days(d("2026-10-09"), 1), d("2026-10-10"));
        // Friday 25 September (holiday) + 1: Monday 28.
        assert_eq!(c.add_working_days(d("2026-09-25"), 1), d("2026-09-28"));
        // Outside the covered years only weekends count: Friday 1 Oct 2027 + 1 = Monday 4.
        assert_eq!(c.add_working_days(d("2027-10-01"), 1), d("2027-10-04"));
        assert_eq!(c.add_working_days(d("2026-10-12"), 0), d("2026-10-12"));
        assert_eq!(c.working_days_between(d("2026-09-30"), d("2026-10-12")), 4);
        assert_eq!(c.working_days_between(d("2026-10-12"), d("2026-09-30")), 0);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let e = |t: &str| Calendar::from_toml(t).unwrap_err().to_string();
        assert!(e("[[year]]\nyear=2027\nsource='x'\nholidays=['2027-13-01']").contains("not a date"));
        assert!(e("[[year]]\nyear=2027\nsource='x'\nworkdays=['2027-01-06']").contains("not a weekend"));
        assert!(e("[[year]]\nyear=2027\nsource='x'\nholidays=['2028-01-01']").contains("another year"));
        assert!(e("[[year]]\nyear=2027\nsource='x'\nholidays=['2027-02-01..2027-01-01']").contains("range"));
        assert!(e("[[year]]\nyear=2027\nsource='x'\nsurprise=1").contains("surprise"));
        assert!(e("[[year]]\nyear=2027\nsource='x'\n[[year]]\nyear=2027\nsource='y'").contains("twice"));
    }

    #[test]
    fn a_later_file_replaces_a_year_and_adds_others() {
        let mut c = Calendar::built_in();
        c.merge(
            Calendar::from_toml("[[year]]\nyear=2027\nsource='test'\nholidays=['2027-01-01']\nworkdays=['2027-01-02']")
                .unwrap(),
        );
        assert!(c.covers(2026) && c.covers(2027));
        assert!(!c.is_working_day(d("2027-01-01")) && c.is_working_day(d("2027-01-02")));
        c.merge(Calendar::from_toml("[[year]]\nyear=2026\nsource='none'").unwrap());
        assert!(c.is_working_day(d("2026-10-08")) && c.is_working_day(d("2026-10-01")), "2026 replaced");
    }
}
