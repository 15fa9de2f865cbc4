//! Headless Chromium for browser tests, driven over the W3C WebDriver HTTP protocol: Debian's
//! `chromium` and `chromium-driver` (`chromedriver` on a free port, one per browser, with a fresh
//! profile directory). Missing binaries fail the test with the install command; they never make a
//! test pass silently.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

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
    url: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// A page element (its WebDriver reference).
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port and opens a session.
    pub async fn start() -> Browser {
        let install = "install them with `apt-get install -y chromium chromium-driver`";
        crate::require(CHROMEDRIVER, install);
        crate::require(CHROMIUM, install);
        let profile = tempfile::Builder::new()
            .prefix("orgid-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir for the browser profile: {e}"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|e| panic!("HTTP client: {e}"));
        for _attempt in 0..3 {
            let port = crate::free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
            let url = format!("http://127.0.0.1:{port}");
            let mut ready = false;
            for _ in 0..100 {
                if let Ok(Some(_)) = driver.try_wait() {
                    break;
                }
                if let Ok(r) = http.get(format!("{url}/status")).send().await
                    && let Ok(v) = r.json::<Value>().await
                    && v["value"]["ready"] == true
                {
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
            let mut browser = Browser { driver, url, http: http.clone(), _profile: profile };
            browser.open_session().await;
            return browser;
        }
        panic!("{CHROMEDRIVER} did not become ready on three ports");
    }

    async fn open_session(&mut self) {
        let mut args: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", self._profile.path().display()));
        // A browser of a user in China: pages must come in Chinese without asking.
        args.push("--lang=zh-CN".into());
        args.push("--window-size=1280,900".into());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": {"intl.accept_languages": "zh-CN,zh"},
            },
        }}});
        let res = self.http.post(format!("{}/session", self.url)).json(&caps).send().await;
        let v: Value = match res {
            Ok(r) => r.json().await.unwrap_or_else(|e| panic!("new session answer: {e}")),
            Err(e) => panic!("new session: {e}"),
        };
        let Some(id) = v["value"]["sessionId"].as_str() else { panic!("chromedriver refused a session: {v}") };
        self.url = format!("{}/session/{id}", self.url);
        self.cmd("POST", "/timeouts", json!({"implicit": 5000, "pageLoad": 30000})).await;
    }

    /// One WebDriver command; panics with the driver's error.
    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let res = req.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = res.status();
        let v: Value = res.json().await.unwrap_or_else(|e| panic!("WebDriver {method} {path} answer: {e}"));
        if !status.is_success() {
            panic!("WebDriver {method} {path} failed ({status}): {}", v["value"]);
        }
        v["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url })).await;
    }

    /// The current address.
    pub async fn current_url(&self) -> String {
        self.cmd("GET", "/url", Value::Null).await.as_str().unwrap_or_default().to_string()
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", Value::Null).await.as_str().unwrap_or_default().to_string()
    }

    /// The first element matching the CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let v = self.cmd("POST", "/element", json!({"using": "css selector", "value": css})).await;
        match v[ELEMENT].as_str() {
            Some(id) => Element(id.to_string()),
            None => panic!("no element {css}: {v}"),
        }
    }

    /// Every element matching the CSS selector (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self.cmd("POST", "/elements", json!({"using": "css selector", "value": css})).await;
        v.as_array()
            .map(|a| a.iter().filter_map(|e| e[ELEMENT].as_str()).map(|id| Element(id.to_string())).collect())
            .unwrap_or_default()
    }

    /// Types `text` into the field matching `css`, replacing its content.
    pub async fn fill(&self, css: &str, text: &str) {
        let Element(id) = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/clear"), json!({})).await;
        self.cmd("POST", &format!("/element/{id}/value"), json!({ "text": text })).await;
    }

    /// Chooses the option with `value` in the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let option = format!("{css} option[value=\"{value}\"]");
        self.click(&option).await;
    }

    /// Clicks the element matching `css` (a submit button waits for the next page to load).
    pub async fn click(&self, css: &str) {
        let Element(id) = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({})).await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let Element(id) = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/text"), Value::Null).await.as_str().unwrap_or_default().to_string()
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

    /// Ends the session (closing Chromium) and stops chromedriver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(self.url.clone()).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a panic the session was not ended: stopping the driver also ends its Chromium.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
