//! Rendering of lists: aligned tables (CJK-aware widths), JSON and CSV.

pub mod encoding;
pub mod ldif;
pub mod progress;
pub mod timings;

use std::io::Write;

use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// A table with a header row; cells are plain text.
pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn write_table(&self, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(clean(cell).width());
            }
        }
        let line = |cells: Vec<String>, out: &mut (dyn Write + Send)| -> std::io::Result<()> {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(widths[i] - c.width() + 2));
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
        line(self.header.iter().map(|h| h.to_string()).collect(), out)?;
        for row in &self.rows {
            line(row.iter().map(|c| clean(c)).collect(), out)?;
        }
        Ok(())
    }

    pub fn write_csv(&self, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(&self.header)?;
        for row in &self.rows {
            // A cell that a spreadsheet would run as a formula is quoted with a leading apostrophe.
            w.write_record(row.iter().map(|c| defuse_formula(c)))?;
        }
        w.flush()
    }
}

/// Control characters never reach a terminal.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

impl Table {
    /// Writes the table in `format`; JSON writes `json`, the caller's full records.
    pub fn emit(
        &self,
        format: Format,
        json: &impl serde::Serialize,
        out: &mut (dyn Write + Send),
    ) -> std::io::Result<()> {
        match format {
            Format::Table => self.write_table(out),
            Format::Csv => self.write_csv(out),
            Format::Json => write_json(json, out),
        }
    }

    /// The rows as JSON objects keyed by the header, for tables that are their own records.
    pub fn records(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.rows
            .iter()
            .map(|r| self.header.iter().zip(r).map(|(h, v)| (h.to_string(), serde_json::json!(v))).collect())
            .collect()
    }
}

/// A cell that a spreadsheet would run as a formula gets a leading apostrophe.
pub(crate) fn defuse_formula(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() }
}

pub fn write_json(value: &impl serde::Serialize, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer_pretty(&mut w, value)?;
    writeln!(w)?;
    w.flush()
}

/// A stream whose reader may go away (`orgid sync | head -2`): from the first broken pipe on,
/// what is written is dropped instead of failing the command.
pub struct PipeOut<W> {
    inner: W,
    gone: bool,
}

impl<W: Write> PipeOut<W> {
    pub fn new(inner: W) -> Self {
        PipeOut { inner, gone: false }
    }

    fn absorb<T>(&mut self, r: std::io::Result<T>, dropped: T) -> std::io::Result<T> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(dropped)
            }
            r => r,
        }
    }
}

impl<W: Write> Write for PipeOut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.gone {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.absorb(r, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.gone {
            return Ok(());
        }
        let r = self.inner.flush();
        self.absorb(r, ())
    }
}

/// A time in the configured zone, as every report shows it; empty for none.
pub fn local(t: Option<chrono::DateTime<chrono::Utc>>, tz: chrono_tz::Tz) -> String {
    t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_wide_characters() {
        let t = Table {
            header: vec!["name", "dept"],
            rows: vec![vec!["张三".into(), "财务部".into()], vec!["Bob".into(), "IT".into()]],
        };
        let mut out = Vec::new();
        t.write_table(&mut out).expect("write");
        let s = String::from_utf8(out).expect("utf8");
        assert_eq!(s, "name  dept\n张三  财务部\nBob   IT\n");
    }

    #[test]
    fn csv_defuses_formulas_and_escapes() {
        let t = Table { header: vec!["a", "b"], rows: vec![vec!["=HYPERLINK(\"x\")".into(), "a,b".into()]] };
        let mut out = Vec::new();
        t.write_csv(&mut out).expect("write");
        assert_eq!(String::from_utf8(out).expect("utf8"), "a,b\n\"'=HYPERLINK(\"\"x\"\")\",\"a,b\"\n");
    }

    #[test]
    fn a_closed_pipe_drops_the_rest_and_other_errors_stay() {
        struct Closed(usize);
        impl Write for Closed {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                self.0 -= 1;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut out = PipeOut::new(Closed(1));
        writeln!(out, "first").expect("taken");
        writeln!(out, "second").expect("dropped, not an error");
        out.flush().expect("dropped");
        assert!(out.gone);
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::StorageFull.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        assert!(writeln!(PipeOut::new(Full), "x").is_err(), "a full disk is still an error");
    }
}
