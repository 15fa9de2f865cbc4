//! The console's text: zh-CN by default, English with `?lang=en` or an `Accept-Language` that
//! prefers English (the same choice as the login pages, [`orgid_idp::i18n::Lang`]).

pub use orgid_idp::i18n::Lang;

/// Every fixed text of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    Console,
    Home,
    Hello,
    SignedInAs,
    Company,
    Logout,
    SignedOutTitle,
    SignedOut,
    SignInAgain,
    ErrorTitle,
    LoginFailed,
    LoginExpired,
    Unavailable,
    BadRequest,
    OtherLanguage,
}

impl T {
    pub fn text(self, lang: Lang) -> &'static str {
        use T::*;
        match (self, lang) {
            (Console, Lang::Zh) => "账号管理控制台",
            (Console, Lang::En) => "Account console",
            (Home, Lang::Zh) => "首页",
            (Home, Lang::En) => "Home",
            (Hello, Lang::Zh) => "您好，",
            (Hello, Lang::En) => "Hello, ",
            (SignedInAs, Lang::Zh) => "当前账号",
            (SignedInAs, Lang::En) => "Signed in as",
            (Company, Lang::Zh) => "所属企业",
            (Company, Lang::En) => "Company",
            (Logout, Lang::Zh) => "退出登录",
            (Logout, Lang::En) => "Sign out",
            (SignedOutTitle, Lang::Zh) => "已退出",
            (SignedOutTitle, Lang::En) => "Signed out",
            (SignedOut, Lang::Zh) => "您已退出账号管理控制台。",
            (SignedOut, Lang::En) => "You have signed out of the account console.",
            (SignInAgain, Lang::Zh) => "重新登录",
            (SignInAgain, Lang::En) => "Sign in again",
            (ErrorTitle, Lang::Zh) => "出错了",
            (ErrorTitle, Lang::En) => "Something went wrong",
            (LoginFailed, Lang::Zh) => "登录未能完成，请重新登录。",
            (LoginFailed, Lang::En) => "The sign-in could not be completed. Please sign in again.",
            (LoginExpired, Lang::Zh) => "登录已过期或已在其他窗口完成，请重新登录。",
            (LoginExpired, Lang::En) => "The sign-in expired or was finished in another window. Please sign in again.",
            (Unavailable, Lang::Zh) => "服务暂时不可用，请稍后再试。",
            (Unavailable, Lang::En) => "The service is temporarily unavailable. Please try again later.",
            (BadRequest, Lang::Zh) => "请求无效，请刷新页面后重试。",
            (BadRequest, Lang::En) => "The request is not valid. Reload the page and try again.",
            (OtherLanguage, Lang::Zh) => "English",
            (OtherLanguage, Lang::En) => "中文",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_by_default_english_on_request() {
        assert_eq!(Lang::pick(None, None), Lang::Zh);
        assert_eq!(Lang::pick(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::pick(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(T::Logout.text(Lang::Zh), "退出登录");
        assert_eq!(T::Logout.text(Lang::En), "Sign out");
    }
}
