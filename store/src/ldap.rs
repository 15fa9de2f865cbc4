//! The OpenLDAP target's side of the store, written once like `sql.rs`: `ldap_impl!` expands to
//! `LdapStore` (the tracking of what orgid has put in the directory) and to `apply_delta`, which
//! runs use to write their `DitDelta` in their own transaction (its operations go to the outbox,
//! `outbox.rs`, under the target `ldap`).
//!
//! A delta that changes the tracking bumps the store revision like a plan does: later plans are
//! computed against the tracking, so a run that planned before it must not apply after it.

use orgid_directory::target::ldap::{DitDelta, Node, QueuedOp, TrackedUser};
use orgid_directory::{PersonKey, StoreError};

use crate::error::json;
use crate::sql::last_per_key;

/// A delta ready to write, with repeated keys reduced to their last value (tracked users in key
/// order, see `by_key`). Node DNs are serialised before the write transaction begins; operations
/// and tracked users chunk by chunk while they are written, so a first load's 100,000 of each
/// never exist twice in memory.
pub(crate) struct DeltaRows<'a> {
    pub(crate) ops: &'a [QueuedOp],
    pub(crate) upserts: Vec<(&'a PersonKey, &'a TrackedUser)>,
    pub(crate) deletes: Vec<&'a PersonKey>,
    pub(crate) nodes: Vec<(&'a Node, String)>,
    pub(crate) renamed: Vec<(&'a str, &'a str)>,
}

impl<'a> DeltaRows<'a> {
    pub(crate) fn new(delta: &'a DitDelta) -> Result<Self, StoreError> {
        let ops = &delta.ops[..];
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (key, user) in last_per_key(&delta.users, |u| &u.0) {
            match user {
                Some(u) => upserts.push((key, u)),
                None => deletes.push(key),
            }
        }
        upserts.sort_unstable_by(|a, b| a.0.cmp(b.0));
        deletes.sort_unstable();
        let nodes = last_per_key(&delta.nodes, |n| &n.key)
            .into_iter()
            .map(|n| serde_json::to_string(&n.dn).map(|j| (n, j)).map_err(|e| json("node DN", e)))
            .collect::<Result<_, _>>()?;
        let renamed = delta
            .renamed
            .iter()
            .filter(|(old, new)| old != new)
            .map(|(old, new)| (old.as_str(), new.as_str()))
            .collect();
        Ok(DeltaRows { ops, upserts, deletes, nodes, renamed })
    }

    /// Whether writing it changes the tracking (operations alone do not).
    pub(crate) fn changes_tracking(&self) -> bool {
        !self.upserts.is_empty() || !self.deletes.is_empty() || !self.nodes.is_empty() || !self.renamed.is_empty()
    }
}

/// A held run's delta, as kept in `runs.delta` until approval.
pub(crate) fn kept_delta(delta: Option<&DitDelta>) -> Result<Option<String>, StoreError> {
    delta.filter(|d| !d.is_empty()).map(|d| serde_json::to_string(d).map_err(|e| json("held delta", e))).transpose()
}

macro_rules! ldap_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Writes a delta: renames first (users under an old node key move to the new one, the
            /// old node goes), then nodes, tracked users, and the operations in order, queued with
            /// `run` at `at` and due at once. Returns the operations' outbox seqs, in their order.
            async fn apply_delta(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: Option<RunId>,
                rows: &DeltaRows<'_>,
                at: DateTime<Utc>,
            ) -> Result<Vec<i64>, StoreError> {
                for (old, new) in &rows.renamed {
                    sqlx::query("UPDATE ldap_users SET parent = $1 WHERE parent = $2")
                        .bind(*new)
                        .bind(*old)
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                    sqlx::query("DELETE FROM ldap_nodes WHERE key = $1")
                        .bind(*old)
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                }

                for chunk in rows.nodes.chunks(chunk_rows(3)) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO ldap_nodes (key, dn, kind) ");
                    q.push_values(chunk, |mut b, (n, dn)| {
                        b.push_bind(n.key.as_str()).push_bind(dn.as_str()).push_bind(node_kind_text(n.kind));
                    });
                    q.push(" ON CONFLICT (key) DO UPDATE SET dn = excluded.dn, kind = excluded.kind");
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }

                for chunk in rows.deletes.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM ldap_users WHERE person_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key.as_str());
                    }
                    q.push(")");
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }

                Self::execute_chunks(tx, rows.upserts.chunks(chunk_rows(5)), |chunk| {
                    let chunk: Vec<(&PersonKey, &TrackedUser, String)> = chunk
                        .iter()
                        .map(|(key, u)| {
                            serde_json::to_string(&u.groups)
                                .map(|g| (*key, *u, g))
                                .map_err(|e| json("tracked groups", e))
                        })
                        .collect::<Result<_, _>>()?;
                    let mut q =
                        QueryBuilder::<$db>::new("INSERT INTO ldap_users (person_key, parent, login, groups, locked) ");
                    q.push_values(chunk, |mut b, (key, u, groups)| {
                        b.push_bind(key.as_str())
                            .push_bind(u.parent.as_str())
                            .push_bind(u.login.as_str())
                            .push_bind(groups.as_str())
                            .push_bind(u.locked);
                    });
                    q.push(
                        " ON CONFLICT (person_key) DO UPDATE SET parent = excluded.parent, login = excluded.login, \
                         groups = excluded.groups, locked = excluded.locked",
                    );
                    Ok(q)
                })
                .await?;

                Self::queue(tx, TargetId::Ldap, run, rows.ops, at).await
            }

            /// Tracked users whose `column` is one of `values`, by person key.
            async fn tracked_users_where(
                &self,
                column: &'static str,
                values: &[&str],
            ) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let mut values = values.to_vec();
                values.sort_unstable();
                values.dedup();
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let mut out = Vec::new();
                for chunk in values.chunks(MAX_BINDS) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT person_key, parent, login, groups, locked FROM ldap_users WHERE ",
                    );
                    q.push(column).push(" IN (");
                    let mut list = q.separated(", ");
                    for v in chunk {
                        list.push_bind(*v);
                    }
                    q.push(")");
                    for row in q.build_query_as::<TrackedUserDb>().fetch_all(&mut *conn).await.map_err(db)? {
                        out.push(row.into_domain()?);
                    }
                }
                out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(out)
            }
        }

        #[async_trait]
        impl LdapStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn tracked_nodes(&self) -> Result<Vec<Node>, StoreError> {
                let mut nodes = sqlx::query_as::<_, NodeDb>("SELECT key, dn, kind FROM ldap_nodes")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(NodeDb::into_domain)
                    .collect::<Result<Vec<_>, _>>()?;
                nodes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                Ok(nodes)
            }

            #[tracing::instrument(skip_all, fields(keys = keys.len()), err)]
            async fn tracked_users(&self, keys: &[PersonKey]) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
                self.tracked_users_where("person_key", &keys).await
            }

            #[tracing::instrument(skip_all, fields(parents = parents.len()), err)]
            async fn tracked_users_under(
                &self,
                parents: &[String],
            ) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
                self.tracked_users_where("parent", &parents).await
            }

            #[tracing::instrument(skip_all, err)]
            async fn all_tracked_users(&self) -> Result<Vec<(PersonKey, TrackedUser)>, StoreError> {
                // Sorted here, as `people()`: a plain scan, the same bytewise order on both backends.
                let mut users = sqlx::query_as::<_, TrackedUserDb>(
                    "SELECT person_key, parent, login, groups, locked FROM ldap_users",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map(TrackedUserDb::into_domain)
                .collect::<Result<Vec<_>, _>>()?;
                users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                Ok(users)
            }

            #[tracing::instrument(skip_all, fields(ops = delta.ops.len(), users = delta.users.len()), err)]
            async fn enqueue_directory(&self, delta: &DitDelta, at: DateTime<Utc>) -> Result<(), StoreError> {
                if delta.is_empty() {
                    return Ok(());
                }
                let rows = DeltaRows::new(delta)?;
                let mut tx = self.pool.begin().await.map_err(db)?;
                // A write first (see `sql.rs`), and serialised with the runs that apply plans.
                Self::lock_revision(&mut tx).await?;
                Self::apply_delta(&mut tx, None, &rows, at).await?;
                if rows.changes_tracking() {
                    Self::bump_revision(&mut tx).await?;
                }
                tx.commit().await.map_err(db)
            }
        }
    };
}

pub(crate) use ldap_impl;
