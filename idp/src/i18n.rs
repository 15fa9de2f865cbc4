//! The pages' text, from message catalogues: zh-CN first and complete, English complete, when
//! asked for (`ui_locales`, `?lang=en`, or an `Accept-Language` that prefers English). The
//! catalogue machinery ([`Catalogue`], [`messages!`], [`untranslated`]) is in `catalogue.rs` and
//! serves the console's catalogues too.

pub use crate::catalogue::{Catalogue, Catalogues, fill, untranslated};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// Templates hand their fields over by reference.
impl From<&Lang> for Lang {
    fn from(lang: &Lang) -> Lang {
        *lang
    }
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

crate::messages! {
    /// Every fixed text of the provider's pages (`locales/*.toml`, keys as the variants are named).
    Msg in crate::i18n::PROVIDER {
        LoginTitle, LoginTo, Login, Password, SignIn, BadCredentials, ChangeTitle, ChangeInitial,
        ChangeExpired, ChangeVoluntary, CurrentPassword, NewPassword, RepeatPassword, ChangeSubmit,
        Mismatch, CurrentWrong, PasswordContainsLogin, PasswordUnchanged, PolicyHint, ExpiresSoon,
        ChangeNow, Continue, OtpTitle, OtpCode, OtpWrong, OtpEnrol, OtpKey, OtpQr, Verify,
        ErrorTitle, UnknownClient, UnknownService, BadRedirect, BadRequest, SessionExpired,
        LoggedOutTitle, LoggedOut, LogoutConfirm, LogoutButton, Changed, Unavailable, Throttled,
        Busy, OtherLanguage, WecomScan, WecomInApp, WecomNoAccount, WecomDisabled, WecomInvalid,
        WecomStepUp, WecomUnavailable,
    }
}

/// The provider's catalogues, compiled in.
pub static PROVIDER: std::sync::LazyLock<Catalogues> = std::sync::LazyLock::new(|| {
    Catalogues::load("provider", include_str!("../locales/zh-CN.toml"), include_str!("../locales/en.toml"))
});

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

    #[test]
    fn every_text_is_in_both_catalogues() {
        assert_eq!(PROVIDER.problems(), Vec::<String>::new());
        for m in Msg::ALL {
            assert!(PROVIDER.has(Lang::Zh, m.key()) && PROVIDER.has(Lang::En, m.key()), "{m:?}");
        }
        assert_eq!(Msg::ALL.len(), PROVIDER.len(), "a catalogue entry no page uses");
        assert_eq!(Msg::LoginTitle.text(Lang::Zh), "统一身份认证");
        assert_eq!(Msg::LoginTitle.text(Lang::En), "Single sign-on");
    }
}
