//! `orgid audit …` in-process against both backends: verify names each kind of tampering done
//! by raw SQL, the retention purge keeps the rest verifiable from a signed checkpoint, exports
//! cannot be injected, checkpoints catch a chain re-hashed by someone without the key, the
//! report reads what it should, and the API handler scopes and pages. Plus sync, reconcile and
//! purge of a real slapd leave their records.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use orgid::http::api::audit::{Caller, router};
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, AuditScope, EventKind, LoginFailure, RequestContext};
use orgid_directory::{AccountStatus, AuditStore, CompanyCode, Op, RunStore};
use orgid_store::AnyStore;
use orgid_tests::{Backend, Slapd};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

use super::{all_records, change, raw, sample};
use crate::hr::{Hr, Row};
use crate::store::{group, new_run, ok, person, plan_of};
use crate::sync::{orgid, store_url};

both_backends!(
    verify_names_each_kind_of_tampering,
    purge_keeps_the_rest_verifiable_from_a_signed_checkpoint,
    exports_are_csv_and_json_and_cannot_be_injected,
    checkpoints_catch_a_rehashed_chain_and_a_forged_signature,
    the_report_reads_logins_lockouts_and_accounts,
    the_api_handler_scopes_validates_and_pages,
);

struct Env {
    dir: TempDir,
    cfg: PathBuf,
    url: String,
    backend: Backend,
    store: AnyStore,
}

impl Env {
    async fn new(backend: Backend) -> Env {
        let dir = TempDir::new().expect("tempdir");
        let url = store_url(backend, dir.path()).await;
        let cfg = dir.path().join("orgid.toml");
        std::fs::write(
            &cfg,
            format!("[store]\nurl = \"{url}\"\n[sync]\nschedule = \"\"\n[audit]\nsigning_key = \"keys/audit.key\"\n"),
        )
        .expect("write config");
        let store = orgid_store::connect(&url, 4).await.expect("connect");
        Env { dir, cfg, url, backend, store }
    }

    async fn orgid(&self, args: &[&str]) -> (u8, String) {
        orgid(&self.cfg, args).await
    }

    /// A command that must fail with an error (not an exit code).
    async fn orgid_err(&self, args: &[&str]) -> String {
        let cfg = self.cfg.display().to_string();
        let mut full = vec!["orgid", "--config", cfg.as_str()];
        full.extend_from_slice(args);
        let mut out = Vec::new();
        format!("{:#}", orgid::cli::run_args(&full, Vec::new(), &mut out).await.expect_err("should fail"))
    }

    async fn json(&self, args: &[&str]) -> Value {
        let (code, out) = self.orgid(args).await;
        assert_eq!(code, 0, "{args:?}: {out}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    async fn raw(&self, sql: &str) {
        raw(&self.url, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Lifts the append-only guard, as the database owner could.
    async fn unguard(&self) {
        self.raw(match self.backend {
            Backend::Sqlite => {
                "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
                 DROP TRIGGER audit_checkpoints_no_update;"
            }
            Backend::Postgres => {
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; \
                 ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_append_only;"
            }
        })
        .await;
    }

    async fn logins(&self, n: i64) {
        let events: Vec<AuditEvent> = (1..=n).map(|i| sample(EventKind::Login, i)).collect();
        self.store.append_audit(&events).await.expect("append");
    }
}

/// The columns after the position (copied by the forged inserts).
const REST: &str = "at, kind, outcome, actor_kind, actor, login, company, client_id, source_ip, user_agent, \
                    session_id, reason, details, prev_hash, hash";

async fn verify_names_each_kind_of_tampering(e: Env) {
    e.logins(20).await;
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit trail intact: 20 records in "), "{out}");
    assert!(out.contains("  chain 1: 20 records 1 to 20, from the start"), "{out}");
    let backend = e.backend;
    drop(e);

    let insert_copy = |pos: i64, from: i64| {
        format!(
            "INSERT INTO audit_log (chain, pos, {REST}) SELECT chain, {pos}, {REST} FROM audit_log \
             WHERE chain = 1 AND pos = {from};"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            "UPDATE audit_log SET reason = 'all fine' WHERE chain = 1 AND pos = 7;".into(),
            "AUDIT CHAIN 1 BROKEN at record 7: record 7 was altered",
        ),
        (
            "UPDATE audit_log SET hash = prev_hash WHERE chain = 1 AND pos = 7;".into(),
            "AUDIT CHAIN 1 BROKEN at record 7: record 7 was altered",
        ),
        (
            "DELETE FROM audit_log WHERE chain = 1 AND pos = 7;".into(),
            "AUDIT CHAIN 1 BROKEN at record 7: record 7 was deleted",
        ),
        (
            format!(
                "UPDATE audit_log SET pos = pos + 1000 WHERE chain = 1 AND pos >= 7; \
                 UPDATE audit_log SET pos = pos - 999 WHERE chain = 1 AND pos >= 1007; {}",
                insert_copy(7, 3)
            ),
            "AUDIT CHAIN 1 BROKEN at record 7: record 7 was inserted",
        ),
        (
            "UPDATE audit_log SET pos = 1000 WHERE chain = 1 AND pos = 7; \
             UPDATE audit_log SET pos = 7 WHERE chain = 1 AND pos = 8; \
             UPDATE audit_log SET pos = 8 WHERE chain = 1 AND pos = 1000;"
                .into(),
            "AUDIT CHAIN 1 BROKEN at record 7: records were reordered: the record at 7 was written as record 8",
        ),
        (
            "DELETE FROM audit_log WHERE chain = 1 AND pos = 20;".into(),
            "AUDIT CHAIN 1 BROKEN at record 20: record 20 was deleted",
        ),
        (insert_copy(21, 20), "AUDIT CHAIN 1 BROKEN: record 21 was inserted after the chain head"),
    ];
    for (sql, expected) in cases {
        let e = Env::new(backend).await;
        e.logins(20).await;
        e.unguard().await;
        e.raw(&sql).await;
        let (code, out) = e.orgid(&["audit", "verify"]).await;
        assert_eq!(code, 1, "{sql}: {out}");
        assert!(out.contains(expected), "{sql}: expected `{expected}` in {out}");
        let (code, json) = e.orgid(&["audit", "verify", "--format", "json"]).await;
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["ok"], false, "{json}");
    }
}

fn days_ago(d: i64) -> chrono::DateTime<Utc> {
    Utc::now() - Duration::days(d)
}

async fn purge_keeps_the_rest_verifiable_from_a_signed_checkpoint(e: Env) {
    let old: Vec<AuditEvent> = (0..10)
        .map(|i| AuditEvent { at: days_ago(300) + Duration::minutes(i), ..sample(EventKind::Login, i) })
        .collect();
    let recent: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent { at: days_ago(10) + Duration::minutes(i), ..sample(EventKind::Logout, i) })
        .collect();
    e.store.append_audit(&old).await.expect("append");
    e.store.append_audit(&recent).await.expect("append");

    let err = e.orgid_err(&["audit", "purge", "--retention-days", "30"]).await;
    assert!(err.contains("less than the 180 days"), "{err}");
    let (code, out) = e.orgid(&["audit", "purge", "--dry-run"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("would purge 10 records (chain 1: 1 to 10) older than 180 days"), "{out}");
    assert_eq!(all_records(&e.store).await.len(), 15, "a dry run deletes nothing");

    let (code, out) = e.orgid(&["audit", "purge"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("purged 10 records older than 180 days (chain 1: 1 to 10)"), "{out}");
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain 1: 6 records 11 to 16, from the signed purge checkpoint at record 10"), "{out}");
    let purge = e.json(&["audit", "query", "--type", "audit_purge", "--format", "json"]).await;
    assert_eq!(purge["records"][0]["details"]["attrs"]["records"], "10", "{purge}");
    assert_eq!(purge["records"][0]["details"]["attrs"]["through"], "1:10", "{purge}");
    assert_eq!(purge["records"][0]["actor_kind"], "admin");

    // Without the key, nothing vouches for the purge.
    let (_, key) = e.orgid(&["audit", "public-key"]).await;
    let key = key.trim().to_string();
    let key_file = e.dir.path().join("keys/audit.key");
    std::fs::rename(&key_file, e.dir.path().join("elsewhere.key")).expect("move the key");
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("AUDIT CHAIN 1 BROKEN at record 1: records 1 to 10 were deleted"), "{out}");
    assert!(out.contains("no trusted signing key"), "{out}");
    let (code, out) = e.orgid(&["audit", "verify", "--public-key", &key]).await;
    assert_eq!(code, 0, "an auditor's copy of the public key is enough: {out}");
    std::fs::rename(e.dir.path().join("elsewhere.key"), &key_file).expect("restore the key");

    let (code, out) = e.orgid(&["audit", "purge", "--retention-days", "30", "--force"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("no audit records older than 30 days"), "{out}");
    let (code, out) = e.orgid(&["audit", "purge", "--retention-days", "5", "--force"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("purged 5 records older than 5 days (chain 1: 11 to 15)"), "{out}");
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 0, "two purges, two anchors: {out}");
}

async fn exports_are_csv_and_json_and_cannot_be_injected(e: Env) {
    let ctx = RequestContext {
        source_ip: Some("::ffff:192.0.2.1".parse().expect("ip")),
        user_agent: Some("=HYPERLINK(\"http://evil\")\r\nX-Forged: 1".into()),
        session_id: Some("sid-9".into()),
        client_id: Some("oa".into()),
    };
    let tricky = AuditEvent::login_failed(Utc::now(), "ali,ce", None, LoginFailure::BadPassword, &ctx)
        .attr("note", "say \"hi\"\n<b>bold</b>");
    let plain: Vec<AuditEvent> = (1..=4).map(|i| sample(EventKind::TokenIssued, i)).collect();
    e.store.append_audit(&plain).await.expect("append");
    e.store.append_audit(&[tricky]).await.expect("append");

    let (code, csv) = e.orgid(&["audit", "query", "--all", "--format", "csv"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "a header and one line per record, nothing injected: {csv}");
    assert!(lines[0].starts_with("\u{feff}seq,time,type,outcome,actor_kind,actor,login,company,client_id,source_ip"));
    let last = lines[5];
    assert!(last.contains("\"ali,ce\""), "{last}");
    assert!(last.contains("\"'=HYPERLINK(\"\"http://evil\"\") X-Forged: 1\""), "the formula is defused: {last}");
    assert!(last.contains(",192.0.2.1,"), "IPv4-mapped addresses are stored as IPv4: {last}");

    let streamed = e.json(&["audit", "query", "--all", "--format", "json"]).await;
    assert_eq!(streamed["records"].as_array().map(Vec::len), Some(5), "{streamed}");
    assert_eq!(streamed["records"][4]["login"], "ali,ce", "in the order written");
    let v = e.json(&["audit", "query", "--login", "ali,ce", "--format", "json"]).await;
    let r = &v["records"][0];
    assert_eq!(r["type"], "login");
    assert_eq!(r["outcome"], "failure");
    assert_eq!(r["reason"], "bad_password");
    assert_eq!(r["details"]["attrs"]["note"], "say \"hi\" <b>bold</b>", "line breaks are gone, the rest is data");
    assert_eq!(r["user_agent"], "=HYPERLINK(\"http://evil\") X-Forged: 1");
    assert!(r["at_local"].as_str().is_some_and(|t| t.len() == 19), "{r}");
    assert_eq!(v["next"], Value::Null);

    let (code, table) = e.orgid(&["audit", "query", "--type", "token_issued", "--limit", "3"]).await;
    assert_eq!(code, 0);
    assert_eq!(table.lines().count(), 5, "header, three records, the cursor: {table}");
    let cursor = table.lines().last().and_then(|l| l.strip_prefix("more: --after ")).expect("a cursor");
    let (_, rest) = e.orgid(&["audit", "query", "--type", "token_issued", "--limit", "3", "--after", cursor]).await;
    assert_eq!(rest.lines().count(), 2, "header and the last record: {rest}");
    let err = e.orgid_err(&["audit", "query", "--since", "last tuesday"]).await;
    assert!(err.contains("--since") && err.contains("is not a time"), "{err}");
}

/// Recomputes every hash from record `from` on after changing its login, as someone with write
/// access but without the signing key could; moves the head along.
async fn rehash_from(e: &Env, from: i64) {
    let mut records = all_records(&e.store).await;
    records.retain(|r| r.chain == 1);
    let mut prev = records.iter().find(|r| r.pos == from - 1).map(|r| r.hash).expect("predecessor");
    let mut statements = Vec::new();
    for r in records.iter_mut().filter(|r| r.pos >= from) {
        if r.pos == from {
            r.fields.login = Some("someone-else".into());
        }
        r.prev_hash = prev;
        r.hash = orgid_directory::audit::record_hash(1, r.pos, &prev, &r.fields);
        prev = r.hash;
        let hex = |h: &orgid_directory::audit::Hash| match e.backend {
            Backend::Sqlite => format!("X'{h}'"),
            Backend::Postgres => format!("decode('{h}', 'hex')"),
        };
        statements.push(format!(
            "UPDATE audit_log SET login = '{}', prev_hash = {}, hash = {} WHERE chain = 1 AND pos = {};",
            r.fields.login.as_deref().unwrap_or_default(),
            hex(&r.prev_hash),
            hex(&r.hash),
            r.pos
        ));
        statements.push(format!("UPDATE audit_head SET hash = {} WHERE chain = 1 AND pos = {};", hex(&r.hash), r.pos));
    }
    e.raw(&statements.join("\n")).await;
}

async fn checkpoints_catch_a_rehashed_chain_and_a_forged_signature(e: Env) {
    e.logins(10).await;
    let (code, out) = e.orgid(&["audit", "checkpoint"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("checkpoint of chain 1 at record 10"), "{out}");
    let rotation = e.json(&["audit", "query", "--type", "key_rotation", "--format", "json"]).await;
    assert_eq!(rotation["records"][0]["pos"], 11, "the new key is recorded: {rotation}");
    let (_, out) = e.orgid(&["audit", "checkpoint"]).await;
    assert!(out.contains("checkpoint of chain 1 at record 11"), "{out}");
    let (_, out) = e.orgid(&["audit", "checkpoint"]).await;
    assert!(out.contains("nothing new to sign"), "{out}");
    let (_, key) = e.orgid(&["audit", "public-key"]).await;
    let (code, lines) = e.orgid(&["audit", "export-checkpoints"]).await;
    assert_eq!(code, 0);
    let exported: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(exported.len(), 2);
    assert_eq!((exported[0]["chain"].as_i64(), exported[0]["pos"].as_i64()), (Some(1), Some(10)));
    assert_eq!(exported[1]["public_key"], key.trim());
    assert_eq!(exported[0]["signature"].as_str().map(str::len), Some(128));
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 of 2 signed checkpoints trusted; 2 within the records checked matched"), "{out}");

    // Someone with write access re-hashes the chain from record 4 on: every link is consistent,
    // but the signed checkpoint at 10 still names the old record 10.
    e.unguard().await;
    rehash_from(&e, 4).await;
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("AUDIT CHAIN 1 BROKEN at record 1: a record between 1 and 10 was altered and the chain re-hashed"),
        "{out}"
    );

    // A checkpoint whose signature was replaced is not trusted.
    e.raw(match e.backend {
        Backend::Sqlite => "UPDATE audit_checkpoints SET signature = zeroblob(64) WHERE chain = 1 AND pos = 11;",
        Backend::Postgres => {
            "UPDATE audit_checkpoints SET signature = decode(repeat('00', 64), 'hex') WHERE chain = 1 AND pos = 11;"
        }
    })
    .await;
    let (code, out) = e.orgid(&["audit", "verify"]).await;
    assert_eq!(code, 1);
    assert!(
        out.contains("CHECKPOINT NOT TRUSTED: the checkpoint of chain 1 at record 11 has an invalid signature"),
        "{out}"
    );
}

async fn the_report_reads_logins_lockouts_and_accounts(e: Env) {
    let companies = group();
    let long_ago = days_ago(200);
    let people = vec![
        person("k1", "E1", "Alice", "A", long_ago),
        person("k2", "E2", "Bob", "A", long_ago),
        person("k3", "E3", "Carol", "A", long_ago),
    ];
    let mut changes = vec![
        change(Op::Open, "k1", "alice", None, AccountStatus::Active),
        change(Op::Open, "k2", "bob", None, AccountStatus::Active),
        change(Op::Close, "k3", "carol", None, AccountStatus::Disabled),
    ];
    for c in &mut changes {
        c.account.opened_at = Some(long_ago);
    }
    changes[2].account.closed_at = Some(days_ago(20));
    let plan = plan_of(people, changes);
    let run = e.store.begin_run(&new_run(long_ago)).await.expect("begin");
    e.store.finish_run(run, ok(&companies, &plan, long_ago)).await.expect("apply");

    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().expect("tz");
    let night = (Utc::now() - Duration::days(2)).with_timezone(&tz).date_naive().and_hms_opt(3, 0, 0).expect("time");
    let night = night.and_local_timezone(tz).single().expect("local").to_utc();
    let ip = |s: &str| RequestContext { source_ip: Some(s.parse().expect("ip")), ..RequestContext::default() };
    let mut events = vec![
        AuditEvent::login_succeeded(night, "alice", Some(&CompanyCode("A".into())), &ip("10.0.0.1")),
        AuditEvent::login_succeeded(days_ago(1), "carol", Some(&CompanyCode("A".into())), &ip("10.0.0.3")),
        AuditEvent::new(days_ago(1), EventKind::Lockout, AuditOutcome::Success, Actor::System("idp".into()))
            .subject("bob", None)
            .reason("5 failed attempts"),
    ];
    for i in 0..3 {
        events.push(AuditEvent::login_failed(
            days_ago(1) + Duration::minutes(i),
            "bob",
            None,
            LoginFailure::BadPassword,
            &ip("192.0.2.9"),
        ));
    }
    e.store.append_audit(&events).await.expect("append");

    let r = e.json(&["audit", "report", "--format", "json"]).await;
    assert_eq!((r["logins_succeeded"].as_u64(), r["logins_failed"].as_u64()), (Some(2), Some(3)), "{r}");
    assert_eq!(r["top_failing_accounts"][0]["key"], "bob");
    assert_eq!(r["top_failing_ips"][0], serde_json::json!({ "key": "192.0.2.9", "count": 3 }));
    assert_eq!(r["lockouts"]["total"], 1);
    assert_eq!(r["disabled_or_departed_logins"]["items"][0]["login"], "carol");
    assert_eq!(r["outside_working_hours"]["items"][0]["login"], "alice", "{r}");
    assert_eq!(r["failed_per_day"].as_array().map(Vec::len), Some(31), "30 days span 31 local dates");
    let dormant: Vec<&str> =
        r["dormant_accounts"]["items"].as_array().expect("list").iter().filter_map(|a| a["login"].as_str()).collect();
    assert_eq!(dormant, ["bob"], "alice logged in, carol is disabled");
    assert_eq!(r["expired_passwords"]["total"], 2, "alice and bob kept their 200-day-old passwords");

    let (code, page) = e.orgid(&["audit", "report", "--since", "2000-01-01", "--until", "2100-01-01"]).await;
    assert_eq!(code, 0);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && page.contains("192.0.2.9"));
    let err = e.orgid_err(&["audit", "report", "--since", "2024-02-01", "--until", "2024-01-01"]).await;
    assert!(err.contains("--since must be before --until"), "{err}");
}

async fn call(app: axum::Router, uri: &str) -> (StatusCode, Value) {
    let response = app.oneshot(Request::get(uri).body(Body::empty()).expect("request")).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn the_api_handler_scopes_validates_and_pages(e: Env) {
    let events: Vec<AuditEvent> = (1..=9).map(|i| sample(EventKind::Login, i)).collect();
    e.store.append_audit(&events).await.expect("append");
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().expect("tz");
    let store: Arc<dyn AuditStore> = Arc::new(e.store.clone());
    let as_caller = |scope: AuditScope| router(store.clone(), tz).layer(axum::Extension(Caller { scope }));
    let auditor = || as_caller(AuditScope::All);
    let delegate_a = || as_caller(AuditScope::Company(CompanyCode("A".into())));

    let (status, first) = call(auditor(), "/api/audit/records?limit=4").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let seqs =
        |v: &Value| v["records"].as_array().expect("records").iter().map(|r| r["seq"].as_i64()).collect::<Vec<_>>();
    assert_eq!(seqs(&first), [Some(9), Some(8), Some(7), Some(6)], "newest first");
    let next = first["next"].as_str().expect("a next page").to_string();
    let (_, second) = call(auditor(), &format!("/api/audit/records?limit=4&after={next}")).await;
    assert_eq!(seqs(&second), [Some(5), Some(4), Some(3), Some(2)]);

    // sample() puts every third record (3, 6, 9) in company B.
    let (status, mine) = call(delegate_a(), "/api/audit/records?limit=100").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seqs(&mine), [Some(8), Some(7), Some(5), Some(4), Some(2), Some(1)]);
    let (status, body) = call(delegate_a(), "/api/audit/records?company=B").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
    let (status, _) = call(delegate_a(), "/api/audit/records?login=user3").await;
    assert_eq!(status, StatusCode::OK, "a login outside the company simply matches nothing");

    let (status, failures) =
        call(auditor(), "/api/audit/records?outcome=failure&type=login,lockout&order=oldest_first").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seqs(&failures), [Some(4), Some(8)]);
    let (_, by_ip) = call(auditor(), "/api/audit/records?ip=::ffff:10.0.0.1").await;
    assert_eq!(seqs(&by_ip), [Some(9), Some(5), Some(1)], "addresses compare in canonical form");
    let (_, by_time) =
        call(auditor(), "/api/audit/records?since=2024-05-01T00:03:00Z&until=2024-05-01T00:05:00Z&client=mail").await;
    assert_eq!(seqs(&by_time), [Some(3)]);

    for (uri, what) in [
        ("/api/audit/records?type=logon", "type"),
        ("/api/audit/records?since=yesterday", "since"),
        ("/api/audit/records?limit=0", "limit"),
        ("/api/audit/records?ip=10.0.0", "ip"),
        ("/api/audit/records?after=x", "after"),
        ("/api/audit/records?order=sideways", "order"),
    ] {
        let (status, body) = call(auditor(), uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"], "invalid_request");
        assert!(body["message"].as_str().is_some_and(|m| m.starts_with(what)), "{uri}: {body}");
    }
    let response = router(store.clone(), tz)
        .oneshot(Request::get("/api/audit/records").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "without the authentication layer's caller the route fails closed"
    );
}

/// A real sync, a hand edit in slapd repaired by reconcile, and a purge: each leaves its records,
/// and no ID number ever reaches the trail.
#[tokio::test]
async fn sync_reconcile_and_purge_of_a_real_directory_are_audited() {
    let slapd = Slapd::start().await;
    let dir = TempDir::new().expect("tempdir");
    let hr = Hr::new(dir.path());
    let url = store_url(Backend::Sqlite, dir.path()).await;
    let cfg = hr.config(
        &url,
        &format!(
            "[safety]\nmax_close_share = 0.9\nmax_shrink_share = 0.9\npurge_after_days = 0\n[ldap]\nurl = \"{}\"\n\
             bind_dn = \"cn=admin,dc=example,dc=com\"\nbind_password = \"secret\"\nbase_dn = \"dc=example,dc=com\"\n\
             [audit]\nsigning_key = \"audit.key\"\n",
            slapd.url()
        ),
    );
    let rows = vec![Row::new(1, "G000", "G1", "张伟", ""), Row::new(2, "C010", "A1", "王芳", "M12")];
    hr.write(&rows, false);
    let (code, out) = orgid(&cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    let mut left = rows.clone();
    left[1].left = true;
    hr.write(&left, false);
    let (code, out) = orgid(&cfg, &["sync"]).await;
    assert_eq!(code, 0, "{out}");

    slapd
        .modify(
            "dn: uid=zhangwei,ou=综合部,ou=G000,dc=example,dc=com\nchangetype: modify\nreplace: title\ntitle: hacked\n",
        )
        .await;
    let (code, out) = orgid(&cfg, &["ldap", "reconcile"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = orgid(&cfg, &["ldap", "purge"]).await;
    assert_eq!(code, 0, "{out}");

    let json = |args: Vec<&'static str>| {
        let cfg = cfg.clone();
        async move {
            let mut a = vec!["audit", "query", "--all", "--format", "json"];
            a.extend(args);
            let (code, out) = orgid(&cfg, &a).await;
            assert_eq!(code, 0, "{out}");
            serde_json::from_str::<Value>(&out).expect("json")["records"].as_array().expect("records").clone()
        }
    };
    let opened = json(vec!["--type", "account_open"]).await;
    assert_eq!(opened.len(), 2);
    assert_eq!((opened[0]["actor_kind"].as_str(), opened[0]["actor"].as_str()), (Some("run"), Some("1")));
    let closed = json(vec!["--type", "account_close", "--login", "wangfang"]).await;
    assert_eq!(closed[0]["company"], "C010");
    let repaired = json(vec!["--type", "reconcile_repair"]).await;
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(repaired[0]["login"], "zhangwei");
    assert_eq!(repaired[0]["details"]["attrs"]["drift"], "title");
    let purged = json(vec!["--type", "account_purge"]).await;
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!(purged[0]["login"], "wangfang");
    assert_eq!(purged[0]["actor"], "purge");
    let runs = json(vec!["--type", "sync_finished"]).await;
    assert_eq!(runs.len(), 2);

    let (code, everything) = orgid(&cfg, &["audit", "query", "--all", "--format", "csv"]).await;
    assert_eq!(code, 0);
    for r in &rows {
        assert!(!everything.contains(&crate::hr::id_number(r.n)), "an ID number reached the audit trail");
    }
    let (code, out) = orgid(&cfg, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
}
