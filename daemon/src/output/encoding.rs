//! The encoding of CSV on standard output: UTF-8 with a byte-order mark by default (Excel in a
//! Chinese locale reads a CSV without one as GBK, and shows mojibake), plain UTF-8 for scripts,
//! or GBK for older spreadsheet programs.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Encoding {
    #[value(name = "utf-8")]
    Utf8,
    #[default]
    #[value(name = "utf-8-bom")]
    Utf8Bom,
    #[value(name = "gbk")]
    Gbk,
}

/// A writer that re-encodes the UTF-8 written to it. A character split across two writes is
/// held until its last byte arrives; one that GBK lacks becomes a numeric character reference
/// (`&#128512;`), as encoding_rs writes it.
pub struct Encoded<'a> {
    inner: &'a mut (dyn Write + Send),
    encoding: Encoding,
    started: bool,
    carry: Vec<u8>,
}

impl<'a> Encoded<'a> {
    pub fn new(inner: &'a mut (dyn Write + Send), encoding: Encoding) -> Self {
        Encoded { inner, encoding, started: false, carry: Vec::new() }
    }
}

impl Write for Encoded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.encoding {
            Encoding::Utf8 => return self.inner.write(buf),
            Encoding::Utf8Bom => {
                if !self.started {
                    self.inner.write_all("\u{feff}".as_bytes())?;
                    self.started = true;
                }
                return self.inner.write(buf);
            }
            Encoding::Gbk => {}
        }
        self.carry.extend_from_slice(buf);
        let mut done = 0;
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.carry[done..]) {
                Ok(s) => {
                    text.push_str(s);
                    done = self.carry.len();
                    break;
                }
                Err(e) => {
                    let valid = done + e.valid_up_to();
                    text.push_str(std::str::from_utf8(&self.carry[done..valid]).unwrap_or_default());
                    match e.error_len() {
                        // Not UTF-8 at all: a replacement, and on.
                        Some(n) => {
                            text.push('?');
                            done = valid + n;
                        }
                        // The start of a character whose end is in the next write.
                        None => {
                            done = valid;
                            break;
                        }
                    }
                }
            }
        }
        self.carry.drain(..done);
        let (bytes, _, _) = encoding_rs::GBK.encode(&text);
        self.inner.write_all(&bytes)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(encoding: Encoding, parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Encoded::new(&mut out, encoding);
        for p in parts {
            w.write_all(p).expect("write");
        }
        out
    }

    #[test]
    fn a_bom_once_and_gbk_across_split_characters() {
        let text = "姓名,工号\n张三,A1\n".as_bytes();
        assert_eq!(through(Encoding::Utf8, &[text]), text);
        let with_bom = through(Encoding::Utf8Bom, &[&text[..4], &text[4..]]);
        assert_eq!(&with_bom[..3], b"\xef\xbb\xbf");
        assert_eq!(&with_bom[3..], text);
        // Split inside 名 (3 bytes: the cut after its first byte).
        let gbk = through(Encoding::Gbk, &[&text[..4], &text[4..]]);
        let (back, _, bad) = encoding_rs::GBK.decode(&gbk);
        assert!(!bad);
        assert_eq!(back, "姓名,工号\n张三,A1\n");
        assert_eq!(gbk.len(), text.len() - 6, "two bytes for each of the six Chinese characters");
        assert_eq!(through(Encoding::Gbk, &["😀".as_bytes()]), b"&#128512;");
    }
}
