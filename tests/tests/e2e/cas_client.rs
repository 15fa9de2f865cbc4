//! CAS with a client library: python-cas (PyPI `python-cas`, the CAS client Django and Flask
//! sites use) builds the login URL, validates the ticket over CAS 3.0 and reads the attributes,
//! as a business system written with it would; a replayed and a foreign ticket are refused to it.

use crate::cas::{cas_login, ticket_of};
use crate::oidc::Op;
use crate::sync::Backend;

const SERVICE: &str = "http://127.0.0.1:9/oa/home";

const CONFIG: &str = r#"[[clients]]
id = "oa"
name = "协同办公 OA"
protocol = "cas"
services = ['^http://127\.0\.0\.1:9/oa/.*$']
scopes = ["profile", "org"]
"#;

/// The library's part, in Python: its login URL, then `verify_ticket` of each ticket given
/// (user, attributes, or `null` for a refusal), as JSON.
const CLIENT: &str = r#"
import json, sys
from cas import CASClient
client = CASClient(version=3, service_url=sys.argv[2], server_url=sys.argv[1] + "/cas/")
out = {"login_url": client.get_login_url(), "results": []}
for ticket in sys.argv[3:]:
    user, attributes, _pgtiou = client.verify_ticket(ticket)
    out["results"].append(None if user is None else {"user": user, "attributes": attributes})
print(json.dumps(out, ensure_ascii=False))
"#;

async fn library(op: &Op, tickets: &[&str]) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg("-c").arg(CLIENT).arg(&op.base).arg(SERVICE).args(tickets);
    let out = cmd.output().await.expect("python3");
    assert!(
        out.status.success(),
        "python-cas failed (pip install python-cas): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn python_cas_signs_in_through_orgid_and_reads_the_attributes() {
    let op = Op::start(Backend::Sqlite, CONFIG).await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();

    // The library's login URL is orgid's CAS login for the service.
    let first = library(&op, &[]).await;
    let login_url = first["login_url"].as_str().expect("login url");
    let path = login_url.strip_prefix(&op.base).unwrap_or_else(|| panic!("{login_url}"));
    assert!(path.starts_with("/cas/login?service="), "{login_url}");
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page = b.login(&page, "zhangwei", &initial).await;
    let page = b.change(&page, "Spring-2026a").await;
    let ticket = ticket_of(&page, SERVICE);

    // A second ticket of the same session, for the replay and the foreign-service checks.
    let other = ticket_of(&cas_login(&mut b, "http://127.0.0.1:9/oa/other", "").await, "http://127.0.0.1:9/oa/other");
    let got = library(&op, &[&ticket, &ticket, &other, "ST-forged0000000000000000000000000000"]).await;
    let results = got["results"].as_array().expect("results");
    let ok = &results[0];
    assert_eq!(ok["user"], "zhangwei", "{got}");
    let attrs = &ok["attributes"];
    assert_eq!(attrs["name"], "张伟", "{got}");
    assert_eq!(attrs["companyCode"], "G000", "{got}");
    assert_eq!(attrs["employeeNumber"], "G1", "{got}");
    assert_eq!(attrs["department"], "综合部", "{got}");
    assert!(results[1].is_null(), "a replayed ticket is refused: {got}");
    assert!(results[2].is_null(), "a ticket for another service is refused: {got}");
    assert!(results[3].is_null(), "a forged ticket is refused: {got}");
}
