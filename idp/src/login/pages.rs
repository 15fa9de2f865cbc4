//! Server-rendered pages from the askama templates in `idp/templates/` (HTML-escaped by default;
//! `|safe` only for the stylesheet and the QR code's SVG, both made by orgid), their texts from
//! the catalogues (`locales/`), the one stylesheet inlined: no scripts, no external assets,
//! usable on a phone.

use askama::Template;
use axum::response::Html;

use crate::i18n::{Lang, Msg};

pub(crate) fn esc(s: &str) -> String {
    orgid_directory::audit::text::html_escape(s)
}

/// A rendered template; a template that fails to render (it cannot, but the type says it
/// might) is logged and answered with a bare page.
fn render(t: &impl Template) -> Html<String> {
    match t.render() {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            Html(String::from("<!doctype html><title>orgid</title>"))
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    lang: Lang,
    title: &'a str,
    switch: Option<&'a str>,
    text: &'a str,
    is_error: bool,
    detail: Option<&'a str>,
}

pub(crate) fn error(lang: Lang, message: &str, detail: Option<&str>) -> Html<String> {
    let title = Msg::ErrorTitle.text(lang);
    render(&MessagePage { lang, title, switch: None, text: message, is_error: true, detail })
}

pub(crate) fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value))
}

pub(crate) struct LoginPage<'a> {
    pub lang: Lang,
    pub client_name: &'a str,
    pub login: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    pub req: &'a str,
    pub switch: &'a str,
    /// The start of a sign-in with WeCom for this request (without `via`), when it is offered.
    pub wecom: Option<&'a str>,
}

impl LoginPage<'_> {
    fn title(&self) -> &'static str {
        Msg::LoginTitle.text(self.lang)
    }
}

pub(crate) fn login(p: &LoginPage<'_>) -> Html<String> {
    #[derive(Template)]
    #[template(path = "login.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        client_name: &'a str,
        login: &'a str,
        notice: Option<&'a str>,
        error: Option<&'a str>,
        csrf: &'a str,
        req: &'a str,
        wecom_qr: Option<String>,
        wecom_app: Option<String>,
    }
    render(&Page {
        lang: p.lang,
        title: p.title(),
        switch: Some(p.switch),
        client_name: p.client_name,
        login: p.login,
        notice: None,
        error: p.error,
        csrf: p.csrf,
        req: p.req,
        wecom_qr: p.wecom.map(|href| format!("{href}&via=qr")),
        wecom_app: p.wecom.map(|href| format!("{href}&via=app")),
    })
}

/// A page whose body was built by hand (already escaped where it holds values) in the shared
/// layout: the delegation pages, the logout page's frames, WeCom's password step.
pub(crate) fn layout(lang: Lang, title: &str, body: &str, switch: Option<&str>) -> Html<String> {
    #[derive(Template)]
    #[template(path = "raw.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        body: &'a str,
    }
    render(&Page { lang, title, switch, body })
}

pub(crate) fn alert(class: &str, message: Option<&str>) -> String {
    message.map(|m| format!("<div class=\"{class}\" role=\"alert\">{}</div>", esc(m))).unwrap_or_default()
}

/// The password step after a sign-in with WeCom, for a client that needs it (`step_up`): the
/// login is WeCom's, only the password is typed.
pub(crate) fn wecom_password(lang: Lang, login: &str, csrf: &str, pending: &str, error: Option<&str>) -> Html<String> {
    let l = lang;
    let body = format!(
        "<h1>{title}</h1><div class=\"note\">{note}</div>{err}<form method=\"post\" action=\"/login/wecom/password\">{csrf}{pending}{lang}\
<label for=\"login\">{login_l}</label><input type=\"text\" id=\"login\" value=\"{login}\" autocomplete=\"username\" readonly>\
<label for=\"password\">{pw_l}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus>\
<button type=\"submit\">{submit}</button></form>",
        title = esc(Msg::LoginTitle.text(l)),
        note = esc(Msg::WecomStepUp.text(l)),
        err = alert("err", error),
        csrf = hidden("csrf", csrf),
        pending = hidden("pending", pending),
        lang = hidden("lang", l.code()),
        login_l = esc(Msg::Login.text(l)),
        login = esc(login),
        pw_l = esc(Msg::Password.text(l)),
        submit = esc(Msg::SignIn.text(l)),
    );
    layout(l, Msg::LoginTitle.text(l), &body, None)
}

pub(crate) struct ChangePage<'a> {
    pub lang: Lang,
    pub reason: Msg,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub csrf: &'a str,
    /// The sealed pending login (forced change) — or empty for a voluntary change, which asks
    /// for the login and current password instead.
    pub pending: &'a str,
    pub rules: &'a [String],
}

pub(crate) fn change(p: &ChangePage<'_>) -> Html<String> {
    #[derive(Template)]
    #[template(path = "change.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        reason: Msg,
        notice: Option<&'a str>,
        error: Option<&'a str>,
        csrf: &'a str,
        pending: &'a str,
        rules: &'a [String],
    }
    render(&Page {
        lang: p.lang,
        title: Msg::ChangeTitle.text(p.lang),
        switch: None,
        reason: p.reason,
        notice: p.notice,
        error: p.error,
        csrf: p.csrf,
        pending: p.pending,
        rules: p.rules,
    })
}

pub(crate) fn otp(
    lang: Lang,
    csrf: &str,
    pending: &str,
    enrol_key: Option<(&str, &str)>,
    error: Option<&str>,
) -> Html<String> {
    #[derive(Template)]
    #[template(path = "otp.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        /// The key, its `otpauth://` address and the QR code (SVG) of that address.
        enrol: Option<(&'a str, &'a str, String)>,
        notice: Option<&'a str>,
        error: Option<&'a str>,
        csrf: &'a str,
        pending: &'a str,
    }
    let enrol = enrol_key.map(|(key, uri)| (key, uri, crate::totp::qr_svg(uri).unwrap_or_default()));
    render(&Page { lang, title: Msg::OtpTitle.text(lang), switch: None, enrol, notice: None, error, csrf, pending })
}

pub(crate) fn expiry_warning(lang: Lang, csrf: &str, pending: &str, days: i64) -> Html<String> {
    #[derive(Template)]
    #[template(path = "expiry.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        csrf: &'a str,
        pending: &'a str,
        days: i64,
    }
    render(&Page { lang, title: Msg::ChangeTitle.text(lang), switch: None, csrf, pending, days })
}

pub(crate) fn logout_confirm(lang: Lang, csrf: &str, carry: &str) -> Html<String> {
    #[derive(Template)]
    #[template(path = "logout_confirm.html")]
    struct Page<'a> {
        lang: Lang,
        title: &'a str,
        switch: Option<&'a str>,
        csrf: &'a str,
        carry: &'a str,
    }
    render(&Page { lang, title: Msg::LogoutConfirm.text(lang), switch: None, csrf, carry })
}

pub(crate) fn message(lang: Lang, title: Msg, text: Msg) -> Html<String> {
    let (title, text) = (title.text(lang), text.text(lang));
    render(&MessagePage { lang, title, switch: None, text, is_error: false, detail: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{PROVIDER, untranslated};

    /// The visible text of a page: tags, the stylesheet and the attributes left out.
    fn visible(html: &str) -> String {
        let html = match (html.find("<style>"), html.find("</style>")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &html[..a], &html[b..]),
            _ => html.to_string(),
        };
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push('\n');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let page = error(Lang::Zh, "<script>", Some("\"><img>"));
        assert!(!page.0.contains("<script>") && !page.0.contains("\"><img>"), "{}", page.0);
        assert!(page.0.contains("lang=\"zh-CN\""));
        let p = LoginPage {
            lang: Lang::Zh,
            client_name: "<b>OA</b>",
            login: "\"x",
            error: None,
            csrf: "c",
            req: "r",
            switch: "/authorize?lang=en&a=<",
            wecom: Some("/login/wecom?req=\"<"),
        };
        let html = login(&p).0;
        assert!(!html.contains("<b>OA") && !html.contains("value=\"\"x") && !html.contains("a=<"), "{html}");
    }

    /// Every page of the provider, in Chinese, shows nothing the zh-CN catalogue does not have
    /// (the data on it aside), and in English nothing Chinese but the language switch.
    #[test]
    fn every_page_speaks_its_catalogue() {
        let rules = vec!["至少 12 个字符".to_string()];
        for lang in [Lang::Zh, Lang::En] {
            let texts = || PROVIDER.of(lang).texts().chain(rules.iter().map(String::as_str));
            let data =
                ["账号管理控制台", "wangfang", "JBSWY3DPEHPK3PXP", "otpauth", "totp", "orgid", "secret", "issuer"];
            let login_page = LoginPage {
                lang,
                client_name: "账号管理控制台",
                login: "wangfang",
                error: Some(Msg::BadCredentials.text(lang)),
                csrf: "c",
                req: "r",
                switch: "/x",
                wecom: Some("/login/wecom?req=r"),
            };
            let pages = [
                login(&login_page).0,
                change(&ChangePage {
                    lang,
                    reason: Msg::ChangeInitial,
                    error: Some(Msg::Mismatch.text(lang)),
                    notice: Some(Msg::Changed.text(lang)),
                    csrf: "c",
                    pending: "",
                    rules: &rules,
                })
                .0,
                otp(
                    lang,
                    "c",
                    "p",
                    Some(("JBSWY3DPEHPK3PXP", "otpauth://totp/orgid?secret=JBSWY3DPEHPK3PXP&issuer=orgid")),
                    Some(Msg::OtpWrong.text(lang)),
                )
                .0,
                expiry_warning(lang, "c", "p", 5).0,
                logout_confirm(lang, "c", "k").0,
                message(lang, Msg::LoggedOutTitle, Msg::LoggedOut).0,
                error(lang, Msg::Unavailable.text(lang), None).0,
            ];
            for page in &pages {
                let missing = untranslated(&visible(page), texts(), &data);
                let missing: Vec<_> = missing.into_iter().filter(|w| lang == Lang::Zh || w != "中文").collect();
                assert_eq!(missing, Vec::<String>::new(), "{page}");
            }
        }
        // And the check bites: a text no catalogue has.
        let page = error(Lang::Zh, "required", None).0;
        assert_eq!(untranslated(&visible(&page), PROVIDER.of(Lang::Zh).texts(), &[]), vec!["required"]);
    }
}
