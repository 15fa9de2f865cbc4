//! CAS service tickets (`CasStore`) and single-logout notices (`LogoutStore`). Tables are in
//! the `0015_cas_single_logout` migrations; `purge_expired` deletes expired tickets and notices
//! done.
//!
//! A ticket is spent by one conditional `UPDATE … RETURNING`, so of two replicas validating the
//! same ticket one gets it. A due notice is claimed the same way (its `next_at` moved to the
//! claim's end), so two replicas sweeping at once deliver it once (a replica that dies holding
//! a claim leaves the notice to the next sweep after the claim ends).

use orgid_directory::StoreError;
use orgid_directory::idp::{CasTicket, LogoutNotice, SessionEnd};

use super::list;
use crate::rows::time;

#[derive(sqlx::FromRow)]
pub(crate) struct TicketDb {
    ticket_hash: String,
    client_id: String,
    service: String,
    login: String,
    session_hash: String,
    auth_time: i64,
    amr: String,
    from_credentials: bool,
    expires_at: i64,
    actor: Option<String>,
}

impl TicketDb {
    pub(crate) fn into_domain(self) -> Result<CasTicket, StoreError> {
        Ok(CasTicket {
            ticket_hash: self.ticket_hash,
            client_id: self.client_id,
            service: self.service,
            login: self.login,
            session_hash: self.session_hash,
            auth_time: time(self.auth_time)?,
            amr: list("ticket amr", &self.amr)?,
            from_credentials: self.from_credentials,
            expires_at: time(self.expires_at)?,
            actor: self.actor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeDb {
    id: String,
    session_hash: String,
    login: String,
    client_id: String,
    protocol: String,
    target: String,
    ticket: String,
    created_at: i64,
    attempts: i32,
    next_at: i64,
    why: String,
}

impl NoticeDb {
    pub(crate) fn next_at(&self) -> i64 {
        self.next_at
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn into_domain(self) -> Result<(LogoutNotice, SessionEnd), StoreError> {
        let why = match self.why.as_str() {
            "ended" => SessionEnd::Ended,
            "expired" => SessionEnd::Expired,
            _ => SessionEnd::AccountClosed,
        };
        Ok((
            LogoutNotice {
                id: self.id,
                session_hash: self.session_hash,
                login: self.login,
                client_id: self.client_id,
                protocol: self.protocol,
                target: self.target,
                ticket: (!self.ticket.is_empty()).then_some(self.ticket),
                created_at: time(self.created_at)?,
                attempts: u32::try_from(self.attempts).unwrap_or(0),
            },
            why,
        ))
    }
}

/// The due notices with why their session is over: gone (purged after it ended) or ended,
/// expired (absolute, or idle since `$2`), or its account no longer able to sign in.
pub(crate) const DUE_SQL: &str = "SELECT n.id, n.session_hash, n.login, n.client_id, n.protocol, n.target, n.ticket, \
     n.created_at, n.attempts, n.next_at, \
     CASE WHEN s.id_hash IS NULL OR s.ended_at IS NOT NULL THEN 'ended' \
          WHEN s.expires_at <= $1 OR s.last_seen_at <= $2 THEN 'expired' ELSE 'closed' END AS why \
     FROM idp_logout_notices n LEFT JOIN idp_sessions s ON s.id_hash = n.session_hash \
     WHERE n.done_at IS NULL AND n.next_at <= $1 AND ( \
       s.id_hash IS NULL OR s.ended_at IS NOT NULL OR s.expires_at <= $1 OR s.last_seen_at <= $2 \
       OR NOT EXISTS (SELECT 1 FROM accounts a JOIN people p ON p.person_key = a.person_key \
                      WHERE a.login = n.login AND a.status = 'active' AND p.employment <> 'left')) \
     ORDER BY n.next_at LIMIT $3";

macro_rules! cas_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::idp::CasStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn save_ticket(&self, t: &orgid_directory::idp::CasTicket) -> Result<(), StoreError> {
                ::sqlx::query(
                    "INSERT INTO idp_cas_tickets (ticket_hash, client_id, service, login, session_hash, auth_time, \
                     amr, from_credentials, expires_at, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(t.ticket_hash.as_str())
                .bind(t.client_id.as_str())
                .bind(t.service.as_str())
                .bind(t.login.as_str())
                .bind(t.session_hash.as_str())
                .bind(millis(t.auth_time))
                .bind($crate::idp::list_json("ticket amr", &t.amr)?)
                .bind(t.from_credentials)
                .bind(millis(t.expires_at))
                .bind(t.actor.as_deref())
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn take_ticket(
                &self,
                ticket_hash: &str,
                at: DateTime<Utc>,
            ) -> Result<Option<orgid_directory::idp::CasTicket>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::cas::TicketDb>(
                    "UPDATE idp_cas_tickets SET used_at = $2 WHERE ticket_hash = $1 AND used_at IS NULL \
                     RETURNING ticket_hash, client_id, service, login, session_hash, auth_time, amr, \
                     from_credentials, expires_at, actor",
                )
                .bind(ticket_hash)
                .bind(millis(at))
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map($crate::idp::cas::TicketDb::into_domain)
                .transpose()
            }
        }

        #[async_trait]
        impl orgid_directory::idp::LogoutStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn add_notice(&self, n: &orgid_directory::idp::LogoutNotice) -> Result<(), StoreError> {
                ::sqlx::query(
                    "INSERT INTO idp_logout_notices (id, session_hash, login, client_id, protocol, target, ticket, \
                     created_at, attempts, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(n.id.as_str())
                .bind(n.session_hash.as_str())
                .bind(n.login.as_str())
                .bind(n.client_id.as_str())
                .bind(n.protocol.as_str())
                .bind(n.target.as_str())
                .bind(n.ticket.as_deref().unwrap_or(""))
                .bind(millis(n.created_at))
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }

            #[tracing::instrument(skip_all, err)]
            async fn logouts_due(
                &self,
                now: DateTime<Utc>,
                idle_before: DateTime<Utc>,
                claim_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<(orgid_directory::idp::LogoutNotice, orgid_directory::idp::SessionEnd)>, StoreError> {
                let rows = ::sqlx::query_as::<_, $crate::idp::cas::NoticeDb>($crate::idp::cas::DUE_SQL)
                    .bind(millis(now))
                    .bind(millis(idle_before))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    // Claimed only if no other replica moved it since it was read.
                    let claimed = ::sqlx::query(
                        "UPDATE idp_logout_notices SET next_at = $3 WHERE id = $1 AND next_at = $2 \
                         AND done_at IS NULL",
                    )
                    .bind(row.id())
                    .bind(row.next_at())
                    .bind(millis(claim_until))
                    .execute(&self.pool)
                    .await
                    .map_err(db)?
                    .rows_affected();
                    if claimed == 1 {
                        out.push(row.into_domain()?);
                    }
                }
                Ok(out)
            }

            #[tracing::instrument(skip_all, err)]
            async fn session_notices(
                &self,
                session_hash: &str,
                protocol: &str,
            ) -> Result<Vec<orgid_directory::idp::LogoutNotice>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::cas::NoticeDb>(
                    "SELECT id, session_hash, login, client_id, protocol, target, ticket, created_at, attempts, \
                     next_at, 'ended' AS why FROM idp_logout_notices \
                     WHERE session_hash = $1 AND protocol = $2 AND done_at IS NULL ORDER BY created_at, id",
                )
                .bind(session_hash)
                .bind(protocol)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map(|row| row.into_domain().map(|(n, _)| n))
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn logout_tried(
                &self,
                id: &str,
                delivered: bool,
                retry_at: Option<DateTime<Utc>>,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let now = audit.first().map_or_else(|| millis(Utc::now()), |e| millis(e.at));
                match (delivered, retry_at) {
                    (false, Some(at)) => {
                        ::sqlx::query(
                            "UPDATE idp_logout_notices SET attempts = attempts + 1, next_at = $2 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(millis(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    }
                    _ => {
                        ::sqlx::query(
                            "UPDATE idp_logout_notices SET attempts = attempts + 1, done_at = $2 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    }
                }
                Self::commit_audited(tx, audit).await
            }
        }
    };
}

pub(crate) use cas_impl;
