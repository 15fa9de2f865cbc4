//! What every face knows of an account (a `Subject`): whether it may sign in, its opaque
//! subject id, its directory groups (the second-factor rule and the `org` claim read them), and
//! an operator's password reset.

use orgid_directory::AccountStatus;
use orgid_directory::audit::{Actor, AuditEvent, AuditOutcome, EventKind};
use orgid_directory::idp::Subject;

use crate::{IdpError, Provider, password};

/// An account that may sign in and hold tokens: active, its person not departed.
pub(crate) fn active(s: &Subject) -> bool {
    s.status == AccountStatus::Active && !s.departed
}

/// The directory groups of an account: its company code, `code/department`, `confidential`.
pub(crate) fn groups(s: &Subject) -> Vec<String> {
    let mut g = vec![s.company.0.clone()];
    if !s.department.is_empty() {
        g.push(format!("{}/{}", s.company.0, s.department));
    }
    if s.confidential {
        g.push("confidential".into());
    }
    g
}

impl Provider {
    /// The `sub` of an account: an HMAC of its person key, so it is opaque, the same for every
    /// client, and survives a cross-company move (the person, not the employee number, is kept).
    pub fn subject_id(&self, person_key: &orgid_directory::PersonKey) -> String {
        use base64::Engine;
        let tag = ring::hmac::sign(&self.inner.secret, format!("sub\0{}", person_key.0).as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// Ends every session of `login` (an operator's decision: a lost phone, a shared screen), with
    /// the grants issued in them; every client of those sessions is told by the next single-logout
    /// sweep.
    /// Recorded as a logout by `actor`, if a session or grant ended.
    pub async fn end_sessions(&self, login: &str, actor: &Actor) -> Result<(), IdpError> {
        let now = self.now();
        let company = self.inner.store.subject(login).await?.map(|sub| sub.company);
        let ended = AuditEvent::new(now, EventKind::Logout, AuditOutcome::Success, actor.clone())
            .subject(login, company.as_ref())
            .reason("every session ended by an administrator");
        self.inner.store.end_sessions_of(login, now, &[ended]).await?;
        Ok(())
    }

    /// A one-time initial password for `login` (stored hashed, to be changed at first login);
    /// the caller hands it to the user. Ends the login's sessions and grants. Recorded as a
    /// password reset by `actor` (and a logout, if sessions or grants ended).
    pub async fn reset_password(&self, login: &str, actor: &Actor) -> Result<String, IdpError> {
        let s = self.password_policy();
        let pw = password::initial(&s)?;
        // An operator's reset waits for a hashing place rather than fail.
        let hash = self.inner.hashes.enter().await?.hash(&pw).await?;
        let now = self.now();
        let company = self.inner.store.subject(login).await?.map(|sub| sub.company);
        let event = |kind, reason: &str| {
            AuditEvent::new(now, kind, AuditOutcome::Success, actor.clone())
                .subject(login, company.as_ref())
                .reason(reason)
        };
        if let Some(sink) = &self.inner.passwords
            && let Err(e) = sink.set_password(login, &pw).await
        {
            return Err(IdpError::Internal(format!("the directory refused the new password: {e}")));
        }
        let reset = event(EventKind::PasswordReset, "one-time initial password set");
        self.inner.store.set_password(login, &hash, s.change_initial, now, s.history, &[reset]).await?;
        let ended = event(EventKind::Logout, "password reset: every session and grant ended");
        // Their clients are told by the next sweep (`single_logout`: `serve` runs one every few
        // seconds; a command runs one before it exits).
        self.inner.store.end_sessions_of(login, now, &[ended]).await?;
        Ok(pw)
    }
}
