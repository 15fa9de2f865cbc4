//! The `[limits]` on an HR file, applied before its content is trusted: its size on disk, what an
//! .xlsx declares it unpacks to, its rows; and how much of a value a message may show.

use std::borrow::Cow;
use std::io::Cursor;

use orgid_config::LimitsConfig;

use super::SourceError;

/// A message never shows more of a value than this many characters (then "…").
pub(crate) const SHOWN_CHARS: usize = 200;

/// `s` as a message may show it: its first [`SHOWN_CHARS`] characters, then "…" if it goes on.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(SHOWN_CHARS) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!("{}…", &s[..cut])),
    }
}

/// The first `n` characters of `s` (all of it when shorter).
pub(crate) fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(cut, _)| &s[..cut])
}

/// 1 MB as `[limits]` counts it.
const MB: u64 = 1 << 20;

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

pub(crate) fn file_too_large(file: &str, bytes: Option<u64>, limits: &LimitsConfig) -> SourceError {
    let size = bytes.map_or_else(|| "larger than the limit".to_owned(), |b| format!("{} ({b} bytes)", mb(b)));
    SourceError::TooLarge {
        file: file.to_owned(),
        reason: format!(
            "the file is {size}, more than the {} MB allowed (limits.max_file_mb); it was not read",
            limits.max_file_mb
        ),
    }
}

/// Refuses an .xlsx (or any zip) whose entries declare more than `limits.max_xlsx_unpacked_mb`
/// once unpacked, from its central directory alone. The declared sizes are binding: the zip
/// reader calamine uses fails an entry that inflates past its declared size.
pub(crate) fn check_unpacked(file: &str, bytes: &[u8], limits: &LimitsConfig) -> Result<(), SourceError> {
    // A zip that cannot be opened here is left to the workbook reader, which says why.
    let Ok(archive) = zip::ZipArchive::new(Cursor::new(bytes)) else { return Ok(()) };
    let mut total = 0u64;
    let mut largest: Option<(u64, String)> = None;
    for i in 0..archive.len() {
        let Ok(entry) = archive.by_index_data(i) else { continue };
        let size = entry.size();
        total = total.saturating_add(size);
        if largest.as_ref().is_none_or(|(s, _)| size > *s) {
            let name = entry.name().map(|n| shown(&n).into_owned()).unwrap_or_default();
            largest = Some((size, name));
        }
    }
    if total <= limits.max_xlsx_unpacked_bytes() {
        return Ok(());
    }
    let part = largest.map(|(size, name)| format!(" ({name} alone {})", mb(size))).unwrap_or_default();
    Err(SourceError::TooLarge {
        file: file.to_owned(),
        reason: format!(
            "the workbook would unpack to {}{part}, more than the {} MB allowed (limits.max_xlsx_unpacked_mb); \
             it was not unpacked",
            mb(total),
            limits.max_xlsx_unpacked_mb
        ),
    })
}

/// Counts the non-empty rows of a file as they are read, and stops at the first one over
/// `limits.max_rows`.
pub(crate) struct RowLimit<'a> {
    file: &'a str,
    max: u64,
    seen: u64,
}

impl<'a> RowLimit<'a> {
    pub fn new(file: &'a str, limits: &LimitsConfig) -> Self {
        Self { file, max: limits.max_rows, seen: 0 }
    }

    /// One more row, spreadsheet row `number`.
    pub fn count(&mut self, number: u64) -> Result<(), SourceError> {
        self.seen += 1;
        if self.seen > self.max {
            return Err(SourceError::At {
                file: self.file.to_owned(),
                row: number,
                column: None,
                reason: format!(
                    "the file has more than the {} rows allowed (limits.max_rows); it was refused here",
                    self.max
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_up_to_200_characters_on_a_char_boundary() {
        assert_eq!(shown("短"), "短");
        let exact = "职".repeat(SHOWN_CHARS);
        assert_eq!(shown(&exact), exact);
        let long = format!("{}{}", "职".repeat(SHOWN_CHARS), "务".repeat(10));
        assert_eq!(shown(&long), format!("{}…", "职".repeat(SHOWN_CHARS)));
        assert_eq!(shown(&long).chars().count(), SHOWN_CHARS + 1);
        assert_eq!(prefix("a职b", 2), "a职");
        assert_eq!(prefix("ab", 5), "ab");
    }

    #[test]
    fn rows_past_the_limit_are_refused_at_the_first_one_over() {
        let limits = LimitsConfig { max_rows: 2, ..LimitsConfig::default() };
        let mut rows = RowLimit::new("f.csv", &limits);
        assert!(rows.count(1).is_ok());
        assert!(rows.count(3).is_ok());
        let e = rows.count(4).expect_err("third row");
        assert_eq!(
            e.to_string(),
            "f.csv: row 4: the file has more than the 2 rows allowed (limits.max_rows); it was refused here"
        );
    }

    #[test]
    fn a_file_too_large_names_its_size_and_the_key() {
        let limits = LimitsConfig { max_file_mb: 1, ..LimitsConfig::default() };
        let e = file_too_large("f.xlsx", Some(3 * MB / 2), &limits);
        assert_eq!(
            e.to_string(),
            "f.xlsx: the file is 1.5 MB (1572864 bytes), more than the 1 MB allowed (limits.max_file_mb); it was not read"
        );
    }
}
