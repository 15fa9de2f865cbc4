//! Server-rendered pages: one small layout, inline CSS, no scripts, no external assets, usable on
//! a phone. Every interpolated value is HTML-escaped.

use axum::response::Html;

use crate::i18n::{Lang, Msg};

pub(crate) fn esc(s: &str) -> String {
    orgid_directory::audit::text::html_escape(s)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;background:#f3f5f8;margin:0;color:#1f2937}\
main{max-width:380px;margin:8vh auto;background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:28px 26px}\
h1{font-size:1.35rem;margin:0 0 6px}p.sub{color:#6b7280;margin:0 0 18px}label{display:block;margin:14px 0 6px;font-size:.95rem}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:11px 12px;font-size:1rem;border:1px solid #cbd5e1;border-radius:6px}\
button{margin-top:20px;width:100%;padding:12px;font-size:1rem;border:0;border-radius:6px;background:#1d4ed8;color:#fff}\
button.alt{background:#e5e7eb;color:#111827}.err{background:#fef2f2;color:#991b1b;padding:10px 12px;border-radius:6px;margin:12px 0}\
.note{background:#eff6ff;color:#1e3a8a;padding:10px 12px;border-radius:6px;margin:12px 0}code{word-break:break-all;font-size:1.05rem}.qr{text-align:center;margin:12px 0}.qr svg{width:200px;height:200px;max-width:100%}\
ul{padding-left:20px;color:#4b5563;font-size:.9rem}footer{text-align:center;margin-top:18px;font-size:.85rem}a{color:#1d4ed8}\
@media (max-width:480px){main{margin:0;border-radius:0;min-height:100vh;box-shadow:none}}";

pub(crate) fn layout(lang: Lang, title: &str, body: &str, switch: Option<&str>) -> Html<String> {
    let footer = switch
        .map(|href| format!("<footer><a href=\"{}\">{}</a></footer>", esc(href), Msg::OtherLanguage.text(lang)))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main>{footer}</body></html>",
        lang.tag(),
        esc(title)
    ))
}

pub(crate) fn error(lang: Lang, message: &str, detail: Option<&str>) -> Html<String> {
    let detail = detail.map(|d| format!("<p class=\"sub\">{}</p>", esc(d))).unwrap_or_default();
    layout(
        lang,
        Msg::ErrorTitle.text(lang),
        &format!("<h1>{}</h1><div class=\"err\">{}</div>{detail}", esc(Msg::ErrorTitle.text(lang)), esc(message)),
        None,
    )
}

pub(crate) fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value))
}

pub(crate) fn alert(class: &str, message: Option<&str>) -> String {
    message.map(|m| format!("<div class=\"{class}\" role=\"alert\">{}</div>", esc(m))).unwrap_or_default()
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

pub(crate) fn login(p: &LoginPage<'_>) -> Html<String> {
    let l = p.lang;
    let body = format!(
        "<h1>{title}</h1><p class=\"sub\">{to}{sep}{client}</p>{err}<form method=\"post\" action=\"/login\">{csrf}{req}{lang}\
<label for=\"login\">{login_l}</label><input type=\"text\" id=\"login\" name=\"login\" value=\"{login}\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
<label for=\"password\">{pw_l}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">{submit}</button></form>{wecom}",
        wecom = p.wecom.map(|href| wecom_links(l, href)).unwrap_or_default(),
        title = esc(Msg::LoginTitle.text(l)),
        to = esc(Msg::LoginTo.text(l)),
        // No space between Chinese words: 登录到账号管理控制台.
        sep = if l == Lang::Zh { "" } else { " " },
        client = esc(p.client_name),
        err = alert("err", p.error),
        csrf = hidden("csrf", p.csrf),
        req = hidden("req", p.req),
        lang = hidden("lang", l.code()),
        login_l = esc(Msg::Login.text(l)),
        login = esc(p.login),
        pw_l = esc(Msg::Password.text(l)),
        submit = esc(Msg::SignIn.text(l)),
    );
    layout(l, Msg::LoginTitle.text(l), &body, Some(p.switch))
}

/// The links that start a sign-in with WeCom: by a QR code (web login), or inside the app.
fn wecom_links(l: Lang, href: &str) -> String {
    format!(
        "<p class=\"sub\" style=\"margin-top:18px;text-align:center\"><a id=\"wecom-qr\" href=\"{qr}\">{scan}</a> · \
<a id=\"wecom-app\" href=\"{app}\">{inapp}</a></p>",
        qr = esc(&format!("{href}&via=qr")),
        app = esc(&format!("{href}&via=app")),
        scan = esc(Msg::WecomScan.text(l)),
        inapp = esc(Msg::WecomInApp.text(l)),
    )
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
    let l = p.lang;
    let current = if p.pending.is_empty() {
        format!(
            "<label for=\"login\">{}</label><input type=\"text\" id=\"login\" name=\"login\" autocomplete=\"username\" required>\
<label for=\"current\">{}</label><input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required>",
            esc(Msg::Login.text(l)),
            esc(Msg::CurrentPassword.text(l))
        )
    } else {
        hidden("pending", p.pending)
    };
    let rules: String = p.rules.iter().map(|r| format!("<li>{}</li>", esc(r))).collect();
    let body = format!(
        "<h1>{title}</h1><p class=\"sub\">{reason}</p>{notice}{err}<form method=\"post\" action=\"/password\">{csrf}{lang}{current}\
<label for=\"new\">{new_l}</label><input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" required>\
<label for=\"repeat\">{rep_l}</label><input type=\"password\" id=\"repeat\" name=\"repeat\" autocomplete=\"new-password\" required>\
<p class=\"sub\" style=\"margin-top:14px\">{hint}</p><ul>{rules}</ul><button type=\"submit\">{submit}</button></form>",
        title = esc(Msg::ChangeTitle.text(l)),
        reason = esc(p.reason.text(l)),
        notice = alert("note", p.notice),
        err = alert("err", p.error),
        csrf = hidden("csrf", p.csrf),
        lang = hidden("lang", l.code()),
        new_l = esc(Msg::NewPassword.text(l)),
        rep_l = esc(Msg::RepeatPassword.text(l)),
        hint = esc(Msg::PolicyHint.text(l)),
        submit = esc(Msg::ChangeSubmit.text(l)),
    );
    layout(l, Msg::ChangeTitle.text(l), &body, None)
}

pub(crate) fn otp(
    lang: Lang,
    csrf: &str,
    pending: &str,
    enrol_key: Option<(&str, &str)>,
    error: Option<&str>,
) -> Html<String> {
    let l = lang;
    let enrol = enrol_key
        .map(|(key, uri)| {
            // The QR code beside the key: scanned, or the key typed in.
            let qr = crate::totp::qr_svg(uri).unwrap_or_default();
            format!(
                "<div class=\"note\">{}</div><div class=\"qr\" id=\"totp-qr\" role=\"img\" aria-label=\"{}\">{qr}</div>\
<p>{}: <code>{}</code></p><p class=\"sub\"><code>{}</code></p>",
                esc(Msg::OtpEnrol.text(l)),
                esc(Msg::OtpQr.text(l)),
                esc(Msg::OtpKey.text(l)),
                esc(key),
                esc(uri)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1>{enrol}{err}<form method=\"post\" action=\"/login/otp\">{csrf}{pending}{lang}\
<label for=\"code\">{code_l}</label><input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" required autofocus>\
<button type=\"submit\">{submit}</button></form>",
        title = esc(Msg::OtpTitle.text(l)),
        err = alert("err", error),
        csrf = hidden("csrf", csrf),
        pending = hidden("pending", pending),
        lang = hidden("lang", l.code()),
        code_l = esc(Msg::OtpCode.text(l)),
        submit = esc(Msg::Verify.text(l)),
    );
    layout(l, Msg::OtpTitle.text(l), &body, None)
}

pub(crate) fn expiry_warning(lang: Lang, csrf: &str, pending: &str, days: i64) -> Html<String> {
    let l = lang;
    let body = format!(
        "<h1>{title}</h1><div class=\"note\">{msg} {days}</div>\
<form method=\"post\" action=\"/login/continue\">{csrf}{pending}{lang}<button type=\"submit\" name=\"choice\" value=\"change\">{now}</button>\
<button type=\"submit\" class=\"alt\" name=\"choice\" value=\"continue\">{later}</button></form>",
        title = esc(Msg::ChangeTitle.text(l)),
        msg = esc(Msg::ExpiresSoon.text(l)),
        csrf = hidden("csrf", csrf),
        pending = hidden("pending", pending),
        lang = hidden("lang", l.code()),
        now = esc(Msg::ChangeNow.text(l)),
        later = esc(Msg::Continue.text(l)),
    );
    layout(l, Msg::ChangeTitle.text(l), &body, None)
}

pub(crate) fn logout_confirm(lang: Lang, csrf: &str, carry: &str) -> Html<String> {
    let l = lang;
    let body = format!(
        "<h1>{title}</h1><form method=\"post\" action=\"/logout/confirm\">{csrf}{carry}{lang}<button type=\"submit\">{btn}</button></form>",
        title = esc(Msg::LogoutConfirm.text(l)),
        csrf = hidden("csrf", csrf),
        carry = hidden("carry", carry),
        lang = hidden("lang", l.code()),
        btn = esc(Msg::LogoutButton.text(l)),
    );
    layout(l, Msg::LogoutConfirm.text(l), &body, None)
}

pub(crate) fn message(lang: Lang, title: Msg, text: Msg) -> Html<String> {
    layout(lang, title.text(lang), &format!("<h1>{}</h1><p>{}</p>", esc(title.text(lang)), esc(text.text(lang))), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let page = error(Lang::Zh, "<script>", Some("\"><img>"));
        assert!(!page.0.contains("<script>") && !page.0.contains("\"><img>"));
        assert!(page.0.contains("lang=\"zh-CN\""));
    }
}
