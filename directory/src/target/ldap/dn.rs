//! Distinguished names as data. Rendering and parsing follow RFC 4514 so that names with `,` `+`
//! `"` `\` `<` `>` `;` `#` `=` or leading/trailing spaces round-trip exactly. ldap3 offers escaping
//! but no parser, and the layout (which DN an entry has) is domain logic, so DNs live here.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One `attr=value` component. The attribute type is kept lower-case (types are case-insensitive);
/// the value is kept as given. Both are shared: a DN is cloned into every operation and member
/// list that names it, and a first load names a quarter of a million of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rdn {
    pub attr: Arc<str>,
    pub value: Arc<str>,
}

impl Rdn {
    pub fn new(attr: &str, value: &str) -> Rdn {
        Rdn { attr: attr.to_ascii_lowercase().into(), value: value.into() }
    }
}

/// A DN, most specific RDN first (as written: `uid=a,ou=b,dc=c`). The RDNs are shared: a clone
/// is a reference count, and a first load names every account's DN in its add and in two or three
/// member lists. Serialised as its RFC 4514 string (a third of the structured form's size in the
/// outbox); the structured form written by earlier versions is still read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dn(pub Arc<[Rdn]>);

impl Default for Dn {
    fn default() -> Dn {
        Dn(Arc::from(Vec::new()))
    }
}

impl From<Vec<Rdn>> for Dn {
    fn from(rdns: Vec<Rdn>) -> Dn {
        Dn(rdns.into())
    }
}

impl Dn {
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        // An exact-size iterator: one allocation, no intermediate Vec.
        Dn(std::iter::once(Rdn::new(attr, value)).chain(self.0.iter().cloned()).collect())
    }

    pub fn rdn(&self) -> Option<&Rdn> {
        self.0.first()
    }

    pub fn parent(&self) -> Option<Dn> {
        (!self.0.is_empty()).then(|| Dn(self.0[1..].into()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Strictly below `ancestor`.
    pub fn is_under(&self, ancestor: &Dn) -> bool {
        self.0.len() > ancestor.0.len() && self.0[self.0.len() - ancestor.0.len()..] == ancestor.0[..]
    }

    /// This DN with its `old` ancestor (or itself) replaced by `new`.
    pub fn rebase(&self, old: &Dn, new: &Dn) -> Option<Dn> {
        if self == old {
            return Some(new.clone());
        }
        self.is_under(old).then(|| {
            let keep = self.0.len() - old.0.len();
            Dn(self.0[..keep].iter().chain(new.0.iter()).cloned().collect::<Vec<_>>().into())
        })
    }
}

/// RFC 4514 section 2.4 escaping of an attribute value.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}", rdn.attr, escape_value(&rdn.value))?;
        }
        Ok(())
    }
}

impl FromStr for Dn {
    type Err = String;

    /// Parses RFC 4514 strings, including `\XX` hex escapes of UTF-8 bytes. Multi-valued RDNs
    /// (`a=1+b=2`) and `#`-hex BER values are not used by orgid and are refused.
    fn from_str(s: &str) -> Result<Dn, String> {
        if s.trim().is_empty() {
            return Ok(Dn::default());
        }
        let bytes = s.as_bytes();
        let mut rdns = Vec::new();
        let mut i = 0;
        loop {
            // attribute type
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i] != b'=' {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(format!("`{s}`: an RDN has no `=`"));
            }
            let attr = s[start..i].trim();
            if attr.is_empty() || !attr.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                return Err(format!("`{s}`: `{attr}` is not an attribute type"));
            }
            i += 1;
            if bytes.get(i) == Some(&b'#') {
                return Err(format!("`{s}`: #-hex values are not supported"));
            }
            // value: collect raw bytes so that \XX sequences can form multi-byte UTF-8
            let mut value: Vec<u8> = Vec::new();
            let mut trailing_unescaped_spaces = 0usize;
            while i < bytes.len() && bytes[i] != b',' {
                match bytes[i] {
                    b'\\' => {
                        let next = *bytes.get(i + 1).ok_or_else(|| format!("`{s}`: ends with a lone `\\`"))?;
                        if next.is_ascii_hexdigit() {
                            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("`{s}`: bad hex escape"))?;
                            value.push(
                                u8::from_str_radix(hex, 16).map_err(|_| format!("`{s}`: bad hex escape `\\{hex}`"))?,
                            );
                            i += 3;
                        } else {
                            value.push(next);
                            i += 2;
                        }
                        trailing_unescaped_spaces = 0;
                    }
                    b'+' => return Err(format!("`{s}`: multi-valued RDNs are not supported")),
                    b => {
                        trailing_unescaped_spaces = if b == b' ' { trailing_unescaped_spaces + 1 } else { 0 };
                        value.push(b);
                        i += 1;
                    }
                }
            }
            value.truncate(value.len() - trailing_unescaped_spaces);
            let value = String::from_utf8(value).map_err(|_| format!("`{s}`: a value is not UTF-8"))?;
            rdns.push(Rdn::new(attr, &value));
            if i >= bytes.len() {
                break;
            }
            i += 1; // ','
        }
        Ok(Dn(rdns.into()))
    }
}

impl Serialize for Dn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Dn, D::Error> {
        struct DnVisitor;

        impl<'de> serde::de::Visitor<'de> for DnVisitor {
            type Value = Dn;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DN string (RFC 4514) or a list of {attr, value}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dn, E> {
                v.parse().map_err(E::custom)
            }

            /// The structured form of earlier versions (outbox items and held deltas written by them).
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dn, A::Error> {
                let mut rdns = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(rdn) = seq.next_element::<Rdn>()? {
                    rdns.push(rdn);
                }
                Ok(rdns.into())
            }
        }

        deserializer.deserialize_any(DnVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_plain_dns() {
        let dn: Dn = "uid=zhangsan,ou=财务部,OU=C010,dc=example,dc=com".parse().expect("dn");
        assert_eq!(dn.len(), 5);
        assert_eq!(dn.rdn(), Some(&Rdn::new("uid", "zhangsan")));
        assert_eq!(&*dn.0[2].attr, "ou", "types are lower-cased");
        assert_eq!(dn.to_string(), "uid=zhangsan,ou=财务部,ou=C010,dc=example,dc=com");
        assert_eq!(Dn::from_str("").expect("empty"), Dn::default());
    }

    #[test]
    fn hard_values_round_trip_exactly() {
        let base: Dn = "dc=example,dc=com".parse().expect("base");
        for value in [
            "Smith, John",
            "a+b",
            "say \"hi\"",
            "back\\slash",
            "#hash",
            "in#side",
            " leading",
            "trailing ",
            "  both  ",
            "<tag>;semi=eq",
            "财务部/一科",
            "*(wild)*",
            "ctl\u{1}char",
        ] {
            let dn = base.child("ou", value);
            let text = dn.to_string();
            let back: Dn = text.parse().unwrap_or_else(|e| panic!("{value:?} → {text}: {e}"));
            assert_eq!(back, dn, "{value:?} → {text}");
        }
        assert_eq!(escape_value(" a,b "), "\\ a\\,b\\ ");
        assert_eq!(escape_value("#x#"), "\\#x#");
    }

    #[test]
    fn parses_hex_escapes_as_utf8_and_what_servers_send() {
        let dn: Dn = "cn=\\E5\\BC\\A0\\20\\2C,dc=x".parse().expect("hex");
        assert_eq!(&*dn.0[0].value, "张 ,");
        let dn: Dn = "cn=a\\ ,dc=x".parse().expect("escaped trailing space");
        assert_eq!(&*dn.0[0].value, "a ");
        let dn: Dn = "cn=a  , dc=x".parse().expect("unescaped trailing spaces are not part of the value");
        assert_eq!(&*dn.0[0].value, "a");
        for bad in ["cn", "cn=a+sn=b,dc=x", "cn=#04024869", "cn=a\\", "=x", "cn=\\zz\\", "cn=\\ff,dc=x"] {
            assert!(bad.parse::<Dn>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn serialises_as_its_string_and_reads_the_structured_form_too() {
        let dn: Dn = "uid=a\\,b,ou=财务部,dc=example,dc=com".parse().expect("dn");
        let json = serde_json::to_string(&dn).expect("json");
        assert_eq!(json, r#""uid=a\\,b,ou=财务部,dc=example,dc=com""#);
        assert_eq!(serde_json::from_str::<Dn>(&json).expect("back"), dn);
        let legacy = r#"[{"attr":"uid","value":"a,b"},{"attr":"ou","value":"财务部"},{"attr":"dc","value":"example"},{"attr":"dc","value":"com"}]"#;
        assert_eq!(serde_json::from_str::<Dn>(legacy).expect("legacy"), dn);
        assert_eq!(serde_json::from_str::<Dn>(r#""""#).expect("empty"), Dn::default());
        assert!(serde_json::from_str::<Dn>(r#""cn=a+sn=b""#).is_err(), "a string that does not parse is an error");
        assert!(serde_json::from_str::<Dn>("7").is_err());
    }

    #[test]
    fn ancestry_and_rebase() {
        let base: Dn = "dc=example,dc=com".parse().expect("base");
        let c = base.child("ou", "C010");
        let u = c.child("ou", "财务部").child("uid", "a");
        assert!(u.is_under(&c) && u.is_under(&base) && !c.is_under(&u) && !c.is_under(&c));
        let moved = base.child("ou", "G000").child("ou", "C010");
        assert_eq!(
            u.rebase(&c, &moved).expect("rebased").to_string(),
            "uid=a,ou=财务部,ou=C010,ou=G000,dc=example,dc=com"
        );
        assert_eq!(c.rebase(&c, &moved), Some(moved.clone()));
        assert_eq!(base.rebase(&c, &moved), None);
        assert_eq!(u.parent().and_then(|p| p.parent()), Some(c));
    }
}
