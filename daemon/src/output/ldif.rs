//! LDIF (RFC 2849) content records, as `slapadd` and `ldapadd` read them: a value that is not a
//! SAFE-STRING (non-ASCII such as Chinese names, a leading space, colon or `<`, a trailing space,
//! control characters) is written base64-encoded after `::`. Lines are not folded.

use std::collections::BTreeMap;
use std::io::Write;

use base64::Engine;

/// Writes one entry: `dn`, then every attribute value in the map's order, then a blank line.
pub fn write_entry(out: &mut dyn Write, dn: &str, attrs: &BTreeMap<String, Vec<String>>) -> std::io::Result<()> {
    line(out, "dn", dn)?;
    for (name, values) in attrs {
        for v in values {
            line(out, name, v)?;
        }
    }
    out.write_all(b"\n")
}

fn line(out: &mut dyn Write, name: &str, value: &str) -> std::io::Result<()> {
    if is_safe(value) {
        writeln!(out, "{name}: {value}")
    } else {
        writeln!(out, "{name}:: {}", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// RFC 2849 SAFE-STRING, and no trailing space (which readers may strip).
fn is_safe(v: &str) -> bool {
    let b = v.as_bytes();
    let init_ok = b.first().is_none_or(|&c| !matches!(c, b' ' | b':' | b'<'));
    init_ok && !v.ends_with(' ') && b.iter().all(|&c| c.is_ascii() && !matches!(c, 0 | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_values_are_plain_and_the_rest_base64() {
        let mut attrs = BTreeMap::new();
        attrs.insert("cn".to_string(), vec!["张三".to_string()]);
        attrs.insert("mail".to_string(), vec!["a@b.example".to_string()]);
        attrs.insert("objectClass".to_string(), vec!["top".to_string(), "person".to_string()]);
        attrs.insert("title".to_string(), vec![":x".to_string(), "y ".to_string()]);
        let mut out = Vec::new();
        write_entry(&mut out, "uid=zhangsan,ou=财务部,dc=example,dc=com", &attrs).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let want = format!(
            "dn:: {}\ncn:: {}\nmail: a@b.example\nobjectClass: top\nobjectClass: person\ntitle:: {}\ntitle:: {}\n\n",
            b64("uid=zhangsan,ou=财务部,dc=example,dc=com"),
            b64("张三"),
            b64(":x"),
            b64("y ")
        );
        assert_eq!(text, want);
    }
}
