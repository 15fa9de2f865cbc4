//! Quotes in CSV that would swallow rows. The csv reader ends a quoted value at the next lone
//! quote, or at the end of the file without a word: one quote left open turns the rest of the
//! file (or everything up to the next quote) into one cell, and the rows in it vanish from the
//! run. This pass walks the text as the csv reader does (RFC 4180: a quote opens a value only at
//! its start, `""` inside is a quote) and refuses such a file, naming the row where the quote
//! opened.

use super::SourceError;
use super::table::column_letter;

/// A quoted value being read: where it opened and what it took in so far.
struct Open {
    row: u64,
    line: u64,
    column: usize,
    /// Line breaks inside the value.
    breaks: u64,
    /// Separators on the current line of the value, once past its first line.
    separators: usize,
    /// The first line inside the value with as many separators as a row would have.
    row_like: Option<u64>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    /// At the start of a value: a quote here opens a quoted one.
    Start,
    /// In an unquoted value, or after a quoted value's closing quote.
    Plain,
    Quoted,
    /// A quote inside a quoted value: `""` (a quote) or the end of the value.
    QuoteInQuoted,
}

/// Checks the quotes of delimited `text`. Rows are counted as the reader counts them: each line
/// break outside quotes starts a new one, blank lines included.
pub(crate) fn check(file: &str, text: &str, delimiter: u8) -> Result<(), SourceError> {
    let b = text.as_bytes();
    let (mut row, mut line, mut column) = (1u64, 1u64, 0usize);
    // The widest row so far, in separators: a line inside a value with at least half as many
    // (and at least 2) is taken for a row of its own.
    let (mut widest, mut separators) = (0usize, 0usize);
    let mut state = State::Start;
    let mut open: Option<Open> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let line_break = c == b'\n' || c == b'\r';
        if line_break && c == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        i += 1;
        if state == State::Quoted {
            let Some(o) = open.as_mut() else { continue };
            if c == b'"' {
                state = State::QuoteInQuoted;
            } else if line_break {
                line += 1;
                o.breaks += 1;
                o.separators = 0;
            } else if c == delimiter && o.breaks > 0 {
                o.separators += 1;
                if o.row_like.is_none() && o.separators >= (widest / 2).max(2) {
                    o.row_like = Some(line);
                }
            }
            continue;
        }
        if state == State::QuoteInQuoted {
            if c == b'"' {
                state = State::Quoted;
                continue;
            }
            if let Some(o) = open.take() {
                swallowed(file, &o, line)?;
            }
            state = State::Plain;
        }
        if c == delimiter {
            column += 1;
            separators += 1;
            state = State::Start;
        } else if line_break {
            widest = widest.max(separators);
            (row, line, column, separators) = (row + 1, line + 1, 0, 0);
            state = State::Start;
        } else if c == b'"' && state == State::Start {
            open = Some(Open { row, line, column, breaks: 0, separators: 0, row_like: None });
            state = State::Quoted;
        } else {
            state = State::Plain;
        }
    }
    // The last line with something on it (a final line break starts none).
    let last = if text.ends_with(['\n', '\r']) { line - 1 } else { line };
    match (state, open) {
        (State::Quoted, Some(o)) => Err(SourceError::At {
            file: file.to_owned(),
            row: o.row,
            column: Some(column_letter(o.column)),
            reason: format!(
                "a quote opens here and never closes: the rest of the file (lines {}–{last}) would be read \
                 as one value; close the quote, or write a quote inside a value as \"\"",
                o.line
            ),
        }),
        (_, Some(o)) => swallowed(file, &o, line),
        _ => Ok(()),
    }
}

/// Refuses a quoted value, closed on `line`, that took in lines looking like rows.
fn swallowed(file: &str, o: &Open, line: u64) -> Result<(), SourceError> {
    let Some(row_like) = o.row_like else { return Ok(()) };
    Err(SourceError::At {
        file: file.to_owned(),
        row: o.row,
        column: Some(column_letter(o.column)),
        reason: format!(
            "a quote opens here and closes only on line {line}, taking in lines that look like rows of their \
             own (line {row_like} has separators as a row does); close the quote, or write a quote inside a \
             value as \"\""
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<String> {
        check("f.csv", text, b',').err().map(|e| e.to_string())
    }

    #[test]
    fn legitimate_quotes_pass() {
        for text in [
            "a,b,c\n1,\"x, y\",3\n",
            "a,b\n\"say \"\"hi\"\"\",2\n",
            "\"公司名\n称\",部门\nA,财务部\n",
            "a,b,c\r\n1,\"调入\r\n待定\",3\r\n",
            "a,b\n1,2", // no final line break
            "a,b\n1,\"\"\n",
            "a,b\n1,x\"y\"\n", // a quote inside an unquoted value is a plain character
            "a,b,c,d\n1,\"two lines,\nthe second with one, comma\",3,4\n",
            "a,b\n\"closed\"late,2\n",
        ] {
            assert_eq!(problem(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_quote_left_open_to_the_end_is_refused_at_its_row() {
        let text = "公司名称,部门,工号,姓名\r\n\r\nA,财务部,E1,张三\r\nA,\"财务部,E2,李四\r\nA,财务部,E3,王五\r\n";
        assert_eq!(
            problem(text).as_deref(),
            Some(
                "f.csv: row 4, column B: a quote opens here and never closes: the rest of the file (lines 4–5) \
                 would be read as one value; close the quote, or write a quote inside a value as \"\""
            )
        );
        assert!(problem("a,b\n1,\"x\"\"\n").is_some(), "an escaped quote does not close");
    }

    #[test]
    fn rows_are_counted_past_values_with_line_breaks() {
        let text = "a,b\n\"x\ny\",1\n\n2,\"open\n";
        assert!(problem(text).is_some_and(|p| p.starts_with("f.csv: row 4, column B:")), "{text:?}");
    }

    #[test]
    fn a_quote_that_closes_rows_later_is_refused_at_its_row() {
        let text = "a,b,c,d,e\n1,\"2,3,4,5\n6,7,8,9,10\n11,12,\"x\",14,15\n";
        let p = problem(text).expect("refused");
        assert!(p.starts_with("f.csv: row 2, column B: a quote opens here and closes only on line 4"), "{p}");
        assert!(p.contains("line 3 has separators as a row does"), "{p}");
    }

    #[test]
    fn tabs_are_separators_too() {
        let e = check("f.tsv", "a\tb\n1\t\"2\n", b'\t').expect_err("open");
        assert!(e.to_string().starts_with("f.tsv: row 2, column B:"), "{e}");
    }
}
