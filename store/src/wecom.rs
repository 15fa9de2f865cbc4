//! The WeCom target's side of the store, written once like `ldap.rs`: `wecom_impl!` expands to
//! `WecomStore` (the tracking of the departments and members orgid put in WeCom) and to
//! `apply_wecom`, which runs use to write their `WecomDelta` in their own transaction (its
//! operations go to the outbox, `outbox.rs`, under the target `wecom`).

use orgid_directory::target::wecom::{TrackedDept, TrackedMember, WecomDelta};
use orgid_directory::{PersonKey, StoreError};

use crate::sql::last_per_key;

#[derive(sqlx::FromRow)]
pub(crate) struct WecomDeptDb {
    key: String,
    id: i64,
    name: String,
    parent: i64,
    sort_order: i64,
}

impl WecomDeptDb {
    pub(crate) fn into_domain(self) -> TrackedDept {
        TrackedDept { key: self.key, id: self.id, name: self.name, parent: self.parent, order: self.sort_order }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WecomMemberDb {
    person_key: String,
    userid: String,
    dept: String,
    enabled: bool,
}

impl WecomMemberDb {
    pub(crate) fn into_domain(self) -> (PersonKey, TrackedMember) {
        (
            PersonKey::from(self.person_key),
            TrackedMember { userid: self.userid, dept: self.dept, enabled: self.enabled },
        )
    }
}

/// A delta's tracking with repeated keys reduced to their last value.
pub(crate) struct WecomRows<'a> {
    pub(crate) delta: &'a WecomDelta,
    pub(crate) departments: Vec<&'a TrackedDept>,
    pub(crate) upserts: Vec<(&'a PersonKey, &'a TrackedMember)>,
    pub(crate) deletes: Vec<&'a PersonKey>,
}

impl<'a> WecomRows<'a> {
    pub(crate) fn new(delta: &'a WecomDelta) -> Result<Self, StoreError> {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (key, m) in last_per_key(&delta.members, |m| &m.0) {
            match m {
                Some(m) => upserts.push((key, m)),
                None => deletes.push(key),
            }
        }
        upserts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let departments = last_per_key(&delta.departments, |d| &d.key);
        Ok(WecomRows { delta, departments, upserts, deletes })
    }

    pub(crate) fn changes_tracking(&self) -> bool {
        !self.upserts.is_empty()
            || !self.deletes.is_empty()
            || !self.departments.is_empty()
            || !self.delta.renamed.is_empty()
    }
}

macro_rules! wecom_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Writes a WeCom delta: renamed department keys first (members follow), then
            /// departments, members, and the operations in order. Returns their outbox seqs.
            pub(crate) async fn apply_wecom(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: Option<RunId>,
                rows: &WecomRows<'_>,
                at: DateTime<Utc>,
            ) -> Result<Vec<i64>, StoreError> {
                for (old, new) in rows.delta.renamed.iter().filter(|(o, n)| o != n) {
                    sqlx::query("UPDATE wecom_members SET dept = $1 WHERE dept = $2")
                        .bind(new.as_str())
                        .bind(old.as_str())
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                    sqlx::query("DELETE FROM wecom_departments WHERE key = $1")
                        .bind(old.as_str())
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                }
                for chunk in rows.departments.chunks(chunk_rows(5)) {
                    let mut q =
                        QueryBuilder::<$db>::new("INSERT INTO wecom_departments (key, id, name, parent, sort_order) ");
                    q.push_values(chunk, |mut b, d| {
                        b.push_bind(d.key.as_str())
                            .push_bind(d.id)
                            .push_bind(d.name.as_str())
                            .push_bind(d.parent)
                            .push_bind(d.order);
                    });
                    q.push(
                        " ON CONFLICT (key) DO UPDATE SET id = excluded.id, name = excluded.name, \
                         parent = excluded.parent, sort_order = excluded.sort_order",
                    );
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                for chunk in rows.deletes.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM wecom_members WHERE person_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key.as_str());
                    }
                    q.push(")");
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                for chunk in rows.upserts.chunks(chunk_rows(4)) {
                    let mut q =
                        QueryBuilder::<$db>::new("INSERT INTO wecom_members (person_key, userid, dept, enabled) ");
                    q.push_values(chunk, |mut b, (key, m)| {
                        b.push_bind(key.as_str())
                            .push_bind(m.userid.as_str())
                            .push_bind(m.dept.as_str())
                            .push_bind(m.enabled);
                    });
                    q.push(
                        " ON CONFLICT (person_key) DO UPDATE SET userid = excluded.userid, dept = excluded.dept, \
                         enabled = excluded.enabled",
                    );
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                Self::queue(tx, TargetId::Wecom, run, &rows.delta.ops, at).await
            }

            async fn wecom_members_where(
                &self,
                column: &'static str,
                values: &[&str],
            ) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
                let mut values = values.to_vec();
                values.sort_unstable();
                values.dedup();
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let mut out = Vec::new();
                for chunk in values.chunks(MAX_BINDS) {
                    let mut q =
                        QueryBuilder::<$db>::new("SELECT person_key, userid, dept, enabled FROM wecom_members WHERE ");
                    q.push(column).push(" IN (");
                    let mut list = q.separated(", ");
                    for v in chunk {
                        list.push_bind(*v);
                    }
                    q.push(")");
                    for row in q.build_query_as::<WecomMemberDb>().fetch_all(&mut *conn).await.map_err(db)? {
                        out.push(row.into_domain());
                    }
                }
                out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(out)
            }
        }

        #[async_trait]
        impl WecomStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn wecom_departments(&self) -> Result<Vec<TrackedDept>, StoreError> {
                let mut out: Vec<TrackedDept> =
                    sqlx::query_as::<_, WecomDeptDb>("SELECT key, id, name, parent, sort_order FROM wecom_departments")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .map(WecomDeptDb::into_domain)
                        .collect();
                out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                Ok(out)
            }

            #[tracing::instrument(skip_all, fields(keys = keys.len()), err)]
            async fn wecom_members(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
                let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                self.wecom_members_where("person_key", &keys).await
            }

            #[tracing::instrument(skip_all, fields(depts = depts.len()), err)]
            async fn wecom_members_in(&self, depts: &[String]) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
                let depts: Vec<&str> = depts.iter().map(String::as_str).collect();
                self.wecom_members_where("dept", &depts).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn all_wecom_members(&self) -> Result<Vec<(PersonKey, TrackedMember)>, StoreError> {
                let mut out: Vec<(PersonKey, TrackedMember)> =
                    sqlx::query_as::<_, WecomMemberDb>("SELECT person_key, userid, dept, enabled FROM wecom_members")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .map(WecomMemberDb::into_domain)
                        .collect();
                out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(out)
            }

            #[tracing::instrument(skip_all, fields(ops = delta.ops.len(), events = events.len()), err)]
            async fn enqueue_wecom(
                &self,
                delta: &WecomDelta,
                at: DateTime<Utc>,
                events: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                if delta.is_empty() && events.is_empty() {
                    return Ok(());
                }
                let rows = WecomRows::new(delta)?;
                let mut tx = self.pool.begin().await.map_err(db)?;
                Self::lock_revision(&mut tx).await?;
                Self::apply_wecom(&mut tx, None, &rows, at).await?;
                if rows.changes_tracking() {
                    Self::bump_revision(&mut tx).await?;
                }
                $crate::audit::append_tx(&mut tx, events).await?;
                tx.commit().await.map_err(db)
            }
        }
    };
}

pub(crate) use wecom_impl;
