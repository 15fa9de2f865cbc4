//! The console's layout: one server-rendered page with a top bar (title, navigation, the user,
//! sign-out form, language switch), inline CSS, no scripts. Every interpolated value is escaped.

use axum::response::Html;

use super::i18n::{Lang, T};

/// `s` as one path segment: every byte but RFC 3986's unreserved characters percent-encoded.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// HTML-escapes `s`.
pub fn esc(s: &str) -> String {
    orgid_directory::audit::text::html_escape(s)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;background:#f3f5f8;margin:0;color:#1f2937}\
header{background:#1e3a8a;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;align-items:center;gap:16px}\
header a{color:#fff;text-decoration:none}header .brand{font-weight:600;font-size:1.1rem}header nav{display:flex;gap:14px;flex:1;flex-wrap:wrap}\
header form{margin:0}header button{background:transparent;color:#fff;border:1px solid #93c5fd;border-radius:5px;padding:4px 10px;cursor:pointer}\
main{max-width:1100px;margin:24px auto;background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:24px}\
h1{font-size:1.3rem;margin:0 0 14px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:7px 8px;text-align:left;font-size:.93rem}\
label{display:block;margin:12px 0 4px}input,select,textarea{padding:7px 9px;border:1px solid #cbd5e1;border-radius:5px;font-size:.95rem}\
button.primary{background:#1d4ed8;color:#fff;border:0;border-radius:5px;padding:8px 16px;margin-top:12px}\
.err{background:#fef2f2;color:#991b1b;padding:9px 12px;border-radius:6px;margin:10px 0}.field-err{color:#b91c1c;font-size:.85rem}\
.note{background:#eff6ff;color:#1e3a8a;padding:9px 12px;border-radius:6px;margin:10px 0}dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px}dt{color:#6b7280}\
footer{text-align:center;margin:12px 0 24px;font-size:.85rem}footer a{color:#1d4ed8}";

/// Who is signed in, for the top bar.
pub struct Bar<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
    /// Navigation entries `(href, label)` this user may use.
    pub nav: Vec<(String, &'static str)>,
}

/// A whole page. `switch` is the same page's address in the other language.
pub fn layout(lang: Lang, title: &str, bar: Option<&Bar<'_>>, body: &str, switch: &str) -> Html<String> {
    let header = match bar {
        Some(b) => {
            let nav: String =
                b.nav.iter().map(|(href, label)| format!("<a href=\"{}\">{}</a>", esc(href), esc(label))).collect();
            format!(
                "<header><a class=\"brand\" href=\"{home}\">{brand}</a><nav>{nav}</nav><span class=\"user\">{name}</span>\
<form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" id=\"logout\">{logout}</button></form></header>",
                home = esc(&with_lang("/console/", lang)),
                brand = esc(T::Console.text(lang)),
                name = esc(b.name),
                csrf = esc(b.csrf),
                logout = esc(T::Logout.text(lang)),
            )
        }
        None => format!("<header><span class=\"brand\">{}</span></header>", esc(T::Console.text(lang))),
    };
    Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{} · {}</title><style>{STYLE}</style></head><body>{header}<main>{body}</main>\
<footer><a href=\"{}\">{}</a></footer></body></html>",
        lang.tag(),
        esc(title),
        esc(T::Console.text(lang)),
        esc(switch),
        esc(T::OtherLanguage.text(lang)),
    ))
}

/// `path` with `lang=en` added when the page is in English (Chinese is the default).
pub fn with_lang(path: &str, lang: Lang) -> String {
    match lang {
        Lang::Zh => path.to_string(),
        Lang::En => format!("{path}{}lang=en", if path.contains('?') { '&' } else { '?' }),
    }
}

/// The address of the same page in the other language.
pub fn switch_of(path: &str, lang: Lang) -> String {
    let other = match lang {
        Lang::Zh => "en",
        Lang::En => "zh",
    };
    format!("{path}{}lang={other}", if path.contains('?') { '&' } else { '?' })
}

/// An error page (no top bar: the user may not be signed in).
pub fn error(lang: Lang, message: &str) -> Html<String> {
    layout(
        lang,
        T::ErrorTitle.text(lang),
        None,
        &format!(
            "<h1>{}</h1><div class=\"err\" role=\"alert\">{}</div><p><a href=\"{}\">{}</a></p>",
            esc(T::ErrorTitle.text(lang)),
            esc(message),
            esc(&with_lang("/console/login", lang)),
            esc(T::SignInAgain.text(lang))
        ),
        &switch_of("/console/", lang),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_language_links_kept() {
        let bar = Bar { name: "<script>x</script>", csrf: "a\"b", nav: vec![("/console/?q=<".into(), "x")] };
        let html = layout(Lang::Zh, "t<", Some(&bar), "", "/console/?lang=en").0;
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&lt;script&gt;") && html.contains("a&quot;b"));
        assert!(html.contains("lang=\"zh-CN\""));
        assert_eq!(with_lang("/console/", Lang::En), "/console/?lang=en");
        assert_eq!(with_lang("/console/?a=1", Lang::En), "/console/?a=1&lang=en");
        assert_eq!(with_lang("/console/", Lang::Zh), "/console/");
        assert_eq!(switch_of("/console/", Lang::En), "/console/?lang=zh");
    }
}
