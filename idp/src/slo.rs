//! Single logout, for every face: when an SSO session ends (a logout, a password reset, an
//! administrator, its idle or absolute limit, its account closed), each client that got a ticket
//! or a token in it is told, once: a CAS logout request to each service ticket's service, an
//! OIDC logout token to each client's back-channel URI; a SAML SP is told by the logout page
//! (through the browser), and is audited here as not told when the session ended without one.
//! What each protocol sends is its face's
//! (`Provider::logout_message` at the crate root); here the sweep, retries and audit.
//!
//! The notices live in the store (`LogoutStore`), written when a ticket is validated or a code
//! issued; a sweep (right after a logout here, and every few seconds from `serve`) delivers
//! those whose session is over. A failed delivery is tried again with a growing delay and
//! given up after [`ATTEMPTS`], each outcome audited (`single_logout`).

use chrono::Duration;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::{LogoutNotice, SessionEnd};

use crate::audit::session_id;
use crate::{IdpError, Provider};

/// Deliveries tried before a notice is given up.
pub const ATTEMPTS: u32 = 6;
/// The first retry's delay; each next one doubles it.
const FIRST_RETRY_SECS: i64 = 30;
/// How long a sweep holds the notices it took (another replica leaves them alone).
const CLAIM_SECS: i64 = 60;
/// Notices taken per round of a sweep.
const BATCH: u32 = 100;

/// A message for a client: POSTed as a form with one field.
pub(crate) struct LogoutMessage {
    pub url: String,
    pub field: &'static str,
    pub value: String,
    /// A redirect counts as received (CAS clients such as mod_auth_cas act on the logout
    /// request, then send the unauthenticated POST to the login page); OIDC wants a 2xx.
    pub redirect_ok: bool,
}

fn why(end: SessionEnd) -> &'static str {
    match end {
        SessionEnd::Ended => "session ended",
        SessionEnd::Expired => "session expired",
        SessionEnd::AccountClosed => "account can no longer sign in",
    }
}

impl Provider {
    /// Delivers the single-logout notices due now; returns how many were delivered.
    pub async fn single_logout(&self) -> Result<u32, IdpError> {
        let mut delivered = 0;
        loop {
            let now = self.now();
            let idle = Duration::minutes(i64::from(self.inner.settings.session.idle_minutes));
            let due = self.inner.store.logouts_due(now, now - idle, now + Duration::seconds(CLAIM_SECS), BATCH).await?;
            let n = due.len();
            for (notice, end) in due {
                if self.deliver(&notice, end).await? {
                    delivered += 1;
                }
            }
            if n < BATCH as usize {
                return Ok(delivered);
            }
        }
    }

    /// Starts a sweep in the background (after a logout: the request does not wait for it).
    pub(crate) fn single_logout_soon(&self) {
        let p = self.clone();
        tokio::spawn(async move {
            if let Err(e) = p.single_logout().await {
                tracing::warn!(error = %e, "single logout sweep");
            }
        });
    }

    async fn deliver(&self, n: &LogoutNotice, end: SessionEnd) -> Result<bool, IdpError> {
        // A SAML SP is told through the browser's logout page only (`saml/idp_logout.rs`): a
        // session that ended without one leaves it untold, said once in the audit trail.
        let saml = n.protocol == "saml";
        let result = match self.logout_message(n).await? {
            Some(m) => self.post_form(&m).await,
            None if saml => Err("not reachable without a browser (HTTP-Redirect single logout only)".to_string()),
            None => Err("the client is gone or has no logout address".to_string()),
        };
        let now = self.now();
        let company = self.inner.store.subject(&n.login).await?.map(|s| s.company);
        let ctx = crate::audit::Peer::default().context(Some(&n.client_id), Some(&n.session_hash));
        let event = |outcome| {
            AuditEvent::new(now, EventKind::SingleLogout, outcome, Actor::System("single-logout".into()))
                .subject(&n.login, company.as_ref())
                .context(&ctx)
                .attr("protocol", n.protocol.as_str())
                .attr("target", n.target.as_str())
                .attr("session", session_id(&n.session_hash))
                .attr("attempt", (n.attempts + 1).to_string())
        };
        match result {
            Ok(()) => {
                let ok = event(AuditOutcome::Success).reason(why(end));
                self.inner.store.logout_tried(&n.id, true, None, &[ok]).await?;
                Ok(true)
            }
            Err(e) => {
                let last = saml || n.attempts + 1 >= ATTEMPTS;
                let retry = (!last).then(|| now + Duration::seconds(FIRST_RETRY_SECS << n.attempts.min(10)));
                let text = if last { format!("given up: {e}") } else { format!("will retry: {e}") };
                tracing::warn!(client = %n.client_id, target = %n.target, "single logout not delivered: {e}");
                self.inner
                    .store
                    .logout_tried(&n.id, false, retry, &[event(AuditOutcome::Failure).reason(text)])
                    .await?;
                Ok(false)
            }
        }
    }

    async fn post_form(&self, m: &LogoutMessage) -> Result<(), String> {
        let res = self
            .inner
            .http
            .post(&m.url)
            .form(&[(m.field, m.value.as_str())])
            .send()
            .await
            .map_err(|e| format!("{}", e.without_url()))?;
        let st = res.status();
        if st.is_success() || (m.redirect_ok && st.is_redirection()) {
            Ok(())
        } else {
            Err(format!("HTTP {}", st.as_u16()))
        }
    }
}
