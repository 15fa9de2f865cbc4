//! The console's layout, from the askama templates in `daemon/templates/console/` (escaped by
//! default): a top bar (title, the user, sign-out, a menu that folds away on a phone without a
//! script), the one stylesheet of orgid's pages inlined, the language switch. Bodies that
//! handlers still build as text escape every value with [`esc`].

use askama::Template;
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

/// Who is signed in, for the top bar.
pub struct Bar<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
    /// Navigation entries `(href, label, whether it is this page)` this user may use.
    pub nav: Vec<(String, &'static str, bool)>,
}

/// The layout around a body built by a handler (escaped there, with [`esc`]).
#[derive(Template)]
#[template(path = "console/base.html")]
struct Layout<'a> {
    lang: Lang,
    title: &'a str,
    bar: Option<&'a Bar<'a>>,
    home: String,
    switch: &'a str,
    body: &'a str,
}

/// A rendered template; one that fails (it cannot, but the type says it might) is logged and
/// answered with a bare page.
pub fn render(t: &impl Template) -> Html<String> {
    match t.render() {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            Html(String::from("<!doctype html><title>orgid</title>"))
        }
    }
}

/// A whole page. `switch` is the same page's address in the other language.
pub fn layout(lang: Lang, title: &str, bar: Option<&Bar<'_>>, body: &str, switch: &str) -> Html<String> {
    render(&Layout { lang, title, bar, home: with_lang("/console/", lang), switch, body })
}

/// A page of one message: an error (`role=alert`, `id=error`) or a notice, and a link.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message<'a> {
    pub lang: Lang,
    pub title: &'a str,
    pub bar: Option<&'a Bar<'a>>,
    pub home: String,
    pub switch: String,
    pub is_error: bool,
    pub text: &'a str,
    /// `(href, label, id)`.
    pub link: Option<(String, &'a str, &'a str)>,
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
    render(&Message {
        lang,
        title: T::ErrorTitle.text(lang),
        bar: None,
        home: with_lang("/console/", lang),
        switch: switch_of("/console/", lang),
        is_error: true,
        text: message,
        link: Some((with_lang("/console/login", lang), T::SignInAgain.text(lang), "signin")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_language_links_kept() {
        let bar = Bar { name: "<script>x</script>", csrf: "a\"b", nav: vec![("/console/?q=<".into(), "x", false)] };
        let html = layout(Lang::Zh, "t<", Some(&bar), "", "/console/?lang=en").0;
        assert!(!html.contains("<script>x"), "{html}");
        // askama writes `&#60;` and `&#34;`.
        assert!(html.contains("&#60;script&#62;x") && html.contains("a&#34;b") && !html.contains("a\"b"), "{html}");
        assert!(html.contains("lang=\"zh-CN\""));
        assert_eq!(with_lang("/console/", Lang::En), "/console/?lang=en");
        assert_eq!(with_lang("/console/?a=1", Lang::En), "/console/?a=1&lang=en");
        assert_eq!(with_lang("/console/", Lang::Zh), "/console/");
        assert_eq!(switch_of("/console/", Lang::En), "/console/?lang=zh");
    }
}
