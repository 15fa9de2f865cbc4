//! Personal notices (`[notices]`): a sweep queues what is due (a password 14, 7 or 1 days from
//! expiry; a request waiting for your approval; a request past its due time; a company's open
//! roster checks, for its delegates) once per notice, recipient and channel, then sends what waits through the channel's `Notifier`
//! (`wecom`: the app's message to the member whose userid is the login; `mail`: the person's
//! address through the alerts' relay), recording each send or failure (retried with a doubling
//! delay). What was sent is never sent again, across restarts and replicas (the store's keys).

use std::collections::BTreeMap;

use orgid_directory::CompanyCode;
use orgid_directory::idp::CredentialStore;
use orgid_directory::notice::{self, Notice, NoticeStore};
use orgid_directory::store::WorkflowStore;
use orgid_directory::workflow::{Principal, RequestFilter, RequestState, Role, RoleGrant};
use tracing::{info, warn};

use crate::app::App;
use crate::services::{channels, workflow};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub queued: u64,
    pub sent: u32,
    pub failed: u32,
}

/// Notices sent in one sweep at most (the rest wait for the next).
const BATCH: u32 = 200;

/// Queues what is due now and sends what waits.
pub async fn sweep(app: &App) -> anyhow::Result<Sweep> {
    let mut done = Sweep::default();
    if !app.config.notices.enabled() {
        return Ok(done);
    }
    done.queued = queue_password_expiry(app).await? + queue_workflow(app).await?;
    let (sent, failed) = deliver(app).await?;
    done.sent = sent;
    done.failed = failed;
    if done != Sweep::default() {
        info!(queued = done.queued, sent = done.sent, failed = done.failed, "notices");
    }
    Ok(done)
}

/// The warnings of passwords nearing expiry, one per channel the person can be reached on.
async fn queue_password_expiry(app: &App) -> anyhow::Result<u64> {
    let now = app.clock.now();
    let max_age = app.config.password.max_age_days;
    let change_url = format!("{}/password", app.config.oidc.issuer.trim_end_matches('/'));
    let mut out = Vec::new();
    for (login, changed_at) in app.store.password_dates().await? {
        let Some(expiry) = notice::expires_at(changed_at, max_age) else { continue };
        let Some(days) = notice::expiry_warning_due(expiry, now) else { continue };
        let Some(subject) = app.store.subject(&login).await? else { continue };
        let local = expiry.with_timezone(&app.tz).format("%Y-%m-%d %H:%M").to_string();
        let (title, body) = notice::password_expiry_text(&subject.name, &login, days, &local, &change_url);
        let key = format!("password_expiry:{login}:{days}:{}", expiry.timestamp());
        reach(app, &mut out, &key, &login, Some(&subject.email), &title, &body).await?;
    }
    Ok(app.store.queue_notices(&out, now).await?)
}

/// The notice `key` for `login` on each channel that reaches them: WeCom (their userid is the
/// login) and mail (their address; looked up when `email` is not given).
async fn reach(
    app: &App,
    out: &mut Vec<Notice>,
    key: &str,
    login: &str,
    email: Option<&str>,
    subject: &str,
    body: &str,
) -> anyhow::Result<()> {
    let mut push = |channel: &str, recipient: &str| {
        out.push(Notice {
            key: key.into(),
            channel: channel.into(),
            recipient: recipient.into(),
            subject: subject.into(),
            body: body.into(),
            attempts: 0,
        });
    };
    if app.config.notices.wecom() {
        push("wecom", login);
    }
    if app.config.notices.mail() {
        let email = match email {
            Some(e) => Some(e.trim().to_string()),
            None => app.store.subject(login).await?.map(|s| s.email.trim().to_string()),
        };
        if let Some(e) = email.filter(|e| !e.is_empty()) {
            push("mail", &e);
        }
    }
    Ok(())
}

/// Requests waiting for an approver (told to whoever may decide their next step, by the
/// console's own rules), requests past their due time (told to the IT that applies them: group
/// IT and the company's IT delegate), and a company's open roster checks (told to its
/// delegates), each once per recipient.
async fn queue_workflow(app: &App) -> anyhow::Result<u64> {
    let now = app.clock.now();
    let console = format!("{}/console", app.config.oidc.issuer.trim_end_matches('/'));
    let index = workflow::companies(app).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut grants: BTreeMap<String, Vec<RoleGrant>> = BTreeMap::new();
    for g in app.store.role_grants(None, false).await? {
        grants.entry(g.login.clone()).or_default().push(g);
    }
    let people: Vec<Principal> = grants.into_iter().map(|(login, g)| Principal::new(login, g)).collect();
    let acting = |who: &Principal, company: &CompanyCode, roles: &[Role]| {
        who.grants.iter().any(|g| roles.contains(&g.role) && g.covers(company, &index))
    };
    let mut out = Vec::new();
    for state in [RequestState::Pending, RequestState::Approved, RequestState::Failed] {
        let filter = RequestFilter { state: Some(state), ..RequestFilter::default() };
        for r in app.store.requests(&filter).await? {
            if state == RequestState::Pending {
                let (subject, body) = notice::approval_text(&r, &console);
                for who in people.iter().filter(|p| !workflow::decidable(p, &r, &index).is_empty()) {
                    let key = format!("approval:{}:{}", r.id, who.login);
                    reach(app, &mut out, &key, &who.login, None, &subject, &body).await?;
                }
            }
            if let Some(due) = r.due.filter(|d| *d <= now) {
                let local = due.with_timezone(&app.tz).format("%Y-%m-%d %H:%M").to_string();
                let (subject, body) = notice::overdue_text(&r, &local, &console);
                for who in people.iter().filter(|p| acting(p, &r.company, &[Role::GroupItAdmin, Role::CompanyIt])) {
                    let key = format!("overdue:{}:{}", r.id, who.login);
                    reach(app, &mut out, &key, &who.login, None, &subject, &body).await?;
                }
            }
        }
    }
    // One notice per company and recipient, again when a new check opens (the newest id).
    let mut open: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for c in app.store.roster_checks(true).await? {
        let e = open.entry(c.company.0.clone()).or_default();
        *e = (e.0 + 1, e.1.max(c.id));
    }
    for (company, (n, newest)) in open {
        let (subject, body) = notice::roster_text(&company, n, &console);
        let code = CompanyCode(company.clone());
        for who in people.iter().filter(|p| acting(p, &code, &[Role::CompanyIt, Role::CompanyHr])) {
            let key = format!("roster_check:{company}:{newest}:{}", who.login);
            reach(app, &mut out, &key, &who.login, None, &subject, &body).await?;
        }
    }
    Ok(app.store.queue_notices(&out, now).await?)
}

/// Sends the notices whose time has come: (sent, failed).
async fn deliver(app: &App) -> anyhow::Result<(u32, u32)> {
    let (mut sent, mut failed) = (0, 0);
    for n in app.store.due_notices(app.clock.now(), BATCH).await? {
        let result = match channels::notifier(app, &n.channel, &n.recipient) {
            Ok(to) => to.send(&n.subject, &n.body).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let now = app.clock.now();
        match result {
            Ok(()) => {
                app.store.notice_sent(&n.key, &n.channel, now).await?;
                sent += 1;
            }
            Err(e) => {
                let next = now + notice::retry_delay(n.attempts, app.config.notices.retry_secs);
                warn!(channel = %n.channel, key = %n.key, attempts = n.attempts + 1, "a notice was not delivered: {e}");
                app.store.notice_failed(&n.key, &n.channel, &e, next).await?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}
