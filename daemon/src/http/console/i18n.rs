//! The console's text: zh-CN by default, English with `?lang=en` or an `Accept-Language` that
//! prefers English (the same choice as the login pages, [`orgid_idp::i18n::Lang`]).

pub use orgid_idp::i18n::{Catalogues, Lang};

orgid_idp::messages! {
    /// Every fixed text of the console (`daemon/locales/*.toml`, keys as the variants are named).
    T in crate::http::console::i18n::CONSOLE {
        Console, Home, Hello, SignedInAs, Company, Logout, SignedOutTitle, SignedOut, SignInAgain,
        ErrorTitle, LoginFailed, LoginExpired, Unavailable, BadRequest, OtherLanguage, MyRoles,
        NoRoles, MyRequests, AllRequests, NewRequest, Inbox, People, Overdue, RosterChecks,
        Difference, FirstSeen, LastSeen, Resolved, Open, Roles, Id, Kind, EmployeeNumber,
        NewEmployeeNumber, Name, State, RequestedBy, RequestedAt, DecidedAt, Due, Done, Chain,
        Approvals, Failure, Actions, IdNumber, Gender, Male, Female, Department, Title, Grade,
        Mobile, Email, Confidential, EffectiveDate, Form1, Form2, FormClose, Submit, Approve,
        Reject, Comment, CancelRequest, Search, SearchHint, Login, Status, Employment, Role,
        Subtree, Grant, Revoke, GrantedBy, Revoked, Nothing, Denied, NotFound, FixFields,
        ResetPassword, ResetSent, Item, Case, Deadline, LateDays, Points, ResponsibleRole, Step, By,
        Decision, Menu, Choose,
    }
}

/// The console's catalogues, compiled in.
pub static CONSOLE: std::sync::LazyLock<Catalogues> = std::sync::LazyLock::new(|| {
    Catalogues::load("console", include_str!("../../../locales/zh-CN.toml"), include_str!("../../../locales/en.toml"))
});

/// Employment as HR says it: 在职 / 离职 (an account in use is 在用, a person at work is 在职).
pub fn employment(e: orgid_directory::Employment, lang: Lang) -> &'static str {
    use orgid_directory::Employment as E;
    let key = match e {
        E::Active => "employment.active",
        E::Left => "employment.left",
    };
    CONSOLE.text(lang, key)
}

/// A state, kind, step, role or mode word (`pending`, `open`, `group_hr`, …) for people, from the
/// catalogue's `[word]` table; a word it lacks shows as itself (and the catalogue check fails).
pub fn word(w: &str, lang: Lang) -> String {
    match CONSOLE.lookup(lang, &format!("word.{w}")) {
        Some(t) => t.to_string(),
        None => w.to_string(),
    }
}

/// Who did something: a person's login as it is, orgid's own actors (`sync`, `cli`, `api`,
/// `import`, `console`) in the page's words.
pub fn actor(who: &str, lang: Lang) -> String {
    match who {
        "sync" | "cli" | "api" | "import" | "console" => word(who, lang),
        _ => who.to_string(),
    }
}

/// A refusal as the page's language says it (`[denied]`), its values filled in; a role by its
/// word.
pub fn denial(d: &orgid_directory::workflow::rules::Denied, lang: Lang) -> String {
    let Some(text) = CONSOLE.lookup(lang, &format!("denied.{}", d.message)) else {
        return d.reason.clone();
    };
    let args: Vec<(&str, String)> =
        d.args.iter().map(|(k, v)| (*k, if *k == "role" { word(v, lang) } else { v.clone() })).collect();
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    orgid_idp::i18n::fill(text, &args)
}

/// What a late case is about, in the page's language (`[sla]`).
pub fn sla_subject(s: &orgid_directory::workflow::sla::SlaSubject, lang: Lang) -> String {
    let id = s.id.to_string();
    let kind = word(&s.kind, lang);
    let args = [("id", id.as_str()), ("kind", &kind), ("employee_number", &s.employee_number), ("name", &s.name)];
    orgid_idp::i18n::fill(CONSOLE.text(lang, &format!("sla.{}", s.what)), &args)
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

    #[test]
    fn every_text_is_in_both_catalogues() {
        assert_eq!(CONSOLE.problems(), Vec::<String>::new());
        for t in T::ALL {
            assert!(CONSOLE.has(Lang::Zh, t.key()) && CONSOLE.has(Lang::En, t.key()), "{t:?}");
        }
        assert_eq!(word("group_hr", Lang::Zh), "集团人力");
        assert_eq!(word("group_hr", Lang::En), "group HR");
        assert_eq!(employment(orgid_directory::Employment::Active, Lang::Zh), "在职");
        let d = orgid_directory::workflow::rules::Denied::new(
            "not_approver",
            "x",
            "not_approver",
            vec![("id", "7".into()), ("company", "C010".into()), ("role", "group_hr".into())],
        );
        assert_eq!(denial(&d, Lang::Zh), "申请 7 的这一环节须由企业 C010 的集团人力审批");
        assert_eq!(denial(&d, Lang::En), "this step of request 7 needs the group HR of company C010");
    }
}
