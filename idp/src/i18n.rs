//! The pages' text: zh-CN first, English when asked for (`ui_locales`, `?lang=en`, or an
//! `Accept-Language` that prefers English).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// From an explicit choice (`ui_locales` or `lang`), else from `Accept-Language`.
    pub fn pick(explicit: Option<&str>, accept_language: Option<&str>) -> Lang {
        let first_of = |s: &str| {
            s.split([' ', ','])
                .map(|t| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
                .find(|t| !t.is_empty() && t != "*")
        };
        let choice = explicit.and_then(first_of).or_else(|| accept_language.and_then(first_of));
        match choice {
            Some(t) if t.starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// Every fixed text of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    LoginTitle,
    LoginTo,
    Login,
    Password,
    SignIn,
    BadCredentials,
    ChangeTitle,
    ChangeInitial,
    ChangeExpired,
    ChangeVoluntary,
    CurrentPassword,
    NewPassword,
    RepeatPassword,
    ChangeSubmit,
    Mismatch,
    CurrentWrong,
    PasswordContainsLogin,
    PasswordUnchanged,
    PolicyHint,
    ExpiresSoon,
    ChangeNow,
    Continue,
    OtpTitle,
    OtpCode,
    OtpWrong,
    OtpEnrol,
    OtpKey,
    OtpQr,
    Verify,
    ErrorTitle,
    UnknownClient,
    UnknownService,
    BadRedirect,
    BadRequest,
    SessionExpired,
    LoggedOutTitle,
    LoggedOut,
    LogoutConfirm,
    LogoutButton,
    Changed,
    Unavailable,
    Throttled,
    Minutes,
    Busy,
    OtherLanguage,
    WecomScan,
    WecomInApp,
    WecomNoAccount,
    WecomDisabled,
    WecomInvalid,
    WecomStepUp,
    WecomUnavailable,
}

impl Msg {
    pub fn text(self, lang: Lang) -> &'static str {
        use Msg::*;
        match (self, lang) {
            (LoginTitle, Lang::Zh) => "统一身份认证",
            (LoginTitle, Lang::En) => "Single sign-on",
            (LoginTo, Lang::Zh) => "登录到",
            (LoginTo, Lang::En) => "Sign in to",
            (Login, Lang::Zh) => "账号",
            (Login, Lang::En) => "Login",
            (Password, Lang::Zh) => "密码",
            (Password, Lang::En) => "Password",
            (SignIn, Lang::Zh) => "登录",
            (SignIn, Lang::En) => "Sign in",
            (BadCredentials, Lang::Zh) => "账号或密码错误，或账号不可用。连续失败多次后账号将被暂时锁定。",
            (BadCredentials, Lang::En) => {
                "Wrong login or password, or the account cannot sign in. Repeated failures lock the account for a while."
            }
            (ChangeTitle, Lang::Zh) => "修改密码",
            (ChangeTitle, Lang::En) => "Change password",
            (ChangeInitial, Lang::Zh) => "这是初始密码，请先设置您自己的密码。",
            (ChangeInitial, Lang::En) => "This is an initial password: please set your own first.",
            (ChangeExpired, Lang::Zh) => "您的密码已过期，请设置新密码。",
            (ChangeExpired, Lang::En) => "Your password has expired: please set a new one.",
            (ChangeVoluntary, Lang::Zh) => "请输入当前密码和新密码。",
            (ChangeVoluntary, Lang::En) => "Enter your current password and a new one.",
            (CurrentPassword, Lang::Zh) => "当前密码",
            (CurrentPassword, Lang::En) => "Current password",
            (NewPassword, Lang::Zh) => "新密码",
            (NewPassword, Lang::En) => "New password",
            (RepeatPassword, Lang::Zh) => "再次输入新密码",
            (RepeatPassword, Lang::En) => "Repeat the new password",
            (ChangeSubmit, Lang::Zh) => "修改密码",
            (ChangeSubmit, Lang::En) => "Change password",
            (Mismatch, Lang::Zh) => "两次输入的新密码不一致。",
            (Mismatch, Lang::En) => "The two new passwords differ.",
            (CurrentWrong, Lang::Zh) => "当前密码不正确。",
            (CurrentWrong, Lang::En) => "The current password is wrong.",
            (PasswordContainsLogin, Lang::Zh) => "密码不能包含账号。",
            (PasswordContainsLogin, Lang::En) => "The password must not contain the login.",
            (PasswordUnchanged, Lang::Zh) => "新密码不能与当前密码相同。",
            (PasswordUnchanged, Lang::En) => "The new password must differ from the current one.",
            (PolicyHint, Lang::Zh) => "密码要求：",
            (PolicyHint, Lang::En) => "Password rules:",
            (ExpiresSoon, Lang::Zh) => "您的密码即将过期，剩余天数：",
            (ExpiresSoon, Lang::En) => "Your password expires soon. Days left:",
            (ChangeNow, Lang::Zh) => "现在修改",
            (ChangeNow, Lang::En) => "Change it now",
            (Continue, Lang::Zh) => "稍后再说",
            (Continue, Lang::En) => "Later",
            (OtpTitle, Lang::Zh) => "二次验证",
            (OtpTitle, Lang::En) => "Second factor",
            (OtpCode, Lang::Zh) => "验证器应用中的 6 位动态码",
            (OtpCode, Lang::En) => "6-digit code from your authenticator app",
            (OtpWrong, Lang::Zh) => "动态码不正确。",
            (OtpWrong, Lang::En) => "Wrong code.",
            (OtpEnrol, Lang::Zh) => {
                "此登录需要二次验证。请用验证器应用（如 FreeOTP、Google Authenticator）扫描二维码或添加以下密钥，然后输入动态码。"
            }
            (OtpEnrol, Lang::En) => {
                "This sign-in needs a second factor. Scan the QR code with an authenticator app (FreeOTP, Google Authenticator…) or add this key, then enter its code."
            }
            (OtpKey, Lang::Zh) => "密钥",
            (OtpKey, Lang::En) => "Key",
            (OtpQr, Lang::Zh) => "用身份验证器扫描此二维码",
            (OtpQr, Lang::En) => "Scan this QR code with the authenticator",
            (Verify, Lang::Zh) => "验证",
            (Verify, Lang::En) => "Verify",
            (ErrorTitle, Lang::Zh) => "无法登录",
            (ErrorTitle, Lang::En) => "Cannot sign in",
            (UnknownClient, Lang::Zh) => "未知的应用（client_id）。请从应用的登录入口重新进入。",
            (UnknownClient, Lang::En) => "Unknown application (client_id). Start again from the application.",
            (UnknownService, Lang::Zh) => "该服务地址（service）未登记，无法登录。请联系应用管理员。",
            (UnknownService, Lang::En) => {
                "This service URL is not registered: signing in to it is refused. Contact its administrator."
            }
            (BadRedirect, Lang::Zh) => "回调地址（redirect_uri）未登记。请联系应用管理员。",
            (BadRedirect, Lang::En) => {
                "The redirect_uri is not registered for this application. Contact its administrator."
            }
            (BadRequest, Lang::Zh) => "请求无效：",
            (BadRequest, Lang::En) => "Invalid request:",
            (SessionExpired, Lang::Zh) => "页面已过期，请重新登录。",
            (SessionExpired, Lang::En) => "This page has expired. Please sign in again.",
            (LoggedOutTitle, Lang::Zh) => "已退出",
            (LoggedOutTitle, Lang::En) => "Signed out",
            (LoggedOut, Lang::Zh) => "您已退出所有应用。",
            (LoggedOut, Lang::En) => "You are signed out of every application.",
            (LogoutConfirm, Lang::Zh) => "确定要退出登录吗？",
            (LogoutConfirm, Lang::En) => "Sign out?",
            (LogoutButton, Lang::Zh) => "退出",
            (LogoutButton, Lang::En) => "Sign out",
            (Changed, Lang::Zh) => "密码已修改。",
            (Changed, Lang::En) => "Your password has been changed.",
            (Unavailable, Lang::Zh) => "服务暂时不可用，请稍后再试。",
            (Unavailable, Lang::En) => "The service is unavailable. Please try again later.",
            (Throttled, Lang::Zh) => "登录失败次数过多，请在",
            (Throttled, Lang::En) => "Too many failed sign-ins. Try again in",
            (Minutes, Lang::Zh) => "分钟后再试。",
            (Minutes, Lang::En) => "minute(s).",
            (Busy, Lang::Zh) => "当前登录人数过多，请几秒后再试。",
            (Busy, Lang::En) => "Too many sign-ins at this moment. Please try again in a few seconds.",
            (OtherLanguage, Lang::Zh) => "English",
            (OtherLanguage, Lang::En) => "中文",
            (WecomScan, Lang::Zh) => "企业微信扫码登录",
            (WecomScan, Lang::En) => "Sign in by scanning with WeCom",
            (WecomInApp, Lang::Zh) => "在企业微信中登录",
            (WecomInApp, Lang::En) => "Sign in inside WeCom",
            (WecomNoAccount, Lang::Zh) => {
                "您的企业微信账号在统一身份认证中没有可用的账号，无法登录。如您认为这是错误，请联系本单位的信息化管理员。"
            }
            (WecomNoAccount, Lang::En) => {
                "Your WeCom account has no active account in single sign-on: signing in is refused. If this is wrong, contact your company's IT administrator."
            }
            (WecomDisabled, Lang::Zh) => "您的账号已停用，无法登录。如有疑问，请联系本单位的信息化管理员。",
            (WecomDisabled, Lang::En) => {
                "Your account is disabled: signing in is refused. Contact your company's IT administrator."
            }
            (WecomInvalid, Lang::Zh) => "企业微信登录已失效或已使用，请返回应用重新登录。",
            (WecomInvalid, Lang::En) => {
                "This WeCom sign-in has expired or was already used. Go back to the application and sign in again."
            }
            (WecomStepUp, Lang::Zh) => "企业微信已确认您的身份。此应用还需要您输入密码。",
            (WecomStepUp, Lang::En) => "WeCom has confirmed who you are. This application also needs your password.",
            (WecomUnavailable, Lang::Zh) => "暂时无法连接企业微信，请稍后再试，或使用账号密码登录。",
            (WecomUnavailable, Lang::En) => {
                "WeCom cannot be reached at the moment. Try again later, or sign in with your password."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_unless_english_is_asked_for() {
        assert_eq!(Lang::pick(None, None), Lang::Zh);
        assert_eq!(Lang::pick(None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::pick(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::pick(Some("en zh-CN"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::pick(Some("zh-CN"), Some("en")), Lang::Zh);
        assert_eq!(Lang::pick(Some(""), Some("en")), Lang::En);
    }
}
