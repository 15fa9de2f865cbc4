//! The WeCom (企业微信) target's client: applies `WecomOp`s through the contacts API, each one
//! idempotently (see `orgid_directory::target::wecom`), and reads departments and members back
//! for reconcile. Only the base URL tells it where WeCom is.

mod api;
mod notify;

use std::collections::HashSet;

use async_trait::async_trait;
use orgid_config::WecomConfig;
use orgid_directory::target::wecom::reconcile::{ObservedDept, ObservedMember};
use orgid_directory::target::wecom::{Member, WecomOp};
use orgid_directory::target::{ApplyError, Queued, TargetClient};
use serde_json::{Value, json};

pub use api::{Api, WecomError};
pub use notify::WecomNotifier;

/// WeCom's errcodes the client acts on.
pub mod codes {
    pub const DEPARTMENT_NOT_FOUND: i64 = 60003;
    pub const DEPARTMENT_EXISTS: i64 = 60008;
    pub const USERID_EXISTS: i64 = 60102;
    pub const USER_NOT_FOUND: i64 = 60111;
    /// A sign-in code that is invalid, spent or expired (auth/getuserinfo).
    pub const INVALID_CODE: i64 = 40029;
}

/// The contacts client (通讯录同步 secret).
#[derive(Debug)]
pub struct WecomClient {
    api: Api,
}

impl WecomClient {
    pub fn new(cfg: &WecomConfig) -> Result<WecomClient, WecomError> {
        Ok(WecomClient { api: Api::new(cfg, &cfg.contacts_secret)? })
    }

    /// The department and everything under it.
    pub async fn departments(&self, root: i64) -> Result<Vec<ObservedDept>, WecomError> {
        let v = self.api.get("department/list", &[("id", root.to_string())]).await?;
        Ok(v.get("department")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|d| ObservedDept {
                        id: d.get("id").and_then(Value::as_i64).unwrap_or_default(),
                        name: d.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        parent: d.get("parentid").and_then(Value::as_i64).unwrap_or_default(),
                        order: d.get("order").and_then(Value::as_i64).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The members directly in a department, with their details.
    pub async fn members(&self, department: i64) -> Result<Vec<ObservedMember>, WecomError> {
        let v = self.api.get("user/list", &[("department_id", department.to_string())]).await?;
        Ok(v.get("userlist").and_then(Value::as_array).map(|a| a.iter().map(observed).collect()).unwrap_or_default())
    }

    /// One member, `None` if WeCom has no such userid.
    pub async fn member(&self, userid: &str) -> Result<Option<ObservedMember>, WecomError> {
        match self.api.get("user/get", &[("userid", userid.to_string())]).await {
            Ok(v) => Ok(Some(observed(&v))),
            Err(e) if e.code() == Some(codes::USER_NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn department(&self, id: i64) -> Result<Option<ObservedDept>, WecomError> {
        match self.departments(id).await {
            Ok(list) => Ok(list.into_iter().find(|d| d.id == id)),
            Err(e) if e.code() == Some(codes::DEPARTMENT_NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn apply_one(&self, op: &WecomOp) -> Result<(), WecomError> {
        match op {
            WecomOp::CreateDepartment { id, name, parent, order } => {
                let body = json!({"id": id, "name": name, "parentid": parent, "order": order});
                match self.api.post("department/create", &body).await {
                    Err(e) if e.code() == Some(codes::DEPARTMENT_EXISTS) => match self.department(*id).await? {
                        // Ours already (a create repeated after a crash): brought to these facts.
                        Some(_) => self.api.post("department/update", &body).await.map(drop),
                        None => Err(WecomError::Api {
                            code: codes::DEPARTMENT_EXISTS,
                            msg: format!(
                                "a department named `{name}` not created by orgid exists under {parent}: rename it in WeCom"
                            ),
                        }),
                    },
                    r => r.map(drop),
                }
            }
            WecomOp::UpdateDepartment { id, name, parent, order } => {
                let body = json!({"id": id, "name": name, "parentid": parent, "order": order});
                match self.api.post("department/update", &body).await {
                    Err(e) if e.code() == Some(codes::DEPARTMENT_NOT_FOUND) => {
                        self.api.post("department/create", &body).await.map(drop)
                    }
                    r => r.map(drop),
                }
            }
            WecomOp::PutMember { member, create } => {
                let body = member_json(member, *create);
                if *create {
                    match self.api.post("user/create", &body).await {
                        // The userid exists (hand-made, or a create repeated): adopted and updated.
                        Err(e) if e.code() == Some(codes::USERID_EXISTS) => {
                            self.api.post("user/update", &member_json(member, false)).await.map(drop)
                        }
                        r => r.map(drop),
                    }
                } else {
                    match self.api.post("user/update", &body).await {
                        Err(e) if e.code() == Some(codes::USER_NOT_FOUND) && member.enable => {
                            self.api.post("user/create", &member_json(member, true)).await.map(drop)
                        }
                        // Nothing to disable.
                        Err(e) if e.code() == Some(codes::USER_NOT_FOUND) => Ok(()),
                        r => r.map(drop),
                    }
                }
            }
            WecomOp::DeleteMember { userid } => {
                match self.api.get("user/delete", &[("userid", userid.clone())]).await {
                    Err(e) if e.code() == Some(codes::USER_NOT_FOUND) => Ok(()),
                    r => r.map(drop),
                }
            }
        }
    }
}

/// The member's JSON for `user/create` (`create`) or `user/update`.
fn member_json(m: &Member, create: bool) -> Value {
    let attrs: Vec<Value> =
        m.extattr.iter().map(|(k, v)| json!({"type": 0, "name": k, "text": {"value": v}})).collect();
    let mut body = json!({
        "userid": m.userid,
        "name": m.name,
        "position": m.position,
        "department": m.department,
        "enable": if m.enable { 1 } else { 0 },
        "to_invite": false,
    });
    if let Some(o) = body.as_object_mut() {
        // An empty mobile or email is left out of a create; an update sends it empty, which
        // clears what HR no longer has (left out, WeCom would keep the old one).
        if !m.mobile.is_empty() || !create {
            o.insert("mobile".into(), json!(m.mobile));
        }
        if !m.email.is_empty() || !create {
            o.insert("email".into(), json!(m.email));
        }
        if !attrs.is_empty() {
            o.insert("extattr".into(), json!({"attrs": attrs}));
        }
    }
    body
}

fn observed(v: &Value) -> ObservedMember {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let extattr = v
        .pointer("/extattr/attrs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        x.get("name")?.as_str()?.to_string(),
                        x.pointer("/text/value").and_then(Value::as_str).unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    ObservedMember {
        userid: s("userid"),
        name: s("name"),
        mobile: s("mobile"),
        email: s("email"),
        position: s("position"),
        department: v
            .get("department")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default(),
        // status: 1 activated, 2 disabled, 4 not yet activated, 5 left.
        enabled: v.get("status").and_then(Value::as_i64) != Some(2),
        extattr,
    }
}

#[async_trait]
impl TargetClient for WecomClient {
    type Op = WecomOp;

    /// One call after another (WeCom limits the rate, not the latency, of a corp's calls).
    async fn apply(&self, ops: &[&Queued<WecomOp>]) -> Vec<Result<(), ApplyError>> {
        let mut out = Vec::with_capacity(ops.len());
        let mut failed: HashSet<&str> = HashSet::new();
        let mut down = false;
        for q in ops {
            if down || failed.contains(q.key.as_str()) {
                out.push(Err(ApplyError::Skipped));
                continue;
            }
            match self.apply_one(&q.op).await {
                Ok(()) => out.push(Ok(())),
                Err(WecomError::Unavailable(e)) => {
                    down = true;
                    out.push(Err(ApplyError::Unavailable(e)));
                }
                Err(e) => {
                    failed.insert(q.key.as_str());
                    out.push(Err(ApplyError::Refused(e.to_string())));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_clears_what_hr_no_longer_has_and_a_create_leaves_it_out() {
        let m = Member {
            userid: "zhangsan".into(),
            name: "张三".into(),
            email: "a@example.com".into(),
            department: vec![100_001],
            enable: true,
            extattr: vec![("职级".into(), "M12".into())],
            ..Member::default()
        };
        let create = member_json(&m, true);
        assert!(create.get("mobile").is_none());
        assert_eq!(create["extattr"]["attrs"][0]["text"]["value"], "M12");
        let update = member_json(&m, false);
        assert_eq!(update["mobile"], "");
        assert_eq!((update["email"].as_str(), update["enable"].as_i64()), (Some("a@example.com"), Some(1)));
    }
}
