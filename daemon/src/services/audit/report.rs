//! `orgid audit report`: gathers the period's login and lockout records and the accounts, lets the
//! domain compute the review (`orgid_directory::audit::report`), and renders it as one
//! self-contained, printable HTML page with inline SVG charts. Every text from a record is
//! escaped: a user agent or login cannot inject markup.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use orgid_directory::PersonStore;
use orgid_directory::audit::report::{
    AccountEntry, AccountState, AuditReport, Count, Listed, LoginEntry, REPORT_KINDS, ReportBuilder, ReportParams,
    WorkingHours,
};
use orgid_directory::audit::text::html_escape as esc;
use orgid_directory::audit::{AuditFilter, AuditScope, EventKind, Order, PageRequest};

use crate::app::App;
use crate::output::local;

fn working_hours(app: &App) -> WorkingHours {
    let (a, b) = app.config.audit.working_minutes().unwrap_or((8 * 60, 19 * 60));
    let t = |m: u32| NaiveTime::from_hms_opt(m / 60 % 24, m % 60, 0).unwrap_or(NaiveTime::MIN);
    WorkingHours {
        start: t(a),
        // 24:00 is the end of the day.
        end: if b >= 24 * 60 { NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or(NaiveTime::MIN) } else { t(b) },
        days: app.config.audit.working_days.iter().filter_map(|d| Weekday::try_from(d.checked_sub(1)?).ok()).collect(),
    }
}

/// Reads what the report needs and computes it.
pub async fn build(app: &App, since: DateTime<Utc>, until: DateTime<Utc>) -> anyhow::Result<AuditReport> {
    let tz = app.tz;
    let to_local = move |t: DateTime<Utc>| -> NaiveDateTime { t.with_timezone(&tz).naive_local() };
    let mut builder = ReportBuilder::default();
    // One type at a time: each walks its own (type, time) index in order.
    for kind in REPORT_KINDS {
        let filter =
            AuditFilter { kinds: vec![kind], since: Some(since), until: Some(until), ..AuditFilter::default() };
        let page = PageRequest::first(Order::OldestFirst, PageRequest::MAX_LIMIT);
        crate::services::audit::each_page(app, &AuditScope::All, &filter, page, |records| {
            records.iter().for_each(|r| builder.add(&r.fields, &to_local));
            Ok(())
        })
        .await?;
    }
    let people = app.store.people().await?;
    let last_login = crate::services::audit::latest(app, &[EventKind::Login]).await?;
    let last_password_change =
        crate::services::audit::latest(app, &[EventKind::PasswordChange, EventKind::PasswordReset]).await?;
    let hours = working_hours(app);
    Ok(builder.finish(
        &ReportParams {
            since,
            until,
            now: app.clock.now(),
            local: &to_local,
            working_hours: &hours,
            dormant_days: app.config.audit.dormant_days,
            password_max_age_days: app.config.password.max_age_days,
        },
        &AccountState { people: &people, last_login: &last_login, last_password_change: &last_password_change },
    ))
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;margin:2rem;color:#1d2430;max-width:1100px}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
.meta{color:#556}.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ccd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.6rem}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e3e6ee;padding:.25rem .4rem;text-align:left;vertical-align:top}th{background:#f3f5f9}
td.n{text-align:right;font-variant-numeric:tabular-nums}.more{color:#556;font-size:.85rem}svg text{font-size:11px;fill:#1d2430}
section{break-inside:avoid}@media print{body{margin:0;max-width:none}h2{break-after:avoid}.card{break-inside:avoid}}
";

/// Failed logins per day as a vertical bar chart.
fn day_chart(days: &[(chrono::NaiveDate, u64)]) -> String {
    let (w, h, pad) = (1000.0_f64, 220.0_f64, 30.0_f64);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let bw = (w - 2.0 * pad) / days.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' width='100%' role='img' aria-label='failed logins per day'>"
    );
    let _ = write!(s, "<line x1='{pad}' y1='{y}' x2='{x}' y2='{y}' stroke='#889'/>", y = h - pad, x = w - pad);
    let _ = write!(s, "<text x='2' y='{}'>{}</text>", pad - 8.0, max as u64);
    let label_every = (days.len() / 15).max(1);
    for (i, (day, n)) in days.iter().enumerate() {
        let bh = (*n as f64 / max) * (h - 2.0 * pad);
        let x = pad + i as f64 * bw;
        let _ = write!(
            s,
            "<rect x='{x:.1}' y='{:.1}' width='{:.1}' height='{bh:.1}' fill='#c0392b'><title>{day}: {n}</title></rect>",
            h - pad - bh,
            (bw - 2.0).max(1.0)
        );
        if i % label_every == 0 {
            let _ = write!(s, "<text x='{x:.1}' y='{}'>{}</text>", h - pad + 14.0, day.format("%m-%d"));
        }
    }
    s.push_str("</svg>");
    s
}

/// A ranking as horizontal bars.
fn bar_chart(items: &[Count], label: &str) -> String {
    if items.is_empty() {
        return "<p class='more'>none</p>".into();
    }
    let (w, row) = (1000.0_f64, 22.0_f64);
    let max = items.iter().map(|c| c.count).max().unwrap_or(1).max(1) as f64;
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {}' width='100%' role='img' aria-label='{}'>",
        row * items.len() as f64 + 4.0,
        esc(label)
    );
    for (i, c) in items.iter().enumerate() {
        let y = i as f64 * row + 2.0;
        let bw = (c.count as f64 / max) * (w - 320.0);
        let _ = write!(
            s,
            "<text x='0' y='{:.1}'>{}</text><rect x='260' y='{y:.1}' width='{bw:.1}' height='{:.1}' fill='#2c6fbb'/>\
             <text x='{:.1}' y='{:.1}'>{}</text>",
            y + 14.0,
            esc(&c.key),
            row - 6.0,
            266.0 + bw,
            y + 14.0,
            c.count
        );
    }
    s.push_str("</svg>");
    s
}

fn more<T>(l: &Listed<T>) -> String {
    if l.total as usize > l.items.len() {
        format!("<p class='more'>{} of {} shown</p>", l.items.len(), l.total)
    } else {
        String::new()
    }
}

fn login_table(l: &Listed<LoginEntry>, tz: Tz, note: &str) -> String {
    if l.items.is_empty() {
        return "<p class='more'>none</p>".into();
    }
    let mut s = format!("<table><tr><th>time</th><th>login</th><th>source IP</th><th>{}</th></tr>", esc(note));
    for e in &l.items {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&local(Some(e.at), tz)),
            esc(&e.login),
            esc(e.source_ip.as_deref().unwrap_or("")),
            esc(&e.note)
        );
    }
    s.push_str("</table>");
    s + &more(l)
}

fn account_table(l: &Listed<AccountEntry>, tz: Tz, since: &str) -> String {
    if l.items.is_empty() {
        return "<p class='more'>none</p>".into();
    }
    let mut s = format!("<table><tr><th>login</th><th>company</th><th>{}</th><th>days</th></tr>", esc(since));
    for e in &l.items {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class='n'>{}</td></tr>",
            esc(&e.login),
            esc(&e.company),
            esc(&e.since.map(|t| local(Some(t), tz)).unwrap_or_else(|| "never".into())),
            e.days.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    s.push_str("</table>");
    s + &more(l)
}

/// The report as one HTML document: no external resources, readable offline and printable.
pub fn html(r: &AuditReport, tz: Tz) -> String {
    let period = format!("{} – {} ({tz})", local(Some(r.since), tz), local(Some(r.until), tz));
    let card = |n: u64, what: &str| format!("<div class='card'><b>{n}</b>{}</div>", esc(what));
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>orgid audit report {}</title>\
         <style>{STYLE}</style></head><body><h1>Audit report · 审计报告</h1><p class='meta'>{} · generated {}</p>",
        esc(&period),
        esc(&period),
        esc(&local(Some(r.generated_at), tz))
    );
    s.push_str("<div class='cards'>");
    s.push_str(&card(r.logins_succeeded, "successful logins"));
    s.push_str(&card(r.logins_failed, "failed logins"));
    s.push_str(&card(r.lockouts.total, "lockouts"));
    s.push_str(&card(r.outside_working_hours.total, "logins outside working hours"));
    s.push_str(&card(r.disabled_or_departed_logins.total, "logins of disabled or departed accounts"));
    s.push_str(&card(r.dormant_accounts.total, "dormant accounts"));
    s.push_str(&card(r.expired_passwords.total, "expired passwords"));
    s.push_str("</div>");
    let _ = write!(s, "<section><h2>Failed logins per day</h2>{}</section>", day_chart(&r.failed_per_day));
    let _ = write!(s, "<section><h2>Failures by reason</h2>{}</section>", bar_chart(&r.failures_by_reason, "reasons"));
    let _ =
        write!(s, "<section><h2>Top failing accounts</h2>{}</section>", bar_chart(&r.top_failing_accounts, "accounts"));
    let _ = write!(s, "<section><h2>Top failing source IPs</h2>{}</section>", bar_chart(&r.top_failing_ips, "IPs"));
    let _ = write!(
        s,
        "<section><h2>Logins outside working hours</h2>{}</section>",
        login_table(&r.outside_working_hours, tz, "local time")
    );
    let _ = write!(
        s,
        "<section><h2>Logins of disabled or departed accounts</h2>{}</section>",
        login_table(&r.disabled_or_departed_logins, tz, "why")
    );
    let _ = write!(s, "<section><h2>Lockouts</h2>{}</section>", login_table(&r.lockouts, tz, "reason"));
    let _ = write!(
        s,
        "<section><h2>Dormant accounts: active, no login in {} days</h2>{}</section>",
        r.dormant_days,
        account_table(&r.dormant_accounts, tz, "last login")
    );
    if r.password_max_age_days > 0 {
        let _ = write!(
            s,
            "<section><h2>Accounts past password expiry: password older than {} days</h2>{}</section>",
            r.password_max_age_days,
            account_table(&r.expired_passwords, tz, "password set")
        );
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::NaiveDate;

    use super::*;

    fn report() -> AuditReport {
        let at = DateTime::from_timestamp(1_714_521_600, 0).unwrap();
        let outside = Listed {
            total: 1,
            items: vec![LoginEntry {
                at,
                login: "<script>alert(1)</script>".into(),
                source_ip: Some("10.0.0.1".into()),
                note: "Sat 23:00".into(),
            }],
        };
        AuditReport {
            since: at,
            until: at + chrono::Duration::days(2),
            generated_at: at,
            dormant_days: 90,
            password_max_age_days: 90,
            logins_succeeded: 5,
            logins_failed: 3,
            failed_per_day: vec![
                (NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(), 1),
                (NaiveDate::from_ymd_opt(2024, 5, 2).unwrap(), 2),
            ],
            failures_by_reason: vec![Count { key: "bad_password".into(), count: 3 }],
            top_failing_accounts: vec![Count { key: "bob\"><img src=x>".into(), count: 3 }],
            top_failing_ips: Vec::new(),
            outside_working_hours: outside,
            disabled_or_departed_logins: Listed::default(),
            lockouts: Listed::default(),
            dormant_accounts: Listed::default(),
            expired_passwords: Listed::default(),
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_record_text() {
        let page = html(&report(), "Asia/Shanghai".parse().unwrap());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("<script>"), "record text is escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<img src=x>"));
        assert!(!page.contains("src='http") && !page.contains("href='http"), "no external resources");
        assert!(page.contains("<svg") && page.contains("@media print"));
        assert!(page.contains("<title>2024-05-02: 2</title>"), "a bar per day");
        assert!(page.contains("2024-05-01 08:00:00"), "times in the configured zone");
    }
}
