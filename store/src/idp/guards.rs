//! The login flow's guards: spent form tokens (`FormStore`), each form acting once, and the
//! budgets of failed logins (`ThrottleStore`), one theoretical arrival time per key. Tables are
//! in the `0008_idp_guards` migrations; `purge_expired` deletes spent forms that expired and
//! budgets back to full.

macro_rules! guards_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Spends a form in `tx`: true if this call spent it.
            async fn spend_form_tx(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                form_hash: &str,
                expires_at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let done = ::sqlx::query(
                    "INSERT INTO idp_spent_forms (form_hash, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (form_hash) DO NOTHING",
                )
                .bind(form_hash)
                .bind(millis(expires_at))
                .execute(&mut **tx)
                .await
                .map_err(db)?;
                Ok(done.rows_affected() == 1)
            }

            /// Each rule's key with its current time, the rows locked (taken in key order, so
            /// that concurrent calls on the same keys queue instead of deadlocking).
            async fn throttle_times(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                rules: &[orgid_directory::idp::ThrottleRule],
            ) -> Result<Vec<(usize, DateTime<Utc>)>, StoreError> {
                let mut order: Vec<usize> = (0..rules.len()).collect();
                order.sort_by(|a, b| rules[*a].key.cmp(&rules[*b].key));
                let mut out = Vec::with_capacity(rules.len());
                for i in order {
                    // A write first (SQLite's write lock; PostgreSQL's row), a row for a new key.
                    let tat = ::sqlx::query_scalar::<_, i64>(
                        "INSERT INTO idp_throttle (key, tat) VALUES ($1, 0) \
                         ON CONFLICT (key) DO UPDATE SET tat = idp_throttle.tat RETURNING tat",
                    )
                    .bind(rules[i].key.as_str())
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db)?;
                    out.push((i, time(tat)?));
                }
                Ok(out)
            }

            async fn set_throttle_time(
                tx: &mut ::sqlx::Transaction<'_, $db>,
                key: &str,
                tat: i64,
            ) -> Result<(), StoreError> {
                ::sqlx::query("UPDATE idp_throttle SET tat = $2 WHERE key = $1")
                    .bind(key)
                    .bind(tat)
                    .execute(&mut **tx)
                    .await
                    .map_err(db)
                    .map(drop)
            }
        }

        #[async_trait]
        impl orgid_directory::idp::FormStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn spend_form(&self, form_hash: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let spent = Self::spend_form_tx(&mut tx, form_hash, expires_at).await?;
                tx.commit().await.map_err(db)?;
                Ok(spent)
            }
        }

        #[async_trait]
        impl orgid_directory::idp::ThrottleStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn charge_attempt(
                &self,
                rules: &[orgid_directory::idp::ThrottleRule],
                at: DateTime<Utc>,
            ) -> Result<Option<chrono::Duration>, StoreError> {
                if rules.is_empty() {
                    return Ok(None);
                }
                let mut tx = self.pool.begin().await.map_err(db)?;
                let times = Self::throttle_times(&mut tx, rules).await?;
                let mut next = Vec::with_capacity(times.len());
                let mut wait: Option<chrono::Duration> = None;
                for (i, tat) in times {
                    match rules[i].charge(Some(tat), at) {
                        Ok(t) => next.push((i, t)),
                        Err(w) => wait = Some(wait.map_or(w, |x| x.max(w))),
                    }
                }
                if wait.is_some() {
                    // Nothing charged: the rows made for new keys go with the rollback.
                    return Ok(wait);
                }
                for (i, t) in next {
                    Self::set_throttle_time(&mut tx, &rules[i].key, millis(t)).await?;
                }
                tx.commit().await.map_err(db)?;
                Ok(None)
            }

            #[tracing::instrument(skip_all, err)]
            async fn refund_attempt(
                &self,
                rules: &[orgid_directory::idp::ThrottleRule],
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                if rules.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(db)?;
                for (i, tat) in Self::throttle_times(&mut tx, rules).await? {
                    // A key back to a full budget keeps a time in the past; the purge takes it.
                    let back = rules[i].refund(tat, at).unwrap_or(at);
                    Self::set_throttle_time(&mut tx, &rules[i].key, millis(back)).await?;
                }
                tx.commit().await.map_err(db)
            }
        }
    };
}

pub(crate) use guards_impl;
