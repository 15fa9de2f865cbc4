//! The console in headless Chromium (Debian's chromium and chromedriver): a real browser signs
//! in through orgid's own login pages and uses the server-rendered console.

use orgid_tests::Browser;

use crate::oidc::Op;
use crate::sync::Backend;

/// Signs in to the console at `base` through the provider's login page, changing the one-time
/// initial password on the way (as a new user does).
pub(crate) async fn console_login(b: &Browser, base: &str, login: &str, initial: &str, new: &str) {
    b.goto(&format!("{base}/console/")).await;
    // Sent to the provider's login page (zh-CN by default), naming the console.
    let page = b.wait_for_text("统一身份认证", 10).await;
    assert!(page.contains("账号管理控制台"), "{page}");
    assert!(b.current_url().await.starts_with(&format!("{base}/authorize?")), "{}", b.current_url().await);
    b.fill("#login", login).await;
    b.fill("#password", initial).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("初始密码", 10).await;
    b.fill("#new", new).await;
    b.fill("#repeat", new).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("id=\"greeting\"", 10).await;
}

#[tokio::test]
async fn a_user_signs_in_to_the_console_through_the_login_page_and_out_again() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("wangfang").await;
    let b = Browser::start().await;
    console_login(&b, &op.base, "wangfang", &initial, "Autumn-2026b").await;

    assert_eq!(b.current_url().await, format!("{}/console/", op.base));
    assert_eq!(b.text("#greeting").await, "您好，王芳");
    assert_eq!(b.text("#login").await, "wangfang");
    let page = b.source().await;
    assert!(page.contains("lang=\"zh-CN\"") && page.contains("C010"), "{page}");

    // English on request, same session.
    b.goto(&format!("{}/console/?lang=en", op.base)).await;
    assert_eq!(b.text("#greeting").await, "Hello, 王芳");

    // Sign out: the console and the provider's session end; the console asks for a login again.
    b.click("#logout").await;
    b.wait_for_text("id=\"signin\"", 10).await;
    assert!(b.current_url().await.starts_with(&format!("{}/console/signed-out", op.base)));
    b.goto(&format!("{}/console/", op.base)).await;
    b.wait_for_text("统一身份认证", 10).await;
    assert!(b.find_all("#password").await.len() == 1, "the login form again, no silent SSO");
    b.quit().await;
    op.stop().await;
}
