//! Message catalogues: one TOML file per language (`key = "text"`, tables giving `table.key`),
//! compiled into the binary, zh-CN first and complete, English complete. [`messages!`] makes the
//! enum of a surface's fixed texts; [`untranslated`] is the check the tests run over rendered
//! pages: what a page shows that no catalogue (nor the data on it) accounts for.

use std::collections::BTreeMap;

use crate::i18n::Lang;

/// One language's texts, by key.
#[derive(Debug, Default, Clone)]
pub struct Catalogue {
    texts: BTreeMap<String, String>,
}

impl Catalogue {
    /// Reads a catalogue file: string values, nested tables flattened to `table.key`.
    pub fn parse(source: &str) -> Result<Catalogue, String> {
        let table: toml::Table = source.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let mut texts = BTreeMap::new();
        flatten("", &table, &mut texts)?;
        Ok(Catalogue { texts })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.texts.values().map(String::as_str)
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("{key}: a text must be a string")),
        }
    }
    Ok(())
}

/// A surface's catalogues, Chinese and English.
#[derive(Debug, Default)]
pub struct Catalogues {
    name: &'static str,
    zh: Catalogue,
    en: Catalogue,
}

impl Catalogues {
    /// Both catalogues of `name`; a file that does not parse is logged and left empty (every
    /// text then shows its key, which the catalogue tests catch long before a release).
    pub fn load(name: &'static str, zh: &str, en: &str) -> Catalogues {
        let read = |lang: &str, src: &str| {
            Catalogue::parse(src).unwrap_or_else(|e| {
                tracing::error!(catalogue = name, lang, error = %e, "message catalogue does not parse");
                Catalogue::default()
            })
        };
        Catalogues { name, zh: read("zh-CN", zh), en: read("en", en) }
    }

    pub fn of(&self, lang: Lang) -> &Catalogue {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    /// The text of `key` in `lang`, if the catalogue has it.
    pub fn lookup(&self, lang: Lang, key: &str) -> Option<&str> {
        self.of(lang).get(key)
    }

    /// The text of `key` in `lang`; the key itself when missing (and the tests fail).
    pub fn text<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        self.lookup(lang, key).unwrap_or(key)
    }

    pub fn has(&self, lang: Lang, key: &str) -> bool {
        self.of(lang).get(key).is_some()
    }

    /// How many keys the Chinese catalogue has.
    pub fn len(&self) -> usize {
        self.zh.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zh.texts.is_empty()
    }

    /// What is wrong with the pair: keys in one and not the other, empty texts, placeholders
    /// that differ between the languages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.zh.texts.is_empty() {
            out.push(format!("{}: the zh-CN catalogue is empty or does not parse", self.name));
        }
        for (k, zh) in &self.zh.texts {
            match self.en.get(k) {
                None => out.push(format!("{}: `{k}` has no English text", self.name)),
                Some(en) if placeholders(en) != placeholders(zh) => {
                    out.push(format!("{}: `{k}` has other placeholders in English", self.name))
                }
                Some(_) => {}
            }
            if zh.trim().is_empty() {
                out.push(format!("{}: `{k}` is empty in zh-CN", self.name));
            }
        }
        for k in self.en.texts.keys().filter(|k| !self.zh.texts.contains_key(*k)) {
            out.push(format!("{}: `{k}` is only in English", self.name));
        }
        out
    }
}

/// The `{name}` placeholders of a text, sorted.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(n, _)| n)).collect();
    out.sort_unstable();
    out
}

/// `text` with each `{name}` replaced by its value.
pub fn fill(text: &str, args: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The enum of one surface's fixed texts: `Name in CATALOGUES { Variant, … }`. Each variant's key
/// is its name; `text(lang)` reads it from the catalogues.
#[macro_export]
macro_rules! messages {
    ($(#[$meta:meta])* $name:ident in $cat:path { $($v:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($v),* }

        impl $name {
            /// Every text, for the catalogue tests.
            pub const ALL: &'static [$name] = &[$($name::$v),*];

            /// The catalogue key: the variant's name.
            pub fn key(self) -> &'static str {
                match self { $($name::$v => stringify!($v)),* }
            }

            /// The text in `lang`.
            pub fn text(self, lang: impl Into<$crate::i18n::Lang>) -> &'static str {
                let lang = lang.into();
                let cat: &'static $crate::i18n::Catalogues = &$cat;
                cat.text(lang, self.key())
            }
        }
    };
}

/// The pieces of `text` that a page shows of it: the text split at its placeholders.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push(rest);
    out.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// What of a page's visible `text` neither a catalogue text in `texts` nor a data value in
/// `data` (names, logins, codes, department names the page is about) accounts for: every run of
/// Chinese characters, and every word of two or more Latin letters, that remains once those are
/// taken out. Empty when the page is fully from the catalogue.
pub fn untranslated<'a>(text: &str, texts: impl IntoIterator<Item = &'a str>, data: &[&str]) -> Vec<String> {
    let mut known: Vec<&str> = texts.into_iter().flat_map(pieces).collect();
    known.extend(data.iter().map(|d| d.trim()).filter(|d| !d.is_empty()));
    // Longest first, so a long text is not cut into pieces by the short words inside it.
    known.sort_by_key(|k| std::cmp::Reverse(k.chars().count()));
    known.dedup();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut rest = line.to_string();
        for k in &known {
            if rest.contains(k) {
                rest = rest.replace(k, "\u{1}");
            }
        }
        let mut word = String::new();
        let mut flush = |word: &mut String| {
            let latin = word.chars().all(|c| c.is_ascii_alphabetic());
            if (!latin || word.len() >= 2) && !word.is_empty() && !out.contains(word) {
                out.push(word.clone());
            }
            word.clear();
        };
        for c in rest.chars() {
            let cjk = ('\u{3400}'..='\u{9fff}').contains(&c) || ('\u{f900}'..='\u{faff}').contains(&c);
            let same_kind = word.chars().next().is_none_or(|w| w.is_ascii_alphabetic() == c.is_ascii_alphabetic());
            if (c.is_ascii_alphabetic() || cjk) && same_kind {
                word.push(c);
            } else {
                flush(&mut word);
                if c.is_ascii_alphabetic() || cjk {
                    word.push(c);
                }
            }
        }
        flush(&mut word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tables_flatten_and_placeholders_fill() {
        let c = Catalogue::parse("A = \"甲\"\n[word]\npending = \"待审批\"\n").unwrap();
        assert_eq!(c.get("A"), Some("甲"));
        assert_eq!(c.get("word.pending"), Some("待审批"));
        assert!(Catalogue::parse("A = 1").is_err());
        assert_eq!(fill("请在 {minutes} 分钟后再试", &[("minutes", "5")]), "请在 5 分钟后再试");
    }

    #[test]
    fn the_pair_must_match() {
        let c = Catalogues::load("t", "A = \"甲{n}\"\nB = \"乙\"\n", "A = \"A{m}\"\nC = \"C\"\n");
        let p = c.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(c.text(Lang::Zh, "Z"), "Z");
    }

    #[test]
    fn untranslated_finds_what_no_catalogue_says() {
        let texts = ["您好，{name}", "人员与账号", "退出登录", "English"];
        let page = "人员与账号 退出登录\n您好，王芳\nEnglish\n2026-12-05 10:00";
        assert_eq!(untranslated(page, texts, &["王芳"]), Vec::<String>::new());
        let page = "人员与账号\nrequired 待确认 pending_approval\nQ99";
        assert_eq!(untranslated(page, texts, &[]), vec!["required", "待确认", "pending", "approval"]);
        // A name not given as data is flagged too: the check knows what the page is about.
        assert_eq!(untranslated("您好，王芳", texts, &[]), vec!["王芳"]);
        // A single letter (a grade's, a unit) is not a word.
        assert_eq!(untranslated("M 11", texts, &[]), Vec::<String>::new());
    }
}
