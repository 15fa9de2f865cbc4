//! What may enter an audit record's text, and how text leaves it for a report. Applied before a
//! record is hashed, so the chain covers the cleaned text: no control characters or line breaks
//! (a record is one line in every export), bounded lengths, no secret values and no ID numbers.

/// Longest kept text per field kind, in characters.
pub const MAX_SHORT: usize = 128;
/// User agents, reasons and detail values.
pub const MAX_LONG: usize = 1_000;

/// What replaces the value of a detail whose name says it is a secret.
pub const REDACTED: &str = "[redacted]";
/// What replaces an 18-character run that looks like a resident ID number.
pub const ID_REMOVED: &str = "[id number removed]";

/// Control characters (line breaks, tabs, escapes, bidi overrides) become spaces, runs of
/// whitespace one space, ID-number-like runs are removed, and the text is cut at `max` characters.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_control() || is_format_control(c) { ' ' } else { c };
        if c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    let out = mask_id_numbers(out.trim_end());
    match out.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out,
    }
}

/// Bidirectional overrides and zero-width characters can make a log line read differently from
/// what it holds.
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `None` for text that is empty once cleaned.
pub fn clean_opt(s: Option<&str>, max: usize) -> Option<String> {
    s.map(|s| clean(s, max)).filter(|s| !s.is_empty())
}

/// Whether a detail named `key` would carry a secret (its value is then never kept).
pub fn is_secret_name(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "credential", "private", "otp", "id_number", "idnumber", "身份证"]
        .iter()
        .any(|s| k.contains(s))
}

/// Replaces every run of 17 digits followed by a digit or X (a resident ID number's shape) with
/// `ID_REMOVED`. Longer digit runs are left alone: they are not ID numbers.
pub fn mask_id_numbers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let digits = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let boundary_before = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if boundary_before && digits >= 17 {
            let len = match chars.get(i + 17) {
                Some(c) if digits == 17 && matches!(c, 'X' | 'x') => 18,
                _ => digits,
            };
            let boundary_after = chars.get(i + len).is_none_or(|c| !c.is_ascii_alphanumeric());
            if len == 18 && boundary_after {
                out.push_str(ID_REMOVED);
                i += len;
                continue;
            }
            out.extend(&chars[i..i + digits]);
            i += digits;
            continue;
        }
        if digits > 0 {
            out.extend(&chars[i..i + digits]);
            i += digits;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_breaks_never_survive() {
        assert_eq!(clean("bob\r\n2024-01-01 login success admin", 200), "bob 2024-01-01 login success admin");
        assert_eq!(clean("a\tb\u{1b}[31mc\u{0}", 200), "a b [31mc");
        assert_eq!(clean("evil\u{202E}gnp.exe", 200), "evil gnp.exe");
        assert_eq!(clean("  lead  ", 200), "lead");
        assert_eq!(clean_opt(Some(" \n "), 10), None);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(clean("张三李四王五", 4), "张三李四…");
        assert_eq!(clean("abc", 3), "abc");
    }

    #[test]
    fn id_numbers_are_removed_but_other_numbers_stay() {
        assert_eq!(mask_id_numbers("id 11010519491231002X ok"), format!("id {ID_REMOVED} ok"));
        assert_eq!(mask_id_numbers("110105194912310021"), ID_REMOVED);
        assert_eq!(mask_id_numbers("mobile 13800000000"), "mobile 13800000000");
        assert_eq!(mask_id_numbers("run 1234567890123456789012"), "run 1234567890123456789012", "22 digits");
        assert_eq!(mask_id_numbers("E110105194912310021"), "E110105194912310021", "part of a word");
        assert_eq!(clean("x 110105194912310021\n", 200), format!("x {ID_REMOVED}"));
    }

    #[test]
    fn secret_names_are_recognised() {
        for k in ["password", "new_password", "access_token", "client_secret", "id_number", "TOTP"] {
            assert!(is_secret_name(k), "{k}");
        }
        for k in ["grant", "client", "scope", "department"] {
            assert!(!is_secret_name(k), "{k}");
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
