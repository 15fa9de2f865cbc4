//! Headless Chromium for browser tests: Debian's `chromium` and `chromium-driver` (`chromedriver`
//! on a free port, one per browser, with a fresh profile directory), driven with the fantoccini
//! WebDriver client over plain HTTP. Missing binaries fail the test with the install command; they
//! never make a test pass silently.

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long one WebDriver command may take before the test fails (a hung driver or browser).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Browser::find`] waits for its element.
const FIND_TIMEOUT: Duration = Duration::from_secs(5);

/// The flags every test browser runs with: headless, no sandbox (tests may run as root), and no
/// network traffic of its own (updates, sync, QUIC probing).
pub const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// One headless Chromium with its own chromedriver and profile.
pub struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

/// A page element.
#[derive(Debug, Clone)]
pub struct Element(fantoccini::elements::Element);

/// Runs one WebDriver command: its value, or a panic naming `what` with the driver's error.
async fn run<T, E: std::fmt::Display>(what: &str, command: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("WebDriver {what} failed: {e}"),
        Err(_) => panic!("WebDriver {what}: no answer within {COMMAND_TIMEOUT:?}"),
    }
}

/// The screen a browser test looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    /// A desktop window of this size.
    Desktop(u32, u32),
    /// A phone of this CSS size (chromedriver's mobile emulation, pixel ratio 3, touch).
    Phone(u32, u32),
}

impl Viewport {
    /// A short name for file names: `390x844` or `1280x800`.
    pub fn name(self) -> String {
        match self {
            Viewport::Desktop(w, h) | Viewport::Phone(w, h) => format!("{w}x{h}"),
        }
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session (a 1280×900 desktop window).
    pub async fn start() -> Browser {
        Browser::start_on(Viewport::Desktop(1280, 900)).await
    }

    /// Starts chromedriver on a free port and opens a session looking through `viewport`.
    pub async fn start_on(viewport: Viewport) -> Browser {
        let install = "install them with `apt-get install -y chromium chromium-driver`";
        crate::require(CHROMEDRIVER, install);
        crate::require(CHROMIUM, install);
        let profile = tempfile::Builder::new()
            .prefix("orgid-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir for the browser profile: {e}"));
        for _attempt in 0..3 {
            let port = crate::free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
            // Ready once it listens; it exits at once if the port was taken meanwhile.
            let mut ready = false;
            for _ in 0..100 {
                if let Ok(Some(_)) = driver.try_wait() {
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !ready {
                let _ = driver.kill();
                let _ = driver.wait();
                continue;
            }
            let session = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities(profile.path(), viewport))
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            let client = match session {
                Ok(client) => client,
                Err(e) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    panic!("chromedriver refused a session: {e}");
                }
            };
            let browser = Browser { driver, client, _profile: profile };
            // Elements are waited for by `find` alone (`find_all` takes the page as it is).
            let timeouts = TimeoutConfiguration::new(None, Some(Duration::from_secs(30)), Some(Duration::ZERO));
            run("set timeouts", browser.client.update_timeouts(timeouts)).await;
            return browser;
        }
        panic!("{CHROMEDRIVER} did not become ready on three ports");
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        run(&format!("goto {url}"), self.client.goto(url)).await;
    }

    /// The current address.
    pub async fn current_url(&self) -> String {
        run("current url", self.client.current_url()).await.to_string()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        run("page source", self.client.source()).await
    }

    /// The first element matching the CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let wait = self.client.wait().at_most(FIND_TIMEOUT).every(Duration::from_millis(50));
        match tokio::time::timeout(COMMAND_TIMEOUT, wait.for_element(Locator::Css(css))).await {
            Ok(Ok(e)) => Element(e),
            Ok(Err(e)) => panic!("no element {css}: {e}"),
            Err(_) => panic!("WebDriver find {css}: no answer within {COMMAND_TIMEOUT:?}"),
        }
    }

    /// Every element matching the CSS selector (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        run(&format!("find all {css}"), self.client.find_all(Locator::Css(css)))
            .await
            .into_iter()
            .map(Element)
            .collect()
    }

    /// Types `text` into the field matching `css`, replacing its content.
    /// A date field (`type=date`) takes its ISO value directly: typed keys would go to its
    /// segments in the locale's order.
    pub async fn fill(&self, css: &str, text: &str) {
        let Element(e) = self.find(css).await;
        if run(&format!("type of {css}"), e.attr("type")).await.as_deref() == Some("date") {
            let script = "document.querySelector(arguments[0]).value = arguments[1];";
            run(&format!("set {css}"), self.client.execute(script, vec![json!(css), json!(text)])).await;
            return;
        }
        run(&format!("clear {css}"), e.clear()).await;
        run(&format!("type into {css}"), e.send_keys(text)).await;
    }

    /// Chooses the option with `value` in the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let Element(e) = self.find(css).await;
        run(&format!("select {value} in {css}"), e.select_by_value(value)).await;
    }

    /// Clicks the element matching `css` (a submit button waits for the next page to load).
    pub async fn click(&self, css: &str) {
        let Element(e) = self.find(css).await;
        run(&format!("click {css}"), e.click()).await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let Element(e) = self.find(css).await;
        run(&format!("text of {css}"), e.text()).await
    }

    /// Waits up to `secs` for the page source to contain `needle`; returns the source.
    pub async fn wait_for_text(&self, needle: &str, secs: u64) -> String {
        let mut source = String::new();
        for _ in 0..secs * 5 {
            source = self.source().await;
            if source.contains(needle) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("`{needle}` did not appear within {secs} s at {}:\n{source}", self.current_url().await);
    }

    /// Runs `script` (a function body: `return …;`) in the page; its result.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        run("execute script", self.client.execute(script, Vec::new())).await
    }

    /// A PNG of what the window shows, written to `path` (its folder made).
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = run("screenshot", self.client.screenshot()).await;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// The cookies the browser sends to the current page's site: (name, value).
    pub async fn cookies(&self) -> Vec<(String, String)> {
        run("get cookies", self.client.get_all_cookies())
            .await
            .into_iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect()
    }

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, self.client.clone().close()).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The session's capabilities: Chromium with [`FLAGS`], the profile in `profile`, a desktop
/// window, and Chinese as the page language.
fn capabilities(profile: &std::path::Path, viewport: Viewport) -> Capabilities {
    let mut args: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    // A browser of a user in China: pages must come in Chinese without asking.
    args.push("--lang=zh-CN".into());
    let mut options = json!({
        "binary": CHROMIUM,
        "prefs": {"intl.accept_languages": "zh-CN,zh"},
    });
    match viewport {
        Viewport::Desktop(w, h) => args.push(format!("--window-size={w},{h}")),
        Viewport::Phone(w, h) => {
            args.push(format!("--window-size={w},{h}"));
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": w, "height": h, "pixelRatio": 3.0, "touch": true}});
        }
    }
    options["args"] = json!(args);
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("pageLoadStrategy".into(), json!("normal"));
    caps.insert("goog:chromeOptions".into(), options);
    caps
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a panic the session was not ended: stopping the driver also ends its Chromium.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
