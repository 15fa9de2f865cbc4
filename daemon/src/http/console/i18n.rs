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
    MyRoles,
    NoRoles,
    MyRequests,
    AllRequests,
    NewRequest,
    Inbox,
    People,
    Overdue,
    RosterChecks,
    Difference,
    FirstSeen,
    LastSeen,
    Resolved,
    Open,
    Roles,
    Id,
    Kind,
    EmployeeNumber,
    NewEmployeeNumber,
    Name,
    State,
    RequestedBy,
    RequestedAt,
    DecidedAt,
    Due,
    Done,
    Chain,
    Approvals,
    Failure,
    Actions,
    IdNumber,
    Gender,
    Male,
    Female,
    Department,
    Title,
    Grade,
    Mobile,
    Email,
    Confidential,
    EffectiveDate,
    Form1,
    Form2,
    FormClose,
    Submit,
    Approve,
    Reject,
    Comment,
    CancelRequest,
    Search,
    SearchHint,
    Login,
    Status,
    Employment,
    Role,
    Subtree,
    Grant,
    Revoke,
    GrantedBy,
    Revoked,
    Nothing,
    Denied,
    NotFound,
    FixFields,
    ResetPassword,
    ResetSent,
    Item,
    Case,
    Deadline,
    LateDays,
    Points,
    ResponsibleRole,
    Step,
    By,
    Decision,
}

impl T {
    /// The text in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        let (zh, en) = match self {
            T::Console => ("账号管理控制台", "Account console"),
            T::Home => ("首页", "Home"),
            T::Hello => ("您好，", "Hello, "),
            T::SignedInAs => ("当前账号", "Signed in as"),
            T::Company => ("所属企业", "Company"),
            T::Logout => ("退出登录", "Sign out"),
            T::SignedOutTitle => ("已退出", "Signed out"),
            T::SignedOut => ("您已退出账号管理控制台。", "You have signed out of the account console."),
            T::SignInAgain => ("重新登录", "Sign in again"),
            T::ErrorTitle => ("出错了", "Something went wrong"),
            T::LoginFailed => {
                ("登录未能完成，请重新登录。", "The sign-in could not be completed. Please sign in again.")
            }
            T::LoginExpired => (
                "登录已过期或已在其他窗口完成，请重新登录。",
                "The sign-in expired or was finished in another window. Please sign in again.",
            ),
            T::Unavailable => {
                ("服务暂时不可用，请稍后再试。", "The service is temporarily unavailable. Please try again later.")
            }
            T::BadRequest => {
                ("请求无效，请刷新页面后重试。", "The request is not valid. Reload the page and try again.")
            }
            T::OtherLanguage => ("English", "中文"),
            T::MyRoles => ("我的角色", "My roles"),
            T::NoRoles => (
                "您还没有任何角色，请联系集团信息管理中心授权。",
                "You hold no role yet; ask the group IT center for one.",
            ),
            T::MyRequests => ("我的申请", "My requests"),
            T::AllRequests => ("范围内的全部申请", "All requests in my scope"),
            T::NewRequest => ("新建申请", "New request"),
            T::Inbox => ("待我审批", "Approval inbox"),
            T::People => ("人员与账号", "People and accounts"),
            T::Overdue => ("超期事项", "Overdue"),
            T::RosterChecks => ("花名册核对", "Roster checks"),
            T::Difference => ("差异", "Difference"),
            T::FirstSeen => ("首次发现", "First seen"),
            T::LastSeen => ("最近发现", "Last seen"),
            T::Resolved => ("已解决", "Resolved"),
            T::Open => ("未解决", "Open"),
            T::Roles => ("角色授权", "Roles"),
            T::Id => ("编号", "No."),
            T::Kind => ("类型", "Kind"),
            T::EmployeeNumber => ("工号", "Employee no."),
            T::NewEmployeeNumber => ("新工号（调动时）", "New employee no. (on a move)"),
            T::Name => ("姓名", "Name"),
            T::State => ("状态", "State"),
            T::RequestedBy => ("申请人", "Requested by"),
            T::RequestedAt => ("申请时间", "Requested at"),
            T::DecidedAt => ("审批时间", "Decided at"),
            T::Due => ("办结期限", "Due"),
            T::Done => ("办结时间", "Done at"),
            T::Chain => ("审批环节", "Approval steps"),
            T::Approvals => ("审批记录", "Decisions"),
            T::Failure => ("失败原因", "Failure"),
            T::Actions => ("操作", "Actions"),
            T::IdNumber => ("身份证号码", "Resident ID number"),
            T::Gender => ("性别", "Gender"),
            T::Male => ("男", "Male"),
            T::Female => ("女", "Female"),
            T::Department => ("部门", "Department"),
            T::Title => ("职务", "Title"),
            T::Grade => ("职级", "Grade"),
            T::Mobile => ("手机号", "Mobile"),
            T::Email => ("公司邮箱", "Company e-mail"),
            T::Confidential => ("机要岗", "Confidential post"),
            T::EffectiveDate => ("生效日期（入职/调整/离职）", "Effective date (hire/move/leave)"),
            T::Form1 => ("开通账号（表1）", "Open an account (form 1)"),
            T::Form2 => ("调整账号（表2）", "Adjust an account (form 2)"),
            T::FormClose => ("注销账号", "Close an account"),
            T::Submit => ("提交", "Submit"),
            T::Approve => ("同意", "Approve"),
            T::Reject => ("驳回", "Reject"),
            T::Comment => ("审批意见", "Comment"),
            T::CancelRequest => ("撤销申请", "Cancel request"),
            T::Search => ("搜索", "Search"),
            T::SearchHint => ("姓名、账号或工号", "Name, login or employee no."),
            T::Login => ("账号", "Login"),
            T::Status => ("账号状态", "Account status"),
            T::Employment => ("在职状态", "Employment"),
            T::Role => ("角色", "Role"),
            T::Subtree => ("含下级企业", "With subsidiaries"),
            T::Grant => ("授权", "Grant"),
            T::Revoke => ("收回", "Revoke"),
            T::GrantedBy => ("授权人", "Granted by"),
            T::Revoked => ("已收回", "Revoked"),
            T::Nothing => ("暂无记录。", "Nothing here."),
            T::Denied => ("无权操作：", "Not allowed: "),
            T::NotFound => ("未找到该记录，或不在您的权限范围内。", "Not found, or outside your scope."),
            T::FixFields => ("请修改标出的字段。", "Please correct the marked fields."),
            T::ResetPassword => ("重置密码", "Reset password"),
            T::ResetSent => (
                "已为该账号设置一次性初始密码，并通过通知渠道发送给本人；密码不会显示在此处。该账号的所有会话已结束。",
                "A one-time initial password was set and sent to the account holder through the notifier; it is never shown here. Every session of the account was ended.",
            ),
            T::Item => ("事项", "Item"),
            T::Case => ("情形", "Case"),
            T::Deadline => ("期限", "Deadline"),
            T::LateDays => ("逾期工作日", "Working days late"),
            T::Points => ("扣分", "Penalty points"),
            T::ResponsibleRole => ("责任角色", "Responsible role"),
            T::Step => ("环节", "Step"),
            T::By => ("审批人", "By"),
            T::Decision => ("结论", "Decision"),
        };
        match lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Employment as HR says it: 在职 / 离职 (an account in use is 在用, a person at work is 在职).
pub fn employment(e: orgid_directory::Employment, lang: Lang) -> &'static str {
    use orgid_directory::Employment as E;
    match (e, lang) {
        (E::Active, Lang::Zh) => "在职",
        (E::Left, Lang::Zh) => "离职",
        (E::Active, Lang::En) => "employed",
        (E::Left, Lang::En) => "left",
    }
}

/// A state, kind, step, role or mode word (`pending`, `open`, `group_hr`, …) for people: in
/// Chinese, or the word itself in English.
pub fn word(w: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return w.replace('_', " ");
    }
    let zh = match w {
        "open" => "开通",
        "adjust" => "调整",
        "close" => "注销",
        "pending" => "待审批",
        "approved" => "已批准",
        "rejected" => "已驳回",
        "applied" => "已办结",
        "failed" => "执行失败",
        "cancelled" => "已撤销",
        "pending_approval" => "待确认",
        "strategy_office" => "战略服务管理本部",
        "group_hr" => "集团人力",
        "confidential_office" => "机要室",
        "group_it_admin" => "集团信息管理中心",
        "security_auditor" => "安全审计",
        "company_hr" => "企业人力",
        "company_it" => "信息运维岗",
        "group_operated" => "集团统一运营",
        "independent" => "独立运营",
        "active" => "在用",
        "locked" => "锁定",
        "disabled" => "停用",
        "left" => "离职",
        "overdue" => "办理超期",
        "late_submission" => "提报逾期",
        "roster_check" => "花名册核对超期",
        "missing" => "缺少账号",
        "extra" => "多余账号",
        "differs" => "信息不一致",
        "should_close" => "应注销",
        "import" => "文件导入",
        "sync" => "人力同步",
        "api" => "接口",
        "console" => "控制台",
        "cli" => "命令行",
        other => return other.to_string(),
    };
    zh.to_string()
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
