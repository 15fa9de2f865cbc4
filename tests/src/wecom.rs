//! A WeCom (企业微信) API double: an HTTP server on a free loopback port that answers the server
//! API of qyapi.weixin.qq.com as WeCom documents it (developer.work.weixin.qq.com, 服务端API):
//! `/cgi-bin/gettoken` (an `access_token` for a corp id and a secret, `expires_in` 7200),
//! 通讯录管理 (`department/create|update|delete|list|simplelist`, `user/create|update|delete|get|
//! list|simplelist|list_id`), 消息推送 (`message/send`) and 身份验证 (`auth/getuserinfo`). Every
//! answer carries `errcode` and `errmsg`; the documented errors are produced where WeCom produces
//! them (40013 bad corp id, 40001 bad secret, 41001 no token, 40014 bad token, 42001 expired
//! token, 45009 frequency limit, 60003 department not found, 60004 parent not found, 60005/60006
//! department not empty, 60008 department exists, 60009 bad department name, 60102 userid exists,
//! 60104 mobile taken, 60106 email taken, 60111 userid not found, 60112 bad name, 60129 neither
//! mobile nor email, 40003 bad userid, 40058 bad parameter, 60011 no privilege), and tests switch
//! some on (`expire_tokens`, `limit_next`, `set_delay`) or make them happen (`add_user` by hand,
//! then a create of the same userid answers 60102). Departments keep the `order` they are
//! created or updated with (次序值 in [0, 2^32), larger first; `children` lists them so). The
//! client sees only `base_url()`.
//!
//! It also stands in for WeCom's two sign-in pages: 网页授权 (`/connect/oauth2/authorize`, with
//! `appid`, `redirect_uri`, `response_type=code`, `scope=snsapi_base`, `state`, `agentid`) and
//! Web 登录 (`/wwlogin/sso/login`, `login_type=CorpApp`). Both check the corp id, the agent id, the
//! state's form (`a-zA-Z0-9`, at most 128 bytes) and, when set, the app's trusted domain, then send
//! the browser back with a code for whoever a test signed in (`sign_in_as`, `sign_in_outsider`):
//! a code that `auth/getuserinfo` takes once, within five minutes (else 40029), giving a userid, or
//! only an `openid` for someone outside the enterprise. `fail_messages` makes `message/send`
//! answer an errcode.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Json;
use axum::routing::any;
use serde_json::{Value, json};

/// What a member is in the double (the fields orgid sends and reads back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WecomUser {
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub email: String,
    pub position: String,
    pub department: Vec<i64>,
    pub enable: bool,
    pub extattr: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WecomDept {
    pub id: i64,
    pub name: String,
    pub parent: i64,
    /// 次序值 among its siblings: larger first.
    pub order: i64,
}

/// A message the app sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub touser: String,
    pub content: String,
}

#[derive(Debug)]
struct Token {
    app: bool,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, Token>,
    issued: u64,
    depts: BTreeMap<i64, WecomDept>,
    /// By lower-cased userid (WeCom's userids are case-insensitive).
    users: BTreeMap<String, WecomUser>,
    messages: Vec<SentMessage>,
    /// (path, errcode) of every call, in order.
    calls: Vec<(String, i64)>,
    limit_next: u32,
    delay: Duration,
    /// Sign-in codes: the userid (or, for a non-member, an openid) and when the code dies.
    codes: HashMap<String, (Identity, Instant)>,
    /// Who is signed in to WeCom in "the browser" (the app, or the phone that scans the QR code).
    signed_in: Option<Identity>,
    /// The app's trusted domain (可信域名): a redirect_uri elsewhere is refused.
    trusted_domain: Option<String>,
    /// `message/send` answers this errcode while set (a test's outage).
    send_error: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    Member(String),
    /// Not a member of the enterprise: auth/getuserinfo gives an `openid` only.
    Outsider(String),
}

/// How long a sign-in code lives (WeCom: five minutes, used once).
pub const CODE_SECS: u64 = 300;

#[derive(Debug)]
struct Shared {
    corp_id: String,
    contacts_secret: String,
    app_secret: String,
    agent_id: i64,
    inner: Mutex<Inner>,
}

/// The running double; stopped when dropped.
#[derive(Debug)]
pub struct WecomDouble {
    shared: Arc<Shared>,
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

pub const CORP_ID: &str = "ww0123456789abcdef";
pub const CONTACTS_SECRET: &str = "contacts-secret-for-tests";
pub const APP_SECRET: &str = "app-secret-for-tests";
pub const AGENT_ID: i64 = 1000002;

/// The lifetime WeCom gives an access token.
pub const TOKEN_SECS: u64 = 7200;

impl Drop for WecomDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WecomDouble {
    /// Starts the double with an enterprise that has only its root department (id 1).
    pub async fn start() -> WecomDouble {
        let mut inner = Inner::default();
        inner.depts.insert(1, WecomDept { id: 1, name: "示例集团".into(), parent: 0, order: 0 });
        let shared = Arc::new(Shared {
            corp_id: CORP_ID.into(),
            contacts_secret: CONTACTS_SECRET.into(),
            app_secret: APP_SECRET.into(),
            agent_id: AGENT_ID,
            inner: Mutex::new(inner),
        });
        let app = Router::new()
            .route("/cgi-bin/{*path}", any(handle))
            .route("/connect/oauth2/authorize", axum::routing::get(oauth2_authorize))
            .route("/wwlogin/sso/login", axum::routing::get(web_login))
            .with_state(shared.clone());
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("binding the double: {e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("its address: {e}")).port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WecomDouble { shared, port, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every token issued so far expires now (the next call with one answers 42001).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in self.inner().tokens.values_mut() {
            t.expires = now;
        }
    }

    /// The next `n` API calls (not gettoken) answer 45009 (接口调用超过限制).
    pub fn limit_next(&self, n: u32) {
        self.inner().limit_next = n;
    }

    /// Every call waits this long before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.inner().delay = delay;
    }

    /// A member made by hand in the admin console.
    pub fn add_user(&self, userid: &str, name: &str, department: i64) {
        let user = WecomUser {
            userid: userid.into(),
            name: name.into(),
            mobile: String::new(),
            email: format!("{userid}@hand.example"),
            position: String::new(),
            department: vec![department],
            enable: true,
            extattr: json!({"attrs": []}),
        };
        self.inner().users.insert(userid.to_ascii_lowercase(), user);
    }

    /// A member made by hand with this mobile number.
    pub fn add_user_with_mobile(&self, userid: &str, name: &str, department: i64, mobile: &str) {
        self.add_user(userid, name, department);
        if let Some(u) = self.inner().users.get_mut(&userid.to_ascii_lowercase()) {
            u.mobile = mobile.into();
        }
    }

    /// A member deleted by hand in the admin console.
    pub fn remove_user(&self, userid: &str) -> bool {
        self.inner().users.remove(&userid.to_ascii_lowercase()).is_some()
    }

    pub fn user(&self, userid: &str) -> Option<WecomUser> {
        self.inner().users.get(&userid.to_ascii_lowercase()).cloned()
    }

    pub fn users(&self) -> Vec<WecomUser> {
        self.inner().users.values().cloned().collect()
    }

    pub fn departments(&self) -> Vec<WecomDept> {
        self.inner().depts.values().cloned().collect()
    }

    /// The names of `parent`'s sub-departments as WeCom shows them: larger `order` first (ties by id).
    pub fn children(&self, parent: i64) -> Vec<String> {
        let mut v: Vec<WecomDept> = self.inner().depts.values().filter(|d| d.parent == parent).cloned().collect();
        v.sort_by_key(|d| (std::cmp::Reverse(d.order), d.id));
        v.into_iter().map(|d| d.name).collect()
    }

    /// Changes a department's `order` by hand (as an admin would in WeCom's console).
    pub fn set_department_order(&self, id: i64, order: i64) {
        if let Some(d) = self.inner().depts.get_mut(&id) {
            d.order = order;
        }
    }

    /// The department named `name` under `parent`.
    pub fn department(&self, parent: i64, name: &str) -> Option<WecomDept> {
        self.inner().depts.values().find(|d| d.parent == parent && d.name == name).cloned()
    }

    /// The department at this path of names from the root (`["G000公司", "C010公司", "财务部"]`).
    pub fn department_at(&self, path: &[&str]) -> Option<WecomDept> {
        let mut parent = 1;
        let mut found = None;
        for name in path {
            let d = self.department(parent, name)?;
            parent = d.id;
            found = Some(d);
        }
        found
    }

    pub fn messages(&self) -> Vec<SentMessage> {
        self.inner().messages.clone()
    }

    /// (path, errcode) of every call so far.
    pub fn calls(&self) -> Vec<(String, i64)> {
        self.inner().calls.clone()
    }

    /// How many calls to `path` answered `errcode`.
    pub fn count(&self, path: &str, errcode: i64) -> usize {
        self.inner().calls.iter().filter(|(p, c)| p == path && *c == errcode).count()
    }

    /// A sign-in code for `userid` (what WeCom's OAuth2 redirect carries), for auth/getuserinfo.
    pub fn code_for(&self, userid: &str) -> String {
        new_code(&mut self.inner(), Identity::Member(userid.into()))
    }

    /// The member signed in to WeCom on "the phone": the authorization and web-login pages
    /// answer at once with a code for them (a real WeCom asks them to confirm or scan).
    pub fn sign_in_as(&self, userid: &str) {
        self.inner().signed_in = Some(Identity::Member(userid.into()));
    }

    /// Someone from outside the enterprise (a WeChat user) is on "the phone".
    pub fn sign_in_outsider(&self, openid: &str) {
        self.inner().signed_in = Some(Identity::Outsider(openid.into()));
    }

    /// The app's trusted domain: WeCom refuses a redirect_uri on another host.
    pub fn set_trusted_domain(&self, host: &str) {
        self.inner().trusted_domain = Some(host.into());
    }

    /// `message/send` answers `errcode` (e.g. 60020, 45009 is the frequency limit) until
    /// `None` is set again.
    pub fn fail_messages(&self, errcode: Option<i64>) {
        self.inner().send_error = errcode;
    }

    /// Every sign-in code issued so far dies now (WeCom's five minutes have passed).
    pub fn expire_codes(&self) {
        let now = Instant::now();
        for (_, until) in self.inner().codes.values_mut() {
            *until = now;
        }
    }
}

fn answer(code: i64, msg: &str) -> Value {
    json!({"errcode": code, "errmsg": msg})
}

fn ok_with(msg: &str, mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("errcode".into(), json!(0));
        o.insert("errmsg".into(), json!(msg));
    }
    v
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    let delay = shared.inner.lock().map(|i| i.delay).unwrap_or_default();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    let v = route(&shared, &mut inner, &path, &query, &body);
    let code = v.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    inner.calls.push((path, code));
    Json(v)
}

fn route(shared: &Shared, s: &mut Inner, path: &str, q: &HashMap<String, String>, body: &Value) -> Value {
    if path == "gettoken" {
        let (corp, secret) =
            (q.get("corpid").map_or("", String::as_str), q.get("corpsecret").map_or("", String::as_str));
        if corp != shared.corp_id {
            return answer(40013, "invalid corpid");
        }
        let app = if secret == shared.contacts_secret {
            false
        } else if secret == shared.app_secret {
            true
        } else {
            return answer(40001, "invalid credential, access_token is invalid or not latest");
        };
        s.issued += 1;
        let token = format!("tok{:08}{}", s.issued, if app { "a" } else { "c" });
        s.tokens.insert(token.clone(), Token { app, expires: Instant::now() + Duration::from_secs(TOKEN_SECS) });
        return ok_with("ok", json!({"access_token": token, "expires_in": TOKEN_SECS}));
    }
    let Some(token) = q.get("access_token") else { return answer(41001, "access_token missing") };
    let app = match s.tokens.get(token) {
        None => return answer(40014, "invalid access_token"),
        Some(t) if t.expires <= Instant::now() => return answer(42001, "access_token expired"),
        Some(t) => t.app,
    };
    if s.limit_next > 0 {
        s.limit_next -= 1;
        return answer(45009, "api freq out of limit");
    }
    let contacts_write = path.starts_with("department/") || path.starts_with("user/");
    let writes =
        ["department/create", "department/update", "department/delete", "user/create", "user/update", "user/delete"];
    if app && writes.contains(&path) {
        return answer(60011, "no privilege to access/modify contact/party/agent");
    }
    match path {
        "department/create" => dept_create(s, body),
        "department/update" => dept_update(s, body),
        "department/delete" => dept_delete(s, q),
        "department/list" | "department/simplelist" => dept_list(s, q, path == "department/simplelist"),
        "user/create" => user_put(s, body, true),
        "user/update" => user_put(s, body, false),
        "user/delete" => match q.get("userid").and_then(|u| s.users.remove(&u.to_ascii_lowercase())) {
            Some(_) => answer(0, "deleted"),
            None => answer(60111, "userid not found"),
        },
        "user/get" => match q.get("userid").and_then(|u| s.users.get(&u.to_ascii_lowercase())) {
            Some(u) => ok_with("ok", user_json(u)),
            None => answer(60111, "userid not found"),
        },
        "user/list" | "user/simplelist" => user_list(s, q, path == "user/simplelist"),
        "user/list_id" => {
            let list: Vec<Value> = s
                .users
                .values()
                .flat_map(|u| u.department.iter().map(move |d| json!({"userid": u.userid, "department": d})))
                .collect();
            ok_with("ok", json!({"next_cursor": "", "dept_user": list}))
        }
        "message/send" => {
            if let Some(code) = s.send_error {
                return answer(code, "message/send switched off by the test");
            }
            if !app || body.get("agentid").and_then(Value::as_i64) != Some(shared.agent_id) {
                return answer(60020, "not allow to access from your ip / agent");
            }
            let touser = body.get("touser").and_then(Value::as_str).unwrap_or_default().to_string();
            let content = body.pointer("/text/content").and_then(Value::as_str).unwrap_or_default().to_string();
            if content.is_empty() {
                return answer(41016, "missing content");
            }
            let invalid: Vec<&str> =
                touser.split('|').filter(|u| *u != "@all" && !s.users.contains_key(&u.to_ascii_lowercase())).collect();
            let invalid = invalid.join("|");
            s.messages.push(SentMessage { touser, content });
            ok_with(
                "ok",
                json!({"invaliduser": invalid, "invalidparty": "", "invalidtag": "", "msgid": format!("m{}", s.messages.len())}),
            )
        }
        // A code is spent by its first use, and dies after CODE_SECS.
        "auth/getuserinfo" => match q.get("code").and_then(|c| s.codes.remove(c)) {
            Some((_, until)) if until <= Instant::now() => answer(40029, "invalid code"),
            Some((Identity::Member(u), _)) => ok_with("ok", json!({"userid": u, "user_ticket": ""})),
            Some((Identity::Outsider(o), _)) => ok_with("ok", json!({"openid": o, "external_userid": ""})),
            None => answer(40029, "invalid code"),
        },
        _ if contacts_write => answer(48002, "api forbidden"),
        _ => answer(404, "no such api in the double"),
    }
}

fn name_ok(name: &str, max: usize) -> bool {
    let n = name.chars().count();
    n >= 1 && n <= max
}

fn dept_create(s: &mut Inner, b: &Value) -> Value {
    let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
    if !name_ok(name, 64) || name.contains(['\\', ':', '*', '?', '"', '<', '>', '|']) {
        return answer(60009, "department name contains invalid char or is too long");
    }
    let Some(parent) = b.get("parentid").and_then(Value::as_i64) else { return answer(40058, "parentid missing") };
    if !s.depts.contains_key(&parent) {
        return answer(60004, "parent department not found");
    }
    let id = match b.get("id").and_then(Value::as_i64) {
        Some(id) if id <= 1 || id > u32::MAX as i64 => return answer(60123, "invalid party id"),
        Some(id) => id,
        None => s.depts.keys().max().copied().unwrap_or(1) + 1,
    };
    if s.depts.contains_key(&id) || s.depts.values().any(|d| d.parent == parent && d.name == name) {
        return answer(60008, "department existed");
    }
    let order = match b.get("order").map(Value::as_i64) {
        None => 0,
        Some(Some(o)) if (0..=u32::MAX as i64).contains(&o) => o,
        Some(_) => return answer(40058, "order must be in [0, 2^32)"),
    };
    s.depts.insert(id, WecomDept { id, name: name.into(), parent, order });
    ok_with("created", json!({"id": id}))
}

fn dept_update(s: &mut Inner, b: &Value) -> Value {
    let Some(id) = b.get("id").and_then(Value::as_i64) else { return answer(40058, "id missing") };
    let Some(current) = s.depts.get(&id).cloned() else { return answer(60003, "department not found") };
    let name = b.get("name").and_then(Value::as_str).unwrap_or(&current.name).to_string();
    let parent = b.get("parentid").and_then(Value::as_i64).unwrap_or(current.parent);
    let order = match b.get("order").map(Value::as_i64) {
        None => current.order,
        Some(Some(o)) if (0..=u32::MAX as i64).contains(&o) => o,
        Some(_) => return answer(40058, "order must be in [0, 2^32)"),
    };
    if !name_ok(&name, 64) || name.contains(['\\', ':', '*', '?', '"', '<', '>', '|']) {
        return answer(60009, "department name contains invalid char or is too long");
    }
    if !s.depts.contains_key(&parent) {
        return answer(60004, "parent department not found");
    }
    // Not under itself.
    let mut at = parent;
    while at != 0 {
        if at == id {
            return answer(60010, "department cannot be moved under itself");
        }
        at = s.depts.get(&at).map_or(0, |d| d.parent);
    }
    if s.depts.values().any(|d| d.id != id && d.parent == parent && d.name == name) {
        return answer(60008, "department existed");
    }
    s.depts.insert(id, WecomDept { id, name, parent, order });
    answer(0, "updated")
}

fn dept_delete(s: &mut Inner, q: &HashMap<String, String>) -> Value {
    let Some(id) = q.get("id").and_then(|i| i.parse::<i64>().ok()) else { return answer(40058, "id missing") };
    if !s.depts.contains_key(&id) {
        return answer(60003, "department not found");
    }
    if s.depts.values().any(|d| d.parent == id) {
        return answer(60006, "department contains sub-departments");
    }
    if s.users.values().any(|u| u.department.contains(&id)) {
        return answer(60005, "department contains members");
    }
    s.depts.remove(&id);
    answer(0, "deleted")
}

fn under(s: &Inner, id: i64, root: i64) -> bool {
    let mut at = id;
    while at != 0 {
        if at == root {
            return true;
        }
        at = s.depts.get(&at).map_or(0, |d| d.parent);
    }
    false
}

fn dept_list(s: &Inner, q: &HashMap<String, String>, simple: bool) -> Value {
    let root = match q.get("id").filter(|i| !i.is_empty()) {
        Some(i) => match i.parse::<i64>() {
            Ok(id) if s.depts.contains_key(&id) => id,
            _ => return answer(60003, "department not found"),
        },
        None => 1,
    };
    let list: Vec<Value> = s
        .depts
        .values()
        .filter(|d| under(s, d.id, root))
        .map(|d| {
            if simple {
                json!({"id": d.id, "parentid": d.parent, "order": d.order})
            } else {
                json!({"id": d.id, "name": d.name, "name_en": "", "department_leader": [], "parentid": d.parent, "order": d.order})
            }
        })
        .collect();
    ok_with("ok", json!({ if simple { "department_id" } else { "department" }: list }))
}

fn user_json(u: &WecomUser) -> Value {
    // status: 1 activated, 2 disabled, 4 not activated.
    json!({
        "userid": u.userid, "name": u.name, "mobile": u.mobile, "email": u.email, "position": u.position,
        "department": u.department, "order": u.department.iter().map(|_| 0).collect::<Vec<_>>(),
        "status": if u.enable { 4 } else { 2 }, "enable": if u.enable { 1 } else { 0 }, "extattr": u.extattr,
        "main_department": u.department.first().copied().unwrap_or(1),
    })
}

fn user_list(s: &Inner, q: &HashMap<String, String>, simple: bool) -> Value {
    let Some(dept) = q.get("department_id").and_then(|i| i.parse::<i64>().ok()) else {
        return answer(40058, "department_id missing");
    };
    if !s.depts.contains_key(&dept) {
        return answer(60003, "department not found");
    }
    let child = q.get("fetch_child").map(String::as_str) == Some("1");
    let list: Vec<Value> = s
        .users
        .values()
        .filter(|u| u.department.iter().any(|d| *d == dept || (child && under(s, *d, dept))))
        .map(|u| {
            if simple { json!({"userid": u.userid, "name": u.name, "department": u.department}) } else { user_json(u) }
        })
        .collect();
    ok_with("ok", json!({"userlist": list}))
}

fn valid_userid(u: &str) -> bool {
    !u.is_empty() && u.len() <= 64 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

fn user_put(s: &mut Inner, b: &Value, create: bool) -> Value {
    let userid = b.get("userid").and_then(Value::as_str).unwrap_or_default();
    if !valid_userid(userid) {
        return answer(40003, "invalid userid");
    }
    let key = userid.to_ascii_lowercase();
    let existing = s.users.get(&key).cloned();
    match (create, &existing) {
        (true, Some(_)) => return answer(60102, "userid existed"),
        (false, None) => return answer(60111, "userid not found"),
        _ => {}
    }
    let text = |k: &str, old: Option<&String>| -> String {
        b.get(k).and_then(Value::as_str).map(str::to_string).or_else(|| old.cloned()).unwrap_or_default()
    };
    let name = text("name", existing.as_ref().map(|u| &u.name));
    if !name_ok(&name, 64) {
        return answer(60112, "invalid name (1-64 characters)");
    }
    let position = text("position", existing.as_ref().map(|u| &u.position));
    if position.chars().count() > 128 {
        return answer(40058, "position longer than 128 characters");
    }
    let mobile = text("mobile", existing.as_ref().map(|u| &u.mobile));
    let email = text("email", existing.as_ref().map(|u| &u.email));
    if mobile.is_empty() && email.is_empty() {
        return answer(60129, "mobile and email cannot both be empty");
    }
    if !mobile.is_empty() && s.users.values().any(|u| u.userid.to_ascii_lowercase() != key && u.mobile == mobile) {
        return answer(60104, "mobile existed");
    }
    if !email.is_empty() && s.users.values().any(|u| u.userid.to_ascii_lowercase() != key && u.email == email) {
        return answer(60106, "email existed");
    }
    let department: Vec<i64> = match b.get("department").and_then(Value::as_array) {
        Some(a) => a.iter().filter_map(Value::as_i64).collect(),
        None => existing.as_ref().map(|u| u.department.clone()).unwrap_or_default(),
    };
    if department.is_empty() || department.len() > 100 {
        return answer(40058, "department must list 1 to 100 departments");
    }
    if department.iter().any(|d| !s.depts.contains_key(d)) {
        return answer(60003, "department not found");
    }
    let enable = match b.get("enable").and_then(Value::as_i64) {
        Some(0) => false,
        Some(_) => true,
        None => existing.as_ref().is_none_or(|u| u.enable),
    };
    let extattr = b
        .get("extattr")
        .cloned()
        .or_else(|| existing.as_ref().map(|u| u.extattr.clone()))
        .unwrap_or(json!({"attrs": []}));
    let userid = existing.as_ref().map_or(userid.to_string(), |u| u.userid.clone());
    s.users.insert(key, WecomUser { userid, name, mobile, email, position, department, enable, extattr });
    answer(0, if create { "created" } else { "updated" })
}

fn new_code(s: &mut Inner, who: Identity) -> String {
    s.issued += 1;
    let code = format!("wxcode{:08}", s.issued);
    s.codes.insert(code.clone(), (who, Instant::now() + Duration::from_secs(CODE_SECS)));
    code
}

/// WeCom's answer to a bad sign-in link: its own error page, no redirect.
fn refuse_link(why: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (axum::http::StatusCode::BAD_REQUEST, format!("该链接无法访问: {why}")).into_response()
}

/// Checks what both sign-in pages share (appid, agentid, redirect_uri on the trusted domain),
/// then sends the browser back with a code for whoever is signed in, and the state as given.
fn sign_in_redirect(shared: &Shared, q: &HashMap<String, String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if q.get("appid").map(String::as_str) != Some(shared.corp_id.as_str()) {
        return refuse_link("appid");
    }
    if q.get("agentid").and_then(|a| a.parse::<i64>().ok()) != Some(shared.agent_id) {
        return refuse_link("agentid");
    }
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return refuse_link("redirect_uri");
    };
    let state = q.get("state").cloned().unwrap_or_default();
    if state.len() > 128 || !state.chars().all(|c| c.is_ascii_alphanumeric()) {
        return refuse_link("state");
    }
    let mut s = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(domain) = &s.trusted_domain
        && redirect.host_str() != Some(domain.as_str())
    {
        return refuse_link("redirect_uri 与可信域名不一致");
    }
    let Some(who) = s.signed_in.clone() else { return refuse_link("nobody is signed in to WeCom") };
    let code = new_code(&mut s, who);
    let mut to = redirect;
    to.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, to.to_string())]).into_response()
}

/// 网页授权登录 (`open.weixin.qq.com/connect/oauth2/authorize`), inside the WeCom app.
async fn oauth2_authorize(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    if q.get("response_type").map(String::as_str) != Some("code") {
        return refuse_link("response_type");
    }
    if !matches!(q.get("scope").map(String::as_str), Some("snsapi_base" | "snsapi_privateinfo")) {
        return refuse_link("scope");
    }
    sign_in_redirect(&shared, &q)
}

/// 企业微信Web登录 (`login.work.weixin.qq.com/wwlogin/sso/login`): the QR code, scanned.
async fn web_login(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    if !matches!(q.get("login_type").map(String::as_str), Some("CorpApp" | "ServiceApp")) {
        return refuse_link("login_type");
    }
    sign_in_redirect(&shared, &q)
}
