//! The store, written once: `store_impl!` expands to the four directory store traits for one
//! backend (`ldap.rs` adds the fifth, `DirectoryStore`). The SQL is the common subset of SQLite and PostgreSQL (`$n` placeholders,
//! `ON CONFLICT … DO UPDATE`, `RETURNING`); the two backends differ only in their migrations.
//!
//! Concurrency: every transaction begins with a write (to the `store_revision` row when it applies
//! or approves a plan, else to the run's own row), so SQLite takes its write lock up front (no
//! stale-snapshot upgrade failures, `busy_timeout` applies) and PostgreSQL serialises the runs
//! that apply plans on the revision row.

use orgid_directory::{AccountChange, Company, Plan};
use serde::{Deserialize, Serialize};

/// What a held run keeps for approval: the plan and the company list it was planned with.
#[derive(Deserialize)]
pub(crate) struct KeptPlan {
    pub(crate) companies: Vec<Company>,
    pub(crate) plan: Plan,
}

/// `KeptPlan` as written, borrowing.
#[derive(Serialize)]
pub(crate) struct KeptPlanRef<'a> {
    pub(crate) companies: &'a [Company],
    pub(crate) plan: &'a Plan,
}

/// Bound parameters per multi-row statement (125 people, 222 changes). Larger statements save
/// little time but cost memory: sqlx keeps each distinct one prepared, with copies of its values.
/// Well below SQLite's limit (32,766) and PostgreSQL's (65,535).
pub(crate) const MAX_BINDS: usize = 2_000;

/// People plus changes from which a run counts as large (see `finish_run`).
pub(crate) const LARGE_RUN: usize = 20_000;

pub(crate) fn chunk_rows(columns: usize) -> usize {
    (MAX_BINDS / columns).max(1)
}

/// Keeps the last occurrence of each key, in first-seen order: a multi-row upsert must not
/// name a key twice (PostgreSQL refuses to update a row twice in one statement).
pub(crate) fn last_per_key<'a, T, K: Eq + std::hash::Hash>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<&'a T> {
    let mut at: std::collections::HashMap<K, usize> = std::collections::HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match at.get(&key(item)) {
            Some(&i) => out[i] = item,
            None => {
                at.insert(key(item), out.len());
                out.push(item);
            }
        }
    }
    out
}

/// `rows` sorted by `key`. A bulk write in key order touches each page of a key index once; in
/// roster order (random, as person keys are hashes) a 100,000-person first load overflows SQLite's
/// page cache and reads its own pages back many times.
pub(crate) fn by_key<'a, T, K: Ord + ?Sized + 'a>(mut rows: Vec<&'a T>, key: impl Fn(&'a T) -> &'a K) -> Vec<&'a T> {
    rows.sort_unstable_by(|a, b| key(a).cmp(key(b)));
    rows
}

/// The ledger's copy of each change, serialised one chunk at a time while it is written: a first
/// load has 100,000 of them, and holding all their JSON at once costs more than the brief write lock.
pub(crate) fn changes_json(changes: &[AccountChange]) -> Result<Vec<String>, orgid_directory::StoreError> {
    changes.iter().map(|c| serde_json::to_string(c).map_err(|e| crate::error::json("account change", e))).collect()
}

/// The people table's secondary indexes, as the migrations create them. A large first load into
/// an empty store drops them and builds them again once the rows are in (in the same
/// transaction): inserted row by row, in the order of the person keys, they took random pages of
/// indexes much larger than the page cache, and a million-person load slowed down as it grew.
pub(crate) const PEOPLE_INDEXES: [(&str, &str); 2] = [
    ("DROP INDEX people_employee_number", "CREATE INDEX people_employee_number ON people (employee_number)"),
    ("DROP INDEX people_company", "CREATE INDEX people_company ON people (company, employee_number)"),
];

macro_rules! person_columns {
    () => {
        "p.person_key, p.employee_number, p.name, p.gender, p.company, p.department, p.title, p.grade, p.mobile, \
         p.email, p.hire_date, p.confidential, p.employment, p.leave_date, p.source, p.updated_at, a.login, a.status, \
         a.rule, a.opened_at, a.closed_at, a.updated_at AS account_updated_at"
    };
}

macro_rules! account_columns {
    () => {
        "a.login, p.employee_number, p.name, p.company, p.department, p.title, p.grade, a.status, a.rule, \
         a.opened_at, a.closed_at, a.updated_at"
    };
}

macro_rules! run_columns {
    () => {
        "id, kind, sources, actor, started_at, finished_at, status, counts, active_people, rejected_rows, message, \
         approval_of"
    };
}

macro_rules! store_impl {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Executes the statement `build` makes of each chunk, one after the other, building
            /// the next one while the database executes the current one: a large run's
            /// serialising and binding (here) then overlaps the database's own work (on the
            /// connection's thread for SQLite, on the server for PostgreSQL).
            async fn execute_chunks<T>(
                tx: &mut sqlx::Transaction<'_, $db>,
                chunks: impl IntoIterator<Item = T>,
                mut build: impl FnMut(T) -> Result<QueryBuilder<$db>, StoreError>,
            ) -> Result<(), StoreError> {
                let mut chunks = chunks.into_iter();
                let Some(first) = chunks.next() else { return Ok(()) };
                let mut current = build(first)?;
                loop {
                    let (done, next) = futures_util::future::join(
                        current.build().execute(&mut **tx),
                        async { chunks.next().map(&mut build).transpose() },
                    )
                    .await;
                    done.map_err(db)?;
                    match next? {
                        Some(q) => current = q,
                        None => return Ok(()),
                    }
                }
            }

            /// Whether the store holds nobody yet (a first load).
            async fn no_people(tx: &mut sqlx::Transaction<'_, $db>) -> Result<bool, StoreError> {
                let any = sqlx::query_scalar::<_, i64>("SELECT 1 FROM people LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db)?;
                Ok(any.is_none())
            }

            /// Locks the revision row (a write, see the module doc) and returns the revision.
            async fn lock_revision(tx: &mut sqlx::Transaction<'_, $db>) -> Result<i64, StoreError> {
                sqlx::query_scalar::<_, i64>(
                    "UPDATE store_revision SET revision = revision WHERE id = 1 RETURNING revision",
                )
                .fetch_one(&mut **tx)
                .await
                .map_err(db)
            }

            async fn bump_revision(tx: &mut sqlx::Transaction<'_, $db>) -> Result<(), StoreError> {
                sqlx::query("UPDATE store_revision SET revision = revision + 1 WHERE id = 1")
                    .execute(&mut **tx)
                    .await
                    .map_err(db)?;
                Ok(())
            }

            async fn run_state(tx: &mut sqlx::Transaction<'_, $db>, id: RunId) -> Result<RunStateDb, StoreError> {
                sqlx::query_as::<_, RunStateDb>(
                    "SELECT status, base_revision, plan, delta, active_people FROM runs WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?
                .ok_or_else(|| StoreError::NotFound(format!("run {id}")))
            }

            /// Locks the revision row and checks that `run` is running and that nothing was applied
            /// since its base revision (`Conflict` otherwise).
            async fn lock_for_run(tx: &mut sqlx::Transaction<'_, $db>, run: RunId) -> Result<(), StoreError> {
                let revision = Self::lock_revision(tx).await?;
                let state = Self::run_state(tx, run).await?;
                Self::expect_running(run, &state)?;
                if state.base_revision != revision {
                    return Err(StoreError::Conflict(format!(
                        "another run was applied while run {run} was running; run the sync again"
                    )));
                }
                Ok(())
            }

            fn expect_running(id: RunId, state: &RunStateDb) -> Result<(), StoreError> {
                if state.status == RunStatus::Running.as_str() {
                    Ok(())
                } else {
                    Err(StoreError::Conflict(format!("run {id} has already finished ({})", state.status)))
                }
            }

            /// Writes companies that differ from the stored ones, the people and accounts, and the
            /// changes as run `run`'s ledger (numbered after `changes_before` written earlier).
            /// Returns whether any state changed.
            async fn apply_plan(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: RunId,
                companies: &[Company],
                (people, changes): (&[PersonRecord], &[AccountChange]),
                changes_before: usize,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let now = millis(at);
                let stored: HashMap<String, Company> =
                    sqlx::query_as::<_, CompanyDb>("SELECT code, name, parent, tier, mode FROM companies")
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(db)?
                        .into_iter()
                        .map(|c| c.into_domain().map(|c| (c.code.0.clone(), c)))
                        .collect::<Result<_, _>>()?;
                let companies: Vec<&Company> = last_per_key(companies, |c| &c.code)
                    .into_iter()
                    .filter(|c| stored.get(&c.code.0) != Some(*c))
                    .collect();
                for chunk in companies.chunks(chunk_rows(6)) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO companies (code, name, parent, tier, mode, updated_at) ");
                    q.push_values(chunk, |mut b, c| {
                        b.push_bind(c.code.0.as_str())
                            .push_bind(c.name.as_str())
                            .push_bind(c.parent.as_ref().map(|p| p.0.as_str()))
                            .push_bind(c.tier.as_str())
                            .push_bind(c.mode.as_str())
                            .push_bind(now);
                    });
                    q.push(
                        " ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
                         tier = excluded.tier, mode = excluded.mode, updated_at = excluded.updated_at",
                    );
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }

                // In key order: the rows then go to the right edge of the key indexes instead of
                // all over them, which keeps a first load's pages in the cache (see `by_key`).
                let people = by_key(last_per_key(people, |p| &p.key), |p| &p.key);
                Self::execute_chunks(tx, people.chunks(chunk_rows(16)), |chunk| {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO people (person_key, employee_number, name, gender, company, department, title, \
                         grade, mobile, email, hire_date, confidential, employment, leave_date, source, updated_at) ",
                    );
                    q.push_values(chunk, |mut b, p| {
                        let f = &p.profile;
                        b.push_bind(p.key.as_str())
                            .push_bind(f.employee_number.as_str())
                            .push_bind(f.name.as_str())
                            .push_bind(gender_text(f.gender))
                            .push_bind(f.company.0.as_str())
                            .push_bind(f.department.as_str())
                            .push_bind(f.title.as_str())
                            .push_bind(f.grade.map(|g| g.to_string()))
                            .push_bind(f.mobile.as_str())
                            .push_bind(f.email.as_str())
                            .push_bind(date_text(f.hire_date))
                            .push_bind(f.confidential)
                            .push_bind(employment_text(p.employment))
                            .push_bind(date_text(p.leave_date))
                            .push_bind(p.source.as_str())
                            .push_bind(now);
                    });
                    q.push(
                        " ON CONFLICT (person_key) DO UPDATE SET employee_number = excluded.employee_number, \
                         name = excluded.name, gender = excluded.gender, company = excluded.company, \
                         department = excluded.department, title = excluded.title, grade = excluded.grade, \
                         mobile = excluded.mobile, email = excluded.email, hire_date = excluded.hire_date, \
                         confidential = excluded.confidential, employment = excluded.employment, \
                         leave_date = excluded.leave_date, source = excluded.source, updated_at = excluded.updated_at",
                    );
                    Ok(q)
                })
                .await?;

                let accounts = by_key(last_per_key(changes, |c| &c.person_key), |c| &c.person_key);
                Self::execute_chunks(tx, accounts.chunks(chunk_rows(7)), |chunk| {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO accounts (person_key, login, status, rule, opened_at, closed_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut b, c| {
                        let a = &c.account;
                        b.push_bind(c.person_key.as_str())
                            .push_bind(a.login.as_str())
                            .push_bind(a.status.as_str())
                            .push_bind(a.rule.as_str())
                            .push_bind(opt_millis(a.opened_at))
                            .push_bind(opt_millis(a.closed_at))
                            .push_bind(millis(a.updated_at));
                    });
                    q.push(
                        " ON CONFLICT (person_key) DO UPDATE SET login = excluded.login, status = excluded.status, \
                         rule = excluded.rule, opened_at = excluded.opened_at, closed_at = excluded.closed_at, \
                         updated_at = excluded.updated_at",
                    );
                    Ok(q)
                })
                .await?;

                let rows = chunk_rows(9);
                Self::execute_chunks(tx, changes.chunks(rows).enumerate(), |(n, chunk)| {
                    let json = changes_json(chunk)?;
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO run_changes (run_id, seq, person_key, login, op, employee_number, name, company, \
                         change) ",
                    );
                    q.push_values(chunk.iter().zip(json).enumerate(), |mut b, (i, (c, json))| {
                        b.push_bind(run.0)
                            .push_bind((changes_before + n * rows + i + 1) as i64)
                            .push_bind(c.person_key.as_str())
                            .push_bind(c.account.login.as_str())
                            .push_bind(c.op.as_str())
                            .push_bind(c.employee_number.as_str())
                            .push_bind(c.name.as_str())
                            .push_bind(c.company.0.as_str())
                            .push_bind(json);
                    });
                    Ok(q)
                })
                .await?;
                Ok(!companies.is_empty() || !people.is_empty() || !accounts.is_empty())
            }

            async fn insert_rejections(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: RunId,
                rejected: &[RowError],
            ) -> Result<(), StoreError> {
                let rows = chunk_rows(6);
                for (n, chunk) in rejected.chunks(rows).enumerate() {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO run_rejections (run_id, seq, file, source_row, column_name, reason) ",
                    );
                    q.push_values(chunk.iter().enumerate(), |mut b, (i, r)| {
                        b.push_bind(run.0)
                            .push_bind((n * rows + i + 1) as i64)
                            .push_bind(r.file.as_str())
                            .push_bind(int(r.row))
                            .push_bind(r.column.as_str())
                            .push_bind(r.reason.as_str());
                    });
                    q.build().execute(&mut **tx).await.map_err(db)?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl SettingStore for $store {
            #[tracing::instrument(skip_all, fields(key), err)]
            async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db)
            }

            #[tracing::instrument(skip_all, fields(key), err)]
            async fn init_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                // Settings are never deleted, so the row is there.
                sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE name = $1")
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db)
            }

            #[tracing::instrument(skip_all, fields(key), err)]
            async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await
                .map_err(db)?;
                Ok(())
            }
        }

        #[async_trait]
        impl CompanyStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn companies(&self) -> Result<Vec<Company>, StoreError> {
                sqlx::query_as::<_, CompanyDb>("SELECT code, name, parent, tier, mode FROM companies ORDER BY code")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(CompanyDb::into_domain)
                    .collect()
            }
        }

        #[async_trait]
        impl PersonStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn people(&self) -> Result<Vec<StoredPerson>, StoreError> {
                use futures_util::TryStreamExt;
                // Sorted here rather than in SQL: a plain scan is cheaper than walking the key
                // index, and the order is then the same bytewise order on both backends. Each row
                // becomes a person as it arrives, into a vector sized once: all the rows as read
                // (a million of them at 450 bytes each) are never held beside the people.
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM people")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db)?;
                let mut people = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                let mut rows = sqlx::query_as::<_, PersonDb>(concat!(
                    "SELECT ",
                    person_columns!(),
                    " FROM people p LEFT JOIN accounts a ON a.person_key = p.person_key"
                ))
                .fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(db)? {
                    people.push(row.into_domain()?);
                }
                drop(rows);
                people.sort_unstable_by(|a, b| a.person.key.cmp(&b.person.key));
                Ok(people)
            }

            #[tracing::instrument(skip_all, err)]
            async fn people_in(
                &self,
                companies: &[orgid_directory::CompanyCode],
            ) -> Result<Vec<StoredPerson>, StoreError> {
                let mut people = Vec::new();
                for chunk in companies.chunks(chunk_rows(1)) {
                    let mut q = QueryBuilder::<$db>::new(concat!(
                        "SELECT ",
                        person_columns!(),
                        " FROM people p LEFT JOIN accounts a ON a.person_key = p.person_key WHERE p.company IN ("
                    ));
                    let mut list = q.separated(", ");
                    for c in chunk {
                        list.push_bind(c.0.as_str());
                    }
                    q.push(")");
                    for row in q.build_query_as::<PersonDb>().fetch_all(&self.pool).await.map_err(db)? {
                        people.push(row.into_domain()?);
                    }
                }
                people.sort_unstable_by(|a, b| a.person.key.cmp(&b.person.key));
                Ok(people)
            }

            #[tracing::instrument(skip_all, err)]
            async fn person_by_employee_number(
                &self,
                employee_number: &str,
            ) -> Result<Option<StoredPerson>, StoreError> {
                // An employee number can come back (a rehire, another company's numbering): the
                // person employed now wins, then the most recently updated.
                sqlx::query_as::<_, PersonDb>(concat!(
                    "SELECT ",
                    person_columns!(),
                    " FROM people p LEFT JOIN accounts a ON a.person_key = p.person_key \
                     WHERE p.employee_number = $1 \
                     ORDER BY CASE WHEN p.employment = 'active' THEN 0 ELSE 1 END, p.updated_at DESC, p.person_key \
                     LIMIT 1"
                ))
                .bind(employee_number)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map(PersonDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountRow>, StoreError> {
                let mut q = QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts a JOIN people p ON p.person_key = a.person_key WHERE 1 = 1"
                ));
                if let Some(company) = &filter.company {
                    q.push(" AND p.company = ").push_bind(company.0.as_str());
                }
                if let Some(status) = filter.status {
                    q.push(" AND a.status = ").push_bind(status.as_str());
                }
                if let Some(number) = &filter.employee_number {
                    q.push(" AND p.employee_number = ").push_bind(number.as_str());
                }
                q.push(" ORDER BY p.company, p.employee_number, a.login");
                q.build_query_as::<AccountDb>()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(AccountDb::into_domain)
                    .collect()
            }
        }

        #[async_trait]
        impl RunStore for $store {
            #[tracing::instrument(skip_all, fields(kind = run.kind.as_str(), actor = %run.actor), err)]
            async fn begin_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
                let sources = serde_json::to_string(&run.sources).map_err(|e| json("run sources", e))?;
                let counts = serde_json::to_string(&OpCounts::default()).map_err(|e| json("run counts", e))?;
                let id = sqlx::query_scalar::<_, i64>(
                    "INSERT INTO runs (kind, sources, actor, started_at, status, counts, base_revision, owner) \
                     SELECT $1, $2, $3, $4, $5, $6, revision, $7 FROM store_revision WHERE id = 1 RETURNING id",
                )
                .bind(run.kind.as_str())
                .bind(sources)
                .bind(run.actor.as_str())
                .bind(millis(run.started_at))
                .bind(RunStatus::Running.as_str())
                .bind(counts)
                .bind(run.owner.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
                Ok(RunId(id))
            }

            #[tracing::instrument(skip_all, fields(run = %run, status = %outcome.status), err)]
            async fn finish_run(&self, run: RunId, outcome: RunOutcome<'_>) -> Result<Vec<i64>, StoreError> {
                // A run written in parts is done with the connection they kept.
                self.parts_end(run).await;
                let apply = match outcome.status {
                    RunStatus::Ok | RunStatus::Partial => true,
                    RunStatus::Held | RunStatus::Failed => false,
                    s @ (RunStatus::Running | RunStatus::Approved | RunStatus::Abandoned) => {
                        return Err(StoreError::Backend(format!("a run cannot be finished as `{s}`")));
                    }
                };
                let kept = if outcome.status == RunStatus::Held {
                    let kept = KeptPlanRef { companies: outcome.companies, plan: outcome.plan };
                    Some(serde_json::to_string(&kept).map_err(|e| json("held plan", e))?)
                } else {
                    None
                };
                let delta = match outcome.directory {
                    Some(d) if apply => Some(DeltaRows::new(d)?),
                    _ => None,
                };
                let kept_delta =
                    if outcome.status == RunStatus::Held { kept_delta(outcome.directory)? } else { None };
                let wecom = match outcome.wecom {
                    Some(d) if apply && !d.is_empty() => Some(WecomRows::new(d)?),
                    _ => None,
                };
                let counts = serde_json::to_string(&outcome.plan.counts).map_err(|e| json("run counts", e))?;

                // A first load writes hundreds of megabytes (see `large_write`).
                let mut conn = self.pool.acquire().await.map_err(db)?;
                let large = outcome.plan.people.len() + outcome.plan.changes.len() >= LARGE_RUN;
                if large {
                    Self::large_write(&mut conn, true).await?;
                }
                // Whether the run commits or fails (a conflict, a refused write), its connection
                // goes back to the pool with the usual cache and checkpoints.
                let finished = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
                    let mut queued = Vec::new();
                    if apply {
                        Self::lock_for_run(&mut tx, run).await?;
                        let bulk = large && Self::no_people(&mut tx).await?;
                        if bulk {
                            for (drop, _) in PEOPLE_INDEXES {
                                sqlx::query(drop).execute(&mut *tx).await.map_err(db)?;
                            }
                        }
                        let plan = (&outcome.plan.people[..], &outcome.plan.changes[..]);
                        let planned =
                            Self::apply_plan(&mut tx, run, outcome.companies, plan, 0, outcome.finished_at).await?;
                        if bulk {
                            for (_, create) in PEOPLE_INDEXES {
                                sqlx::query(create).execute(&mut *tx).await.map_err(db)?;
                            }
                        }
                        let tracked = match &delta {
                            Some(rows) => {
                                queued = Self::apply_delta(&mut tx, Some(run), rows, outcome.finished_at).await?;
                                rows.changes_tracking()
                            }
                            None => false,
                        };
                        let tracked = match &wecom {
                            Some(rows) => {
                                Self::apply_wecom(&mut tx, Some(run), rows, outcome.finished_at).await?;
                                tracked || rows.changes_tracking()
                            }
                            None => tracked,
                        };
                        if planned || tracked {
                            Self::bump_revision(&mut tx).await?;
                        }
                    }
                    let updated = sqlx::query(
                        "UPDATE runs SET status = $1, finished_at = $2, counts = $3, active_people = $4, \
                         rejected_rows = $5, message = $6, plan = $7, delta = $8 WHERE id = $9 AND status = $10",
                    )
                    .bind(outcome.status.as_str())
                    .bind(millis(outcome.finished_at))
                    .bind(counts)
                    .bind(int(outcome.active_people))
                    .bind(int(outcome.rejected.len() as u64))
                    .bind(outcome.message.as_deref())
                    .bind(kept)
                    .bind(kept_delta)
                    .bind(run.0)
                    .bind(RunStatus::Running.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    if updated.rows_affected() == 0 {
                        let state = Self::run_state(&mut tx, run).await?;
                        Self::expect_running(run, &state)?;
                    }
                    Self::insert_rejections(&mut tx, run, outcome.rejected).await?;
                    // The audit records are the transaction's last statements.
                    crate::audit::record_run(&mut tx, run, &outcome).await?;
                    tx.commit().await.map_err(db)?;
                    Ok(queued)
                }
                .await;
                if large && Self::large_write(&mut conn, false).await.is_err() {
                    // Never back in the pool without its checkpoints; the run itself is settled.
                    conn.close_on_drop();
                }
                finished
            }

            #[tracing::instrument(skip_all, fields(run = %run, changes_before = part.changes_before), err)]
            async fn apply_run_part(&self, run: RunId, part: RunPart<'_>) -> Result<Vec<i64>, StoreError> {
                let rows = DeltaRows::new(part.directory)?;
                let mut conn = self.part_conn(run).await?;
                let written = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
                    Self::lock_for_run(&mut tx, run).await?;
                    let plan = (part.people, part.changes);
                    Self::apply_plan(&mut tx, run, part.companies, plan, part.changes_before, part.at).await?;
                    let queued = Self::apply_delta(&mut tx, Some(run), &rows, part.at).await?;
                    Self::bump_revision(&mut tx).await?;
                    // The run's own write is no conflict for its next part or its finish.
                    sqlx::query(
                        "UPDATE runs SET base_revision = (SELECT revision FROM store_revision WHERE id = 1) \
                         WHERE id = $1",
                    )
                    .bind(run.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    crate::audit::record_changes(&mut tx, run, part.changes, part.at).await?;
                    tx.commit().await.map_err(db)?;
                    Ok(queued)
                }
                .await;
                self.part_done(run, conn, written.is_ok()).await;
                written
            }

            #[tracing::instrument(skip_all, fields(held = %held, by = %by), err)]
            async fn approve_run(&self, held: RunId, by: RunId, at: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let revision = Self::lock_revision(&mut tx).await?;
                let held_state = Self::run_state(&mut tx, held).await?;
                if held_state.status != RunStatus::Held.as_str() {
                    return Err(StoreError::Conflict(format!(
                        "run {held} is {}, not held: only a held run can be approved",
                        held_state.status
                    )));
                }
                let by_state = Self::run_state(&mut tx, by).await?;
                Self::expect_running(by, &by_state)?;
                if held_state.base_revision != revision {
                    return Err(StoreError::Conflict(format!(
                        "the store changed since run {held} was held; run the sync again"
                    )));
                }
                let kept: KeptPlan = serde_json::from_str(
                    held_state.plan.as_deref().ok_or_else(|| corrupt("held plan", format!("run {held} kept none")))?,
                )
                .map_err(|e| json("held plan", e))?;
                let delta: Option<DitDelta> = held_state
                    .delta
                    .as_deref()
                    .map(|d| serde_json::from_str(d).map_err(|e| json("held delta", e)))
                    .transpose()?;
                let plan = (&kept.plan.people[..], &kept.plan.changes[..]);
                let planned = Self::apply_plan(&mut tx, by, &kept.companies, plan, 0, at).await?;
                let tracked = match &delta {
                    Some(d) => {
                        let rows = DeltaRows::new(d)?;
                        Self::apply_delta(&mut tx, Some(by), &rows, at).await?;
                        rows.changes_tracking()
                    }
                    None => false,
                };
                if planned || tracked {
                    Self::bump_revision(&mut tx).await?;
                }
                let counts = serde_json::to_string(&kept.plan.counts).map_err(|e| json("run counts", e))?;
                sqlx::query(
                    "UPDATE runs SET status = $1, finished_at = $2, counts = $3, active_people = $4, \
                     rejected_rows = 0, message = NULL, approval_of = $5 WHERE id = $6",
                )
                .bind(RunStatus::Ok.as_str())
                .bind(millis(at))
                .bind(counts)
                .bind(held_state.active_people)
                .bind(held.0)
                .bind(by.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                sqlx::query("UPDATE runs SET status = $1, approval_of = $2, plan = NULL, delta = NULL WHERE id = $3")
                    .bind(RunStatus::Approved.as_str())
                    .bind(by.0)
                    .bind(held.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                crate::audit::record_approval(&mut tx, held, by, &kept.plan, at).await?;
                tx.commit().await.map_err(db)
            }

            #[tracing::instrument(skip_all, err)]
            async fn runs(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
                sqlx::query_as::<_, RunDb>(concat!("SELECT ", run_columns!(), " FROM runs ORDER BY id DESC LIMIT $1"))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
                    .into_iter()
                    .map(RunDb::into_domain)
                    .collect()
            }

            #[tracing::instrument(skip_all, fields(run = %id), err)]
            async fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
                let Some(summary) =
                    sqlx::query_as::<_, RunDb>(concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1"))
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db)?
                else {
                    return Ok(None);
                };
                let rejected = sqlx::query_as::<_, RejectionDb>(
                    "SELECT file, source_row, column_name, reason FROM run_rejections WHERE run_id = $1 ORDER BY seq",
                )
                .bind(id.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map(RejectionDb::into_domain)
                .collect::<Result<_, _>>()?;
                let changes = sqlx::query_scalar::<_, String>(
                    "SELECT change FROM run_changes WHERE run_id = $1 ORDER BY seq",
                )
                .bind(id.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .iter()
                .map(|c| serde_json::from_str::<AccountChange>(c).map_err(|e| json("account change", e)))
                .collect::<Result<_, _>>()?;
                Ok(Some(RunDetail { summary: summary.into_domain()?, rejected, changes }))
            }

            #[tracing::instrument(skip_all, err)]
            async fn last_applied_run(&self) -> Result<Option<RunSummary>, StoreError> {
                // An approved run was applied by its approving run, which is `ok` itself. Imports
                // and applied requests cover a few people: they are no base for a roster's size.
                sqlx::query_as::<_, RunDb>(concat!(
                    "SELECT ",
                    run_columns!(),
                    " FROM runs WHERE status IN ('ok', 'partial') AND kind = 'sync' ORDER BY id DESC LIMIT 1"
                ))
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map(RunDb::into_domain)
                .transpose()
            }

            #[tracing::instrument(skip_all, err)]
            async fn running_runs(&self) -> Result<Vec<(RunId, Option<String>)>, StoreError> {
                let rows = sqlx::query_as::<_, (i64, Option<String>)>(
                    "SELECT id, owner FROM runs WHERE status = 'running' ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
                Ok(rows.into_iter().map(|(id, owner)| (RunId(id), owner)).collect())
            }

            #[tracing::instrument(skip_all, fields(run = %run), err)]
            async fn abandon_run(&self, run: RunId, at: DateTime<Utc>, message: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                let done = sqlx::query(
                    "UPDATE runs SET status = 'abandoned', finished_at = $1, message = $2 \
                     WHERE id = $3 AND status = 'running'",
                )
                .bind(millis(at))
                .bind(message)
                .bind(run.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let event = orgid_directory::audit::AuditEvent::new(
                    at,
                    orgid_directory::audit::EventKind::SyncFinished,
                    orgid_directory::audit::AuditOutcome::Failure,
                    orgid_directory::audit::Actor::Run(run),
                )
                .reason(format!("abandoned: {message}"));
                crate::audit::append_tx(&mut tx, std::slice::from_ref(&event)).await?;
                tx.commit().await.map_err(db)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use {account_columns, person_columns, run_columns, store_impl};

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
