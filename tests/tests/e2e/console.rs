//! The console over plain HTTP: the sign-in dance step by step (state, replay), CSRF, refusals
//! shown and audited, escaping, and the security headers.

use orgid::services::workflow as wf;
use orgid_directory::workflow::Principal;

use crate::browser::Site;
use crate::oidc::{Browser, Page};
use crate::workflow::{open, profile};

fn path_of(site: &Site, page: &Page) -> String {
    let loc = page.location.clone().unwrap_or_else(|| panic!("no redirect ({}): {}", page.status, page.body));
    loc.strip_prefix(&site.base).map(str::to_string).unwrap_or(loc)
}

/// Signs `login` in to the console over HTTP; returns the browser and the callback address used.
async fn sign_in(site: &Site, login: &str) -> (Browser, String) {
    let initial = site.reset(login).await;
    let mut b = Browser::at(&site.base);
    let page = b.get("/console/requests").await;
    assert_eq!(page.status, 303);
    let to_login = path_of(site, &page);
    assert!(to_login.starts_with("/console/login?next=%2Fconsole%2Frequests"), "{to_login}");
    let page = b.get(&to_login).await;
    let authorize = path_of(site, &page);
    assert!(authorize.starts_with("/authorize?") && authorize.contains("code_challenge_method=S256"), "{authorize}");
    assert!(authorize.contains("client_id=orgid-console") && authorize.contains("nonce="), "{authorize}");
    let page = b.get(&authorize).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = b.login(&page, login, &initial).await;
    let page = b.change(&page, "Console-2026e").await;
    let callback = path_of(site, &page);
    assert!(callback.starts_with("/console/callback?"), "{callback}");
    let page = b.get(&callback).await;
    assert_eq!((page.status, path_of(site, &page).as_str()), (303, "/console/requests"), "{}", page.body);
    (b, callback)
}

#[tokio::test]
async fn console_sign_in_csrf_scope_and_escaping_over_http() {
    let site = Site::start().await;
    let hr = site.env.who("wangfang").await;
    let other = wf::submit(&site.env.app, &hr, open(94, profile("A7", "褚明", "C010", "M12", false))).await.unwrap();

    let (mut b, callback) = sign_in(&site, "yangyang").await;
    let page = b.get("/console/requests").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("我的申请") && page.body.contains("杨洋"), "{}", page.body);

    // The callback cannot be replayed: its one-time login cookie is gone (and the code spent).
    let again = b.get(&callback).await;
    assert_eq!(again.status, 400, "{}", again.body);
    // A forged state is refused.
    let page = b.get("/console/login").await;
    let authorize = path_of(&site, &page);
    let code_page = b.get(&authorize).await; // the SSO session answers at once
    let cb = path_of(&site, &code_page);
    let forged = cb.replace("state=", "state=x");
    assert_eq!(b.get(&forged).await.status, 400);

    // Security headers on console pages.
    let res = reqwest::get(format!("{}/console/signed-out", site.base)).await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("form-action 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(res.headers()["x-frame-options"], "DENY");

    // Another company's request, by id: refused on the page, and audited.
    let before = site.env.denials("out_of_scope").await;
    let page = b.get(&format!("/console/requests/{}", other.id)).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("无权操作") && !page.body.contains("褚明"), "{}", page.body);
    assert_eq!(site.env.denials("out_of_scope").await, before + 1);

    // A form without its CSRF token does nothing.
    let form = b.get("/console/requests/new?kind=open").await;
    assert_eq!(form.status, 200);
    let page = b.post("/console/requests/new", &[("kind", "open"), ("employee_number", "B6")]).await;
    assert_eq!(page.status, 400);
    // With it, bad fields come back escaped next to their fields, nothing submitted.
    let csrf = form.field("csrf");
    let page = b
        .post(
            "/console/requests/new",
            &[("csrf", &csrf), ("kind", "open"), ("employee_number", "B6"), ("name", "<script>alert(1)</script>")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"err-id_number\"") && page.body.contains("id=\"err-company\""), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.body.contains("<script>"));
    let mine =
        wf::requests(&site.env.app, &site.env.who("yangyang").await, &wf::RequestQuery::default()).await.unwrap();
    assert!(mine.iter().all(|r| r.employee_number != "B6"));

    // A request into a company outside the scope: refused (audited), shown above the form.
    let page = b
        .post(
            "/console/requests/new",
            &[
                ("csrf", &csrf),
                ("kind", "open"),
                ("id_number", &crate::hr::id_number(95)),
                ("employee_number", "D6"),
                ("name", "卫东"),
                ("company", "C022"),
                ("department", "综合部"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("id=\"error\"") && page.body.contains("无权操作"), "{}", page.body);

    // Signing out needs the CSRF token too, then ends the session: at the provider too, so that
    // the old console cookie, replayed, is no session any more.
    let home = b.get("/console/").await;
    let old_cookie = b.cookie("orgid_console").expect("a console session cookie");
    assert_eq!(b.post("/console/logout", &[("csrf", "forged")]).await.status, 400);
    let out = b.post("/console/logout", &[("csrf", &home.field("csrf"))]).await;
    assert_eq!(out.status, 303);
    let logout = path_of(&site, &out);
    assert!(logout.starts_with("/logout?") && logout.contains("id_token_hint="), "{logout}");
    assert_eq!(b.get("/console/requests").await.status, 303, "signed out");
    let bye = b.get(&logout).await;
    assert_eq!(bye.status, 303, "{}", bye.body);
    let mut replay = Browser::at(&site.base);
    replay.set_cookie("orgid_console", &old_cookie);
    let page = replay.get("/console/requests").await;
    assert!(path_of(&site, &page).starts_with("/console/login"), "a replayed cookie after sign-out: {}", page.status);
    site.stop().await;
}

/// The people page offers a password reset for active accounts in scope: it needs the CSRF
/// token, is refused (and audited) outside the scope, and without a notifier sets nothing and
/// shows no password.
#[tokio::test]
async fn the_people_page_resets_passwords_only_in_scope() {
    let site = Site::start().await;
    let (mut b, _) = sign_in(&site, "yangyang").await; // IT delegate of C021
    let page = b.get("/console/people").await;
    assert_eq!(page.status, 200);
    let action = "/console/accounts/liuqiang/reset-password";
    assert!(page.body.contains(&format!("action=\"{action}")), "{}", page.body);
    let csrf = page.field("csrf");
    assert_eq!(b.post(action, &[("csrf", "forged")]).await.status, 400, "no CSRF token, no reset");
    let before = site.env.denials("out_of_scope").await;
    let out = b.post("/console/accounts/chenjing/reset-password", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 403, "{}", out.body);
    assert_eq!(site.env.denials("out_of_scope").await, before + 1, "the refusal is audited");
    let hash =
        || async { orgid_directory::idp::CredentialStore::credential(&site.env.app.store, "liuqiang").await.unwrap() };
    let kept = hash().await;
    let page = b.post(action, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 422, "no notifier configured: {}", page.body);
    assert!(page.body.contains("notifier"), "{}", page.body);
    assert_eq!(hash().await, kept, "nothing changed");
    site.stop().await;
}

/// The roster-check page lists the differences of the companies in scope only, open ones first
/// and resolved ones on request, with the text escaped.
#[tokio::test]
async fn the_roster_check_page_shows_the_scope_only() {
    use orgid_directory::store::WorkflowStore;
    use orgid_directory::workflow::{CheckKind, RosterCheck};
    use orgid_directory::{CompanyCode, PersonKey};
    let site = Site::start().await;
    let check = |company: &str, number: &str, name: &str| RosterCheck {
        id: 0,
        company: CompanyCode(company.into()),
        person_key: PersonKey::from(format!("key-{number}")),
        employee_number: number.into(),
        name: name.into(),
        kind: CheckKind::Missing,
        detail: "<b>not in the directory</b>".into(),
        detail_zh: "<b>目录中没有</b>".into(),
        first_seen: chrono::Utc::now(),
        last_seen: chrono::Utc::now(),
        resolved_at: None,
    };
    let companies = [CompanyCode("C021".into()), CompanyCode("C022".into())];
    let seen = [check("C021", "R1", "韩梅"), check("C022", "R2", "李雷")];
    site.env.app.store.record_roster_checks(&companies, &seen, chrono::Utc::now()).await.unwrap();

    let (mut b, _) = sign_in(&site, "yangyang").await; // IT delegate of C021
    let page = b.get("/console/roster-checks").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("韩梅") && page.body.contains("缺少账号"), "{}", page.body);
    assert!(!page.body.contains("李雷"), "another company's check: {}", page.body);
    assert!(page.body.contains("&lt;b&gt;目录中没有&lt;/b&gt;") && !page.body.contains("<b>目录"), "{}", page.body);
    let en = b.get("/console/roster-checks?lang=en").await;
    assert!(en.body.contains("Roster checks") && en.body.contains("missing"), "{}", en.body);
    assert!(en.body.contains("&lt;b&gt;not in the directory&lt;/b&gt;") && !en.body.contains("目录中没有"));
    // Once the roster no longer differs, the check is resolved: gone from the open list.
    site.env.app.store.record_roster_checks(&companies, &[], chrono::Utc::now()).await.unwrap();
    assert!(!b.get("/console/roster-checks").await.body.contains("韩梅"));
    let all = b.get("/console/roster-checks?all=1").await;
    assert!(all.body.contains("韩梅") && all.body.contains("已解决"), "{}", all.body);
    site.stop().await;
}

/// The console session lives only as long as the provider session it signed in through: a
/// password reset (which ends every session of the account) ends it at once, cookie or not.
#[tokio::test]
async fn a_password_reset_ends_the_console_session() {
    let site = Site::start().await;
    let (mut b, _) = sign_in(&site, "yangyang").await;
    assert_eq!(b.get("/console/requests").await.status, 200);
    site.reset("yangyang").await;
    let page = b.get("/console/requests").await;
    assert!(path_of(&site, &page).starts_with("/console/login"), "after a reset: {}", page.status);
    site.stop().await;
}

#[tokio::test]
async fn console_roles_overdue_and_people_pages() {
    let site = Site::start().await;
    // Group IT grants a role with the console's form, then revokes it.
    let (mut admin, _) = sign_in(&site, "zhangwei").await;
    let page = admin.get("/console/roles").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"grant-form\""), "{}", page.body);
    let csrf = page.field("csrf");
    let form = [("csrf", csrf.as_str()), ("login", "liuqiang"), ("role", "company_hr"), ("company", "C021")];
    let done = admin.post("/console/roles", &form).await;
    assert_eq!((done.status, path_of(&site, &done).as_str()), (303, "/console/roles"), "{}", done.body);
    let grants = wf::list_roles(&site.env.app, &orgid_directory::workflow::Principal::operator()).await.unwrap();
    let g = grants.iter().find(|g| g.login == "liuqiang" && g.revoked_at.is_none()).expect("granted");
    let revoked = admin.post(&format!("/console/roles/{}/revoke", g.id), &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let grants = wf::list_roles(&site.env.app, &orgid_directory::workflow::Principal::operator()).await.unwrap();
    assert!(grants.iter().any(|x| x.id == g.id && x.revoked_at.is_some()));

    // A delegate sees no grant form, and a forged grant to itself is refused and audited.
    let (mut delegate, _) = sign_in(&site, "yangyang").await;
    let page = delegate.get("/console/roles").await;
    assert!(!page.body.contains("grant-form") && page.body.contains("信息运维岗"), "{}", page.body);
    let csrf = page.field("csrf");
    let before = site.env.denials("grant_roles").await;
    let form = [("csrf", csrf.as_str()), ("login", "yangyang"), ("role", "group_it_admin"), ("company", "G000")];
    let refused = delegate.post("/console/roles", &form).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(site.env.denials("grant_roles").await, before + 1);

    // People in scope, with search; the overdue page answers.
    let page = delegate.get("/console/people?search=%E5%88%98").await; // 刘
    // (杨洋 is in the top bar as the user; the table must not list B1.)
    assert!(page.body.contains(">刘强</td>") && !page.body.contains(">B1</td>"), "{}", page.body);
    // From the list to form 2, filled with the person's current record.
    assert!(page.body.contains("kind=adjust&amp;employee_number=B2"), "{}", page.body);
    let form = delegate.get("/console/requests/new?kind=adjust&employee_number=B2").await;
    assert_eq!(form.status, 200);
    assert_eq!((form.field("name"), form.field("department")), ("刘强".to_string(), "综合部".to_string()));
    assert!(form.body.contains("<option value=\"C021\" selected>"), "{}", form.body);
    // Not someone outside the scope: an empty form.
    let form = delegate.get("/console/requests/new?kind=adjust&employee_number=D2").await;
    assert!(!form.body.contains("陈静"), "{}", form.body);
    let page = delegate.get("/console/people?search=%E9%99%88%E9%9D%99").await; // 陈静, of C022
    assert!(!page.body.contains(">陈静</td>") && page.body.contains("暂无记录"), "{}", page.body);
    let page = delegate.get("/console/overdue?lang=en").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("lang=\"en\"") && page.body.contains("Overdue"), "{}", page.body);
    site.stop().await;
}

/// The ASCII words of a page's visible text (tags, the stylesheet and entities left out) that
/// are not among `allowed`: what the zh-CN catalogue should have said in Chinese.
fn english_words(html: &str, allowed: &[&str]) -> Vec<String> {
    let html = match (html.find("<style>"), html.find("</style>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &html[..a], &html[b..]),
        _ => html.to_string(),
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&amp;", " ").replace("&lt;", " ").replace("&gt;", " ").replace("&quot;", " ");
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && !allowed.contains(w))
        .map(str::to_string)
        .collect();
    words.dedup();
    words
}

/// The Chinese console says it in Chinese: HR's words (在职, 审批时间, 待确认), field errors of
/// form 1, refusals, and the login page's heading without a stray space.
#[tokio::test]
async fn the_chinese_console_speaks_chinese() {
    let site = Site::start().await;
    // Allowed: the language switch, the date format's letters, and every login (pinyin).
    let hr = site.env.who("wangfang").await;
    let r = wf::submit(&site.env.app, &hr, open(96, profile("A6", "秦岚", "C010", "M12", false))).await.unwrap();
    wf::approve(&site.env.app, &site.env.who("lina").await, r.id, true, "同意").await.unwrap();
    let everyone = wf::accounts(&site.env.app, &Principal::operator(), &wf::AccountQuery::default()).await.unwrap();
    let mut allowed = vec!["English", "YYYY", "GB"];
    allowed.extend(everyone.iter().map(|a| a.login.as_str()));

    // The login page: 登录到账号管理控制台.
    let mut b = Browser::at(&site.base);
    let page = b.get("/console/login").await;
    let page = b.get(&path_of(&site, &page)).await;
    assert!(page.body.contains("登录到账号管理控制台"), "{}", page.body);

    // HR of C010 and N001: a request approved by group HR shows when it was decided.
    let (mut b, _) = sign_in(&site, "wangfang").await;
    let page = b.get(&format!("/console/requests/{}", r.id)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let approvals = &page.body[page.body.find("id=\"approvals\"").expect("approvals table")..];
    assert!(approvals.contains("<th>审批时间</th>") && !approvals.contains("申请时间"), "{approvals}");
    assert_eq!(english_words(&page.body, &allowed), Vec::<String>::new(), "{}", page.body);
    // People: 在职 for people at work; 孙浩 (unrated N001) awaits confirmation: 待确认.
    let page = b.get("/console/people").await;
    assert!(page.body.contains(">在职</td>") && page.body.contains("待确认"), "{}", page.body);
    assert_eq!(english_words(&page.body, &allowed), Vec::<String>::new(), "{}", page.body);
    // Resetting a password of C010 is its IT delegate's: refused, in Chinese.
    let refused = b.post("/console/accounts/wangfang/reset-password", &[("csrf", &page.field("csrf"))]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("无权操作："), "{}", refused.body);
    assert_eq!(english_words(&refused.body, &allowed), Vec::<String>::new(), "{}", refused.body);
    // Form 1 with bad fields: every error in Chinese next to its field.
    let form = b.get("/console/requests/new?kind=open").await;
    let bad_id = format!("{}0", &crate::hr::id_number(97)[..17]);
    let bad_id = if bad_id == crate::hr::id_number(97) { format!("{}1", &bad_id[..17]) } else { bad_id };
    let page = b
        .post(
            "/console/requests/new",
            &[
                ("csrf", &form.field("csrf")),
                ("kind", "open"),
                ("id_number", &bad_id),
                ("employee_number", "A5"),
                ("name", "邓超"),
                ("company", "C010"),
                ("department", "综合部"),
                ("grade", "Q99"),
                ("email", "123"),
                ("mobile", "12345"),
                ("effective_date", "2026-13-01"),
            ],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    for field in ["id_number", "grade", "email", "mobile", "effective_date"] {
        assert!(page.body.contains(&format!("id=\"err-{field}\"")), "{field}: {}", page.body);
    }
    assert!(page.body.contains("校验码不符") && page.body.contains("不是有效的职级"), "{}", page.body);
    assert_eq!(english_words(&page.body, &allowed), Vec::<String>::new(), "{}", page.body);
    // A refusal outside the scope, on the form.
    let page = b
        .post(
            "/console/requests/new",
            &[
                ("csrf", &form.field("csrf")),
                ("kind", "open"),
                ("id_number", &crate::hr::id_number(98)),
                ("employee_number", "D7"),
                ("name", "卫东"),
                ("company", "C022"),
                ("department", "综合部"),
            ],
        )
        .await;
    assert!(page.body.contains("无权操作："), "{}", page.body);
    assert_eq!(english_words(&page.body, &allowed), Vec::<String>::new(), "{}", page.body);
    // English stays available.
    let en = b.get(&format!("/console/requests/{}?lang=en", r.id)).await;
    assert!(en.body.contains("Decided at"), "{}", en.body);
    site.stop().await;
}

/// The people page offers only what the user may do: a company's HR gets form 2 and closing for
/// its people but no password reset (the IT delegate's), the confidential office nothing for
/// people in no confidential post, and the IT delegate of an independent company all of it.
#[tokio::test]
async fn the_people_page_offers_only_permitted_actions() {
    let site = Site::start().await;
    let reset = |login: &str| format!("action=\"/console/accounts/{login}/reset-password");
    let adjust = |number: &str| format!("kind=adjust&amp;employee_number={number}");

    let (mut hr, _) = sign_in(&site, "wangfang").await; // HR of C010 (group-operated) and N001
    let page = hr.get("/console/people").await;
    assert!(page.body.contains(&adjust("A1")), "form 2 for C010's people: {}", page.body);
    assert!(!page.body.contains("reset-password"), "resets are the IT delegate's: {}", page.body);

    let (mut office, _) = sign_in(&site, "zhaomin").await; // confidential office, the whole group
    let page = office.get("/console/people").await;
    assert!(page.body.contains(">刘强</td>"), "it sees everyone: {}", page.body);
    assert!(
        !page.body.contains("reset-password")
            && !page.body.contains("kind=adjust")
            && !page.body.contains("kind=close"),
        "but acts on confidential posts only: {}",
        page.body
    );

    let (mut delegate, _) = sign_in(&site, "yangyang").await; // IT delegate of independent C021
    let page = delegate.get("/console/people").await;
    assert!(page.body.contains(&reset("liuqiang")) && page.body.contains(&adjust("B2")), "{}", page.body);
    assert!(!page.body.contains(&reset("yangyang")), "not one's own password: {}", page.body);
    site.stop().await;
}
