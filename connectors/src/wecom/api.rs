//! WeCom's server API (qyapi.weixin.qq.com): the access token (gettoken, 7200 s, refreshed once
//! when WeCom says it is invalid or expired: 40014, 42001), frequency limits (45009, 45011,
//! 45033: wait and try again, never fail the run for them), and the JSON calls of the address book.
//! The token travels in the query string: errors never carry the URL (`without_url`), and the
//! secret and the token are never logged.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex as StdMutex};
use std::time::{Duration, Instant};

use orgid_config::{Secret, WecomConfig};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::warn;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WecomError {
    /// WeCom cannot be used now (network, server, a refused secret, limits that do not lift).
    #[error("WeCom is not available: {0}")]
    Unavailable(String),
    /// WeCom answered with an error code.
    #[error("WeCom answered errcode {code}: {msg}")]
    Api { code: i64, msg: String },
}

impl WecomError {
    pub fn code(&self) -> Option<i64> {
        match self {
            WecomError::Api { code, .. } => Some(*code),
            WecomError::Unavailable(_) => None,
        }
    }
}

/// errcodes of a token that must be fetched again.
const TOKEN_CODES: [i64; 3] = [40014, 42001, 41001];
/// errcodes of frequency and concurrency limits.
const LIMIT_CODES: [i64; 4] = [45009, 45011, 45033, 45035];
/// Waits on a frequency limit before giving up for this drain.
const LIMIT_TRIES: u32 = 8;

/// Access tokens by credential (base URL, corp id, SHA-256 of the secret), with when they stop
/// being used: WeCom asks callers to keep a token for its `expires_in` rather than ask again
/// (gettoken has its own frequency limit), so one process shares it between pushes.
static TOKENS: LazyLock<StdMutex<HashMap<String, (String, Instant)>>> = LazyLock::new(Default::default);
/// A token is fetched again this long before WeCom says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

fn cached(key: &str) -> Option<String> {
    let cache = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    cache.get(key).filter(|(_, until)| *until > Instant::now()).map(|(t, _)| t.clone())
}

/// One WeCom credential (corp id and a secret) and its access token (see `TOKENS`).
pub struct Api {
    http: reqwest::Client,
    base: String,
    corp_id: String,
    secret: Secret,
    /// Its key in `TOKENS`; held while a token is fetched, so that one fetch serves all.
    key: String,
    fetching: Mutex<()>,
    throttle: Duration,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).field("corp_id", &self.corp_id).finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(cfg: &WecomConfig, secret: &Secret) -> Result<Api, WecomError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| WecomError::Unavailable(e.without_url().to_string()))?;
        Ok(Api {
            http,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            corp_id: cfg.corp_id.clone(),
            secret: secret.clone(),
            key: format!(
                "{}\n{}\n{}",
                cfg.base_url,
                cfg.corp_id,
                hex(ring::digest::digest(&ring::digest::SHA256, secret.expose().as_bytes()).as_ref())
            ),
            fetching: Mutex::new(()),
            throttle: Duration::from_millis(cfg.throttle_ms),
        })
    }

    /// The cached token, or a new one.
    async fn token(&self) -> Result<String, WecomError> {
        if let Some(t) = cached(&self.key) {
            return Ok(t);
        }
        let _one = self.fetching.lock().await;
        if let Some(t) = cached(&self.key) {
            return Ok(t);
        }
        let url = format!("{}/cgi-bin/gettoken", self.base);
        let query = [("corpid", self.corp_id.as_str()), ("corpsecret", self.secret.expose())];
        let v = self.send(self.http.get(url).query(&query)).await?;
        match v.get("access_token").and_then(Value::as_str) {
            Some(t) if errcode(&v) == 0 => {
                let secs = v.get("expires_in").and_then(Value::as_u64).unwrap_or(7200);
                let until = Instant::now() + Duration::from_secs(secs).saturating_sub(TOKEN_MARGIN);
                TOKENS.lock().unwrap_or_else(|e| e.into_inner()).insert(self.key.clone(), (t.to_string(), until));
                Ok(t.to_string())
            }
            _ => Err(WecomError::Unavailable(format!(
                "WeCom refused the corp id or the secret: errcode {}: {}",
                errcode(&v),
                errmsg(&v)
            ))),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, WecomError> {
        let resp = req.send().await.map_err(|e| WecomError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(WecomError::Unavailable(format!("HTTP {status}")));
        }
        resp.json::<Value>().await.map_err(|e| WecomError::Unavailable(format!("not JSON: {}", e.without_url())))
    }

    /// Calls `path` (GET with `query`, or POST with `body`), with the token, refreshed once if
    /// WeCom says it is invalid or expired, waiting out frequency limits.
    pub async fn call(&self, path: &str, query: &[(&str, String)], body: Option<&Value>) -> Result<Value, WecomError> {
        let mut refreshed = false;
        let mut limited = 0u32;
        loop {
            let token = self.token().await?;
            let url = format!("{}/cgi-bin/{path}", self.base);
            let mut q: Vec<(&str, &str)> = vec![("access_token", token.as_str())];
            q.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
            let req = match body {
                Some(b) => self.http.post(url).query(&q).json(b),
                None => self.http.get(url).query(&q),
            };
            let v = self.send(req).await?;
            let code = errcode(&v);
            if code == 0 {
                return Ok(v);
            }
            if TOKEN_CODES.contains(&code) && !refreshed {
                refreshed = true;
                let mut cache = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
                if cache.get(&self.key).is_some_and(|(t, _)| *t == token) {
                    cache.remove(&self.key);
                }
                continue;
            }
            if LIMIT_CODES.contains(&code) {
                limited += 1;
                if limited > LIMIT_TRIES {
                    return Err(WecomError::Unavailable(format!(
                        "frequency limit (errcode {code}) did not lift after {LIMIT_TRIES} waits"
                    )));
                }
                let wait = self.throttle.saturating_mul(1 << limited.min(5)).min(Duration::from_secs(60));
                warn!(errcode = code, wait_ms = wait.as_millis() as u64, "WeCom frequency limit: slowing down");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(WecomError::Api { code, msg: errmsg(&v) });
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, WecomError> {
        self.call(path, &[], Some(body)).await
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, WecomError> {
        self.call(path, query, None).await
    }

    /// A text message from the app to members (`touser` joined with `|`).
    pub async fn send_text(&self, agent_id: i64, to: &[&str], content: &str) -> Result<Value, WecomError> {
        let body =
            json!({"touser": to.join("|"), "msgtype": "text", "agentid": agent_id, "text": {"content": content}});
        self.post("message/send", &body).await
    }
}

fn errcode(v: &Value) -> i64 {
    v.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

fn errmsg(v: &Value) -> String {
    v.get("errmsg").and_then(Value::as_str).unwrap_or_default().chars().take(200).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
