//! Every console page, as each role, in headless Chromium at a phone's 390×844 (mobile
//! emulation) and at 1280×800: no page wider than its viewport, nothing on it that the zh-CN
//! catalogues do not say (the data it is about aside), and a screenshot of each, written under
//! the test output folder (`target/tmp/console-walk/`) with its path printed.

use orgid::services::workflow as wf;
use orgid_directory::CompanyStore;
use orgid_directory::workflow::Principal;
use orgid_idp::i18n::{Lang, untranslated};
use orgid_tests::Browser;
use orgid_tests::browser::Viewport;

use crate::browser::{Site, console_login};
use crate::workflow::{open, profile};

/// One login per role of the workflow group (`workflow::Env`).
const ROLES: [(&str, &str); 7] = [
    ("zhangwei", "group_it_admin"),
    ("lina", "group_hr"),
    ("wanglei", "strategy_office"),
    ("zhaomin", "confidential_office"),
    ("wangfang", "company_hr"),
    ("yangyang", "company_it"),
    ("wugang", "security_auditor"),
];

/// The console's pages (`{id}`: a request's number).
const PAGES: [&str; 12] = [
    "/console/",
    "/console/requests",
    "/console/requests?all=1",
    "/console/requests/{id}",
    "/console/requests/new?kind=open",
    "/console/requests/new?kind=adjust",
    "/console/requests/new?kind=close",
    "/console/inbox",
    "/console/people",
    "/console/overdue",
    "/console/roster-checks?all=1",
    "/console/roles",
];

/// The values the pages show about the group: names, logins, numbers, companies, departments.
async fn data(site: &Site) -> Vec<String> {
    let app = &site.env.app;
    let mut out = Vec::new();
    for p in wf::people(app, &Principal::operator(), &wf::AccountQuery::default()).await.unwrap() {
        out.extend([p.employee_number, p.name, p.department, p.title, p.company.0]);
        out.extend(p.grade);
        out.extend(p.login);
    }
    for c in app.store.companies().await.unwrap() {
        out.extend([c.code.0, c.name]);
    }
    for r in wf::requests(app, &Principal::operator(), &Default::default()).await.unwrap() {
        out.extend([r.name.clone(), r.employee_number.clone()]);
        // A person's login; orgid's own actors (`sync`, `cli`) must be said in words.
        out.extend(Some(r.requested_by.clone()).filter(|by| by != "sync" && by != "cli"));
        out.extend([r.profile.department.clone(), r.profile.title.clone(), r.profile.email.clone()]);
        out.extend(r.approvals.iter().map(|a| a.comment.clone()));
    }
    out
}

#[tokio::test]
async fn every_console_page_fits_a_phone_and_a_desktop_and_speaks_the_catalogue() {
    // Without a Chinese font every CJK character is a box of another width: the page measured
    // would not be the one people see.
    let fonts = std::process::Command::new("fc-list").arg(":lang=zh").output().map(|o| o.stdout).unwrap_or_default();
    assert!(!fonts.is_empty(), "no Chinese font: install it with `apt-get install -y fonts-noto-cjk`");
    let site = Site::start().await;
    // Something in every list: a request of C010 awaiting group HR.
    let hr = site.env.who("wangfang").await;
    let r = wf::submit(&site.env.app, &hr, open(96, profile("A6", "秦岚", "C010", "M12", false))).await.unwrap();
    let data = data(&site).await;
    let data: Vec<&str> = data.iter().map(String::as_str).collect();
    let texts = || {
        let console = orgid::http::console::CONSOLE.of(Lang::Zh).texts();
        console.chain(orgid_idp::i18n::PROVIDER.of(Lang::Zh).texts())
    };
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-walk");
    let mut problems = Vec::new();
    let mut shots = 0;
    for viewport in [Viewport::Phone(390, 844), Viewport::Desktop(1280, 800)] {
        let b = Browser::start_on(viewport).await;
        for (n, (login, role)) in ROLES.iter().enumerate() {
            let initial = site.reset(login).await;
            console_login(&b, &site.base, login, &initial, &format!("Walk-2026-{n}{}", viewport.name())).await;
            for page in PAGES {
                let path = page.replace("{id}", &r.id.to_string());
                b.goto(&format!("{}{path}", site.base)).await;
                b.find("main").await;
                let size = b.eval("return [document.documentElement.scrollWidth, window.innerWidth];").await;
                let (scroll, inner) = (size[0].as_i64().unwrap(), size[1].as_i64().unwrap());
                if scroll > inner {
                    problems.push(format!("{role} {} {path}: {scroll} px wide in {inner}", viewport.name()));
                }
                let text = b.eval("return document.body.innerText;").await;
                let missing = untranslated(text.as_str().unwrap(), texts(), &data);
                if !missing.is_empty() {
                    problems
                        .push(format!("{role} {} {path}: not in the zh-CN catalogue: {missing:?}", viewport.name()));
                }
                let name: String = path
                    .trim_start_matches("/console/")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let file = out_dir.join(format!(
                    "{}-{role}-{}.png",
                    viewport.name(),
                    if name.is_empty() { "home" } else { &name }
                ));
                b.screenshot(&file).await;
                println!("screenshot: {}", file.display());
                shots += 1;
            }
            // On a phone the menu is folded away behind its button, and opens.
            if matches!(viewport, Viewport::Phone(..)) {
                b.goto(&format!("{}/console/", site.base)).await;
                let shown = "return getComputedStyle(document.getElementById('menu')).display;";
                assert_eq!(b.eval(shown).await, "none", "the menu is folded on a phone");
                b.click("#menu-button").await;
                assert_eq!(b.eval(shown).await, "flex", "and opens from its button");
            }
            b.click("#logout").await;
            b.wait_for_text("id=\"signin\"", 10).await;
        }
        b.quit().await;
    }
    assert_eq!(shots, 2 * ROLES.len() * PAGES.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    site.stop().await;
}
