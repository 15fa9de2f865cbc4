//! Personal notices: what a person is told (a password nearing expiry, …), through which channel
//! (WeCom's app message, mail), and the store that makes each one go out once. A notice is queued
//! under a key that names what it is about and when (`password_expiry:zhangwei:7:<expiry>`), once
//! per channel; it is sent once (recorded), and retried with a doubling delay while it fails, so
//! a restart neither loses nor repeats one. The rules here are pure: which notices are due now.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::StoreError;

/// One notice on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it is about and when: the same notice is never queued twice.
    pub key: String,
    /// `wecom` (the member's userid) or `mail` (an address).
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Failed sends so far.
    pub attempts: u32,
}

/// Where notices wait until they are sent.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Queues the notices not queued before (same key and channel): returns how many are new.
    async fn queue_notices(&self, notices: &[Notice], at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Unsent notices whose time has come, oldest first.
    async fn due_notices(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Notice>, StoreError>;
    async fn notice_sent(&self, key: &str, channel: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A failed send: tried again at `next_at`.
    async fn notice_failed(
        &self,
        key: &str,
        channel: &str,
        error: &str,
        next_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// (login, when the password was set) of every active account with a password.
    async fn password_dates(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
}

/// Days before a password expires when its holder is told.
pub const EXPIRY_WARNINGS: [i64; 3] = [14, 7, 1];

/// When a password set at `changed_at` expires under `max_age_days` (0: never).
pub fn expires_at(changed_at: DateTime<Utc>, max_age_days: u32) -> Option<DateTime<Utc>> {
    (max_age_days > 0).then(|| changed_at + Duration::days(i64::from(max_age_days)))
}

/// The warning due now for a password expiring at `expiry`: the smallest of `EXPIRY_WARNINGS`
/// not below the days left (whole days, rounded up), if it has not expired. A daemon that was
/// down on day 7 still sends day 7's on day 6 (its key is the same), never 14's.
pub fn expiry_warning_due(expiry: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    if expiry <= now {
        return None;
    }
    let secs = (expiry - now).num_seconds();
    let days_left = (secs + 86_399) / 86_400;
    EXPIRY_WARNINGS.iter().rev().copied().find(|d| *d >= days_left)
}

/// The delay before the next try after `attempts` failures: `first` seconds, doubling, at most
/// 6 hours.
pub fn retry_delay(attempts: u32, first: u64) -> Duration {
    let first = i64::try_from(first.max(1)).unwrap_or(30);
    Duration::seconds(first.saturating_mul(1 << attempts.min(16)).min(6 * 3600))
}

/// The zh-CN text of a password expiry warning: (subject, body).
pub fn password_expiry_text(
    name: &str,
    login: &str,
    days: i64,
    expiry_local: &str,
    change_url: &str,
) -> (String, String) {
    let subject = format!("密码将在 {days} 天后过期");
    let body = format!(
        "{name}（{login}）您好：\n您的统一身份认证密码将于 {expiry_local} 过期（还有 {days} 天）。\
过期后需先修改密码才能登录各业务系统。请尽快修改：{change_url}\n此消息由 orgid 自动发送，请勿回复。"
    );
    (subject, body)
}

/// A one-time password after a reset: (subject, body). The body holds the password: it is sent,
/// never stored (the record of the notice keeps [`ONE_TIME_PASSWORD_KEPT`] instead).
pub fn one_time_password_text(name: &str, login: &str, password: &str, login_url: &str) -> (String, String) {
    (
        "您的一次性初始密码".to_string(),
        format!(
            "{name}（{login}）您好：\n管理员已为您重置统一身份认证密码。一次性初始密码：{password}\n\
请尽快登录并设置您自己的密码：{login_url}\n如非本人申请，请立即联系本单位的信息化管理员。"
        ),
    )
}

/// What the notices table keeps as the body of a one-time password notice.
pub const ONE_TIME_PASSWORD_KEPT: &str = "（一次性初始密码：已发送，不保存）";

/// The zh-CN name of a request's kind.
fn kind_zh(kind: crate::workflow::RequestKind) -> &'static str {
    match kind {
        crate::workflow::RequestKind::Open => "开通账号",
        crate::workflow::RequestKind::Adjust => "调整账号",
        crate::workflow::RequestKind::Close => "关闭账号",
    }
}

/// A request waiting for the recipient's approval: (subject, body).
pub fn approval_text(r: &crate::workflow::Request, console_url: &str) -> (String, String) {
    (
        format!("待您审批：{}（{}）", kind_zh(r.kind), r.name),
        format!(
            "申请 #{id}：{kind}，{name}（工号 {no}，{company}），由 {by} 提交，等待您审批。\n请在账号管理控制台处理：{console_url}",
            id = r.id,
            kind = kind_zh(r.kind),
            name = r.name,
            no = r.employee_number,
            company = r.company.0,
            by = r.requested_by,
        ),
    )
}

/// A request past its due time (the SLA), not applied yet: (subject, body).
pub fn overdue_text(r: &crate::workflow::Request, due_local: &str, console_url: &str) -> (String, String) {
    (
        format!("申请已超期：{}（{}）", kind_zh(r.kind), r.name),
        format!(
            "申请 #{id}：{kind}，{name}（工号 {no}，{company}）应于 {due_local} 前办理完成，目前尚未完成（状态：{state}）。\n请尽快处理：{console_url}",
            id = r.id,
            kind = kind_zh(r.kind),
            name = r.name,
            no = r.employee_number,
            company = r.company.0,
            state = r.state.as_str(),
        ),
    )
}

/// Open roster checks of a company, for its delegate: (subject, body).
pub fn roster_text(company: &str, open: usize, console_url: &str) -> (String, String) {
    (
        format!("花名册核查待处理：{company}"),
        format!("贵公司（{company}）有 {open} 条花名册核查尚未处理。\n请在账号管理控制台查看并处理：{console_url}"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn warnings_at_14_7_and_1_days() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T09:00:00Z").unwrap().with_timezone(&Utc);
        let at = |d: i64, h: i64| expiry_warning_due(now + Duration::days(d) + Duration::hours(h), now);
        assert_eq!(at(20, 0), None);
        assert_eq!(at(14, 0), Some(14));
        assert_eq!(at(13, 5), Some(14));
        assert_eq!(at(7, 0), Some(7));
        assert_eq!(at(6, 23), Some(7));
        assert_eq!(at(0, 3), Some(1));
        assert_eq!(at(0, -1), None, "expired: the login flow says so");
        assert_eq!(expires_at(now, 0), None);
    }

    #[test]
    fn retries_double_up_to_six_hours() {
        assert_eq!(retry_delay(0, 30), Duration::seconds(30));
        assert_eq!(retry_delay(1, 30), Duration::seconds(60));
        assert_eq!(retry_delay(30, 30), Duration::hours(6));
    }
}
