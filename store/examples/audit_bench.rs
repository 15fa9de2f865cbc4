//! Benchmark of the audit trail (run by `bench/audit.sh`): the sustained rate of login records
//! written one per transaction (as a login writes them; 1 and 8 concurrent writers) and in
//! batches, then a bulk load to `--events` chained records, the time to query one account's
//! records among them, and a full verification walk of the chain.
//!
//!   cargo run --release -p orgid-store --example audit_bench -- URL [--events N] [--accounts N] [--seconds S]
//!   … --logins-only    # just the login path's rates, on an empty store

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step should stop it

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use orgid_directory::audit::Actor;
use orgid_directory::audit::{
    AuditEvent, AuditFields, AuditFilter, AuditOutcome, AuditScope, ChainHead, ChainVerifier, EventKind, LoginFailure,
    Order, PageRequest, RequestContext, chain,
};
use orgid_directory::idp::CredentialStore;
use orgid_directory::{Account, AccountChange, AccountStatus, AuditStore, CompanyCode, Op, PersonKey, RunId};
use orgid_store::AnyStore;

struct Args {
    url: String,
    events: u64,
    accounts: u64,
    seconds: u64,
    logins_only: bool,
}

fn args() -> Args {
    let mut a = Args { url: String::new(), events: 10_000_000, accounts: 20_000, seconds: 10, logins_only: false };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = || it.next().and_then(|v| v.replace('_', "").parse().ok()).expect("a number");
        match x.as_str() {
            "--events" => a.events = num(),
            "--accounts" => a.accounts = num(),
            "--seconds" => a.seconds = num(),
            "--logins-only" => a.logins_only = true,
            url => a.url = url.to_string(),
        }
    }
    assert!(!a.url.is_empty(), "usage: audit_bench URL [--events N] [--accounts N] [--seconds S]");
    a
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 wxwork/4.1.22 MicroMessenger/7.0.1",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) DingTalk/7.5.0 Mobile Safari/537.36",
];

/// The request of a login by account `user`: its address, browser or app, session and client.
fn login_ctx(rng: &mut Rng, user: u64) -> RequestContext {
    RequestContext {
        source_ip: Some(std::net::IpAddr::from([10, (user >> 8) as u8, user as u8, rng.below(250) as u8 + 1])),
        user_agent: Some(AGENTS[rng.below(4) as usize].to_string()),
        session_id: Some(format!("{:016x}", rng.next())),
        client_id: Some(format!("oa-{}", rng.below(8))),
    }
}

fn login_of(user: u64) -> (String, CompanyCode) {
    (format!("user{user:06}"), CompanyCode(format!("C{:03}", user % 60)))
}

/// A login-path event as the idp would write it: a login (5% failing), a token grant or a logout.
fn login_event(rng: &mut Rng, accounts: u64, at: DateTime<Utc>) -> AuditEvent {
    let user = rng.below(accounts);
    let (login, company) = login_of(user);
    let ctx = login_ctx(rng, user);
    match rng.below(20) {
        0 => AuditEvent::login_failed(at, &login, Some(&company), LoginFailure::BadPassword, &ctx),
        1..=4 => AuditEvent::token_issued(at, Some(&login), Some(&company), "oa-1", "refresh_token", &ctx),
        5 => AuditEvent::new(at, EventKind::Logout, AuditOutcome::Success, Actor::User(login.clone()))
            .subject(&login, Some(&company))
            .context(&ctx),
        _ => AuditEvent::login_succeeded(at, &login, Some(&company), &ctx),
    }
}

/// Logins as the provider writes them, from `concurrent` tasks for `secs`: 90% succeed, 8% give
/// a bad password (the fifth in a row locks the account for 15 minutes) and 2% an unknown name.
/// Each is one `CredentialStore::record_*` call: the credential row and the login's records committed
/// together, concurrent calls sharing transactions (group commit). Returns (records/s, logins
/// per transaction, mean and p99 latency of a call in ms).
async fn login_ingest(store: &AnyStore, concurrent: u64, secs: u64, accounts: u64) -> (f64, f64, f64, f64) {
    let records_before = stored(store).await;
    let stats_before = store.login_write_stats();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..concurrent)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (w + 1));
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let user = rng.below(accounts);
                    let (login, company) = login_of(user);
                    let ctx = login_ctx(&mut rng, user);
                    let at = Utc::now();
                    let t = Instant::now();
                    match rng.below(50) {
                        0..=3 => {
                            let attempt =
                                AuditEvent::login_failed(at, &login, Some(&company), LoginFailure::BadPassword, &ctx);
                            store
                                .record_failure(&login, 5, at + chrono::Duration::minutes(15), &attempt)
                                .await
                                .map(drop)
                        }
                        4 => {
                            let typed = format!("nobody{user}");
                            let attempt = AuditEvent::login_failed(at, &typed, None, LoginFailure::UnknownUser, &ctx);
                            store.record_refusal(&attempt).await
                        }
                        _ => {
                            let ok = AuditEvent::login_succeeded(at, &login, Some(&company), &ctx);
                            store.record_success(&login, at, &[ok]).await
                        }
                    }
                    .expect("login write");
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    let took = started.elapsed().as_secs_f64();
    let records = stored(store).await - records_before;
    let stats = store.login_write_stats();
    let per_group = (stats.writes - stats_before.writes) as f64 / (stats.groups - stats_before.groups).max(1) as f64;
    let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
    (records as f64 / took, per_group, mean, percentile(&mut latencies, 0.99))
}

/// How many records the chains hold.
async fn stored(store: &AnyStore) -> u64 {
    store.audit_heads().await.expect("heads").iter().map(|h| h.pos as u64).sum()
}

/// Gives the first `accounts` logins a password, a thousand per statement: a login's failures,
/// lock and last login live in its credential row.
async fn seed_credentials(url: &str, accounts: u64) {
    macro_rules! run {
        ($pool:expr, $db:ty) => {{
            let pool = $pool;
            for from in (0..accounts).step_by(1_000) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO idp_credentials (login, hash, changed_at, must_change) ",
                );
                q.push_values(from..(from + 1_000).min(accounts), |mut b, user| {
                    b.push_bind(login_of(user).0)
                        .push_bind("$argon2id$v=19$m=19456,t=2,p=1$bench$bench")
                        .push_bind(Utc::now().timestamp_millis())
                        .push_bind(false);
                });
                q.push(" ON CONFLICT (login) DO NOTHING");
                q.build().execute(&pool).await.expect("credentials");
            }
            pool.close().await;
        }};
    }
    if url.starts_with("sqlite:") {
        run!(sqlx::SqlitePool::connect(url).await.expect("connect"), sqlx::Sqlite)
    } else {
        run!(sqlx::PgPool::connect(url).await.expect("connect"), sqlx::Postgres)
    }
}

/// Appends for `secs` seconds from `writers` tasks, `batch` events per transaction; returns records/s.
async fn ingest(store: &AnyStore, writers: u64, batch: usize, secs: u64, accounts: u64) -> f64 {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let events: Vec<AuditEvent> =
                        (0..batch).map(|_| login_event(&mut rng, accounts, Utc::now())).collect();
                    store.append_audit(&events).await.expect("append");
                    n += batch as u64;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The baseline: the same number of write transactions that each update one row of their own
/// (a login's failed-attempt counter), without any audit record; returns transactions/s.
async fn baseline(url: &str, writers: u64, secs: u64) -> f64 {
    macro_rules! run {
        ($pool:expr) => {{
            let pool = $pool;
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)")
                .execute(&pool)
                .await
                .expect("table");
            for w in 0..writers {
                sqlx::query("INSERT INTO bench_counter (id, n) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING")
                    .bind(w as i64)
                    .execute(&pool)
                    .await
                    .expect("row");
            }
            let started = Instant::now();
            let deadline = started + Duration::from_secs(secs);
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while Instant::now() < deadline {
                            let mut tx = pool.begin().await.expect("begin");
                            sqlx::query("UPDATE bench_counter SET n = n + 1 WHERE id = $1")
                                .bind(w as i64)
                                .execute(&mut *tx)
                                .await
                                .expect("update");
                            tx.commit().await.expect("commit");
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("task");
            }
            pool.close().await;
            total as f64 / started.elapsed().as_secs_f64()
        }};
    }
    if url.starts_with("sqlite:") {
        use std::str::FromStr;
        // As the store opens SQLite: WAL, synchronous NORMAL, 16 connections.
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .expect("url")
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        run!(sqlx::sqlite::SqlitePoolOptions::new().max_connections(16).connect_with(options).await.expect("connect"))
    } else {
        run!(sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(url).await.expect("connect"))
    }
}

/// Index definitions of the audit table except its key: dropped for the bulk load, built after.
async fn index_sql(url: &str) -> Vec<String> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        let v = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log' AND sql IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .expect("indexes");
        pool.close().await;
        v
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let v = sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_log' AND indexname <> 'audit_log_pkey'",
        )
        .fetch_all(&pool)
        .await
        .expect("indexes");
        pool.close().await;
        v
    }
}

fn index_name(def: &str) -> &str {
    def.split_whitespace().skip_while(|w| *w != "INDEX").nth(1).unwrap_or_default()
}

/// Drops the indexes of `$defs` on `$pool`.
macro_rules! drop_indexes {
    ($pool:expr, $defs:expr) => {
        for def in $defs {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {}", index_name(def))))
                .execute(&$pool)
                .await
                .expect("drop index");
        }
    };
}

/// Builds the indexes of `$defs` again and moves the chain head to `$head`.
macro_rules! restore {
    ($pool:expr, $defs:expr, $head:expr) => {
        for def in $defs {
            sqlx::raw_sql(sqlx::AssertSqlSafe(def.clone())).execute(&$pool).await.expect("create index");
        }
        sqlx::query("UPDATE audit_head SET pos = $1, hash = $2 WHERE chain = $3")
            .bind($head.pos)
            .bind($head.hash.0.to_vec())
            .bind($head.chain)
            .execute(&$pool)
            .await
            .expect("head");
    };
}

/// PostgreSQL COPY text: backslash, tab and line breaks escaped; `\N` for none.
fn copy_text(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => out.extend_from_slice(b"\\N"),
        Some(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.push(b),
                }
            }
        }
    }
}

/// Loads `n` more chained records after the head by the fastest path of the backend (indexes
/// dropped and rebuilt; COPY on PostgreSQL, large transactions on SQLite). Returns the new head.
async fn bulk_load(store: &AnyStore, url: &str, n: u64, accounts: u64) {
    let indexes = index_sql(url).await;
    // Everything into chain 1, as one writer at a time would have written it.
    let mut head = store.audit_heads().await.expect("heads")[0];
    let start = Utc::now() - chrono::Duration::days(180);
    let step_ms = (180 * 86_400_000 / n.max(1)).max(1) as i64;
    let mut rng = Rng(42);
    const CHUNK: u64 = 100_000;
    let gen_chunk = |rng: &mut Rng, head: ChainHead, from: u64, count: u64| {
        let fields: Vec<AuditFields> = (from..from + count)
            .map(|i| login_event(rng, accounts, start + chrono::Duration::milliseconds(i as i64 * step_ms)).fields())
            .collect();
        chain(head, fields)
    };
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        drop_indexes!(pool, &indexes);
        let mut done = 0;
        while done < n {
            let count = CHUNK.min(n - done);
            let (records, next) = gen_chunk(&mut rng, head, done, count);
            let mut tx = pool.begin().await.expect("begin");
            for rows in records.chunks(500) {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO audit_log (chain, pos, at, kind, outcome, actor_kind, actor, login, company, client_id, \
                     source_ip, user_agent, session_id, reason, details, prev_hash, hash) ",
                );
                q.push_values(rows, |mut b, r| {
                    let f = &r.fields;
                    b.push_bind(r.chain)
                        .push_bind(r.pos)
                        .push_bind(f.at.timestamp_millis())
                        .push_bind(f.kind.clone())
                        .push_bind(f.outcome.clone())
                        .push_bind(f.actor_kind.clone())
                        .push_bind(f.actor.clone())
                        .push_bind(f.login.clone())
                        .push_bind(f.company.clone())
                        .push_bind(f.client_id.clone())
                        .push_bind(f.source_ip.clone())
                        .push_bind(f.user_agent.clone())
                        .push_bind(f.session_id.clone())
                        .push_bind(f.reason.clone())
                        .push_bind(f.details.clone())
                        .push_bind(r.prev_hash.0.to_vec())
                        .push_bind(r.hash.0.to_vec());
                });
                q.build().execute(&mut *tx).await.expect("insert");
            }
            tx.commit().await.expect("commit");
            head = next;
            done += count;
        }
        restore!(pool, &indexes, head);
        sqlx::raw_sql("ANALYZE").execute(&pool).await.expect("analyze");
        pool.close().await;
    } else {
        use sqlx::postgres::PgPoolCopyExt;
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        drop_indexes!(pool, &indexes);
        let mut copy = pool
            .copy_in_raw(
                "COPY audit_log (chain, pos, at, kind, outcome, actor_kind, actor, login, company, client_id, source_ip, \
                 user_agent, session_id, reason, details, prev_hash, hash) FROM STDIN WITH (FORMAT text)",
            )
            .await
            .expect("copy");
        let mut done = 0;
        while done < n {
            let count = CHUNK.min(n - done);
            let (records, next) = gen_chunk(&mut rng, head, done, count);
            let mut buf = Vec::with_capacity(records.len() * 400);
            for r in &records {
                let f = &r.fields;
                let mut cols: Vec<Option<String>> =
                    vec![Some(r.chain.to_string()), Some(r.pos.to_string()), Some(f.at.timestamp_millis().to_string())];
                cols.extend([&f.kind, &f.outcome, &f.actor_kind, &f.actor].map(|s| Some(s.clone())));
                cols.extend(
                    [
                        &f.login,
                        &f.company,
                        &f.client_id,
                        &f.source_ip,
                        &f.user_agent,
                        &f.session_id,
                        &f.reason,
                        &f.details,
                    ]
                    .map(Clone::clone),
                );
                for (i, c) in cols.iter().enumerate() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    copy_text(&mut buf, c.as_deref());
                }
                buf.extend_from_slice(format!("\t\\\\x{}\t\\\\x{}\n", r.prev_hash, r.hash).as_bytes());
            }
            copy.send(buf).await.expect("send");
            head = next;
            done += count;
        }
        copy.finish().await.expect("finish copy");
        sqlx::raw_sql("SET maintenance_work_mem = '1GB'").execute(&pool).await.expect("set");
        restore!(pool, &indexes, head);
        sqlx::raw_sql("VACUUM ANALYZE audit_log").execute(&pool).await.expect("analyze");
        pool.close().await;
    }
}

/// The login path's rates at 16, 64 and 256 logins in flight.
async fn logins(store: &AnyStore, stored: &str, secs: u64, accounts: u64) {
    for concurrent in [16, 64, 256] {
        let (rate, per_tx, mean, p99) = login_ingest(store, concurrent, secs, accounts).await;
        println!(
            "logins (record_*), {stored}, {concurrent:>3} in flight: {rate:>9.0} records/s  \
             {per_tx:>5.1} logins/transaction  latency mean {mean:>6.2} ms  p99 {p99:>6.2} ms"
        );
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let a = args();
    let backend = if a.url.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };
    let store = orgid_store::connect(&a.url, 16).await.expect("connect");
    println!("== {backend}");
    if a.logins_only {
        seed_credentials(&a.url, a.accounts).await;
        logins(&store, "empty store", a.seconds, a.accounts).await;
        store.close().await;
        return;
    }

    for writers in [1, 8] {
        let rate = baseline(&a.url, writers, a.seconds).await;
        println!("baseline, one-row update per transaction, {writers} writer(s): {rate:>9.0} transactions/s");
    }
    for (writers, batch, label) in [
        (1, 1, "1 writer, 1 record/transaction"),
        (8, 1, "8 writers, 1 record/transaction"),
        (1, 100, "1 writer, 100 records/transaction"),
    ] {
        let rate = ingest(&store, writers, batch, a.seconds, a.accounts).await;
        println!("ingest, empty store, {label:<36} {rate:>9.0} records/s");
    }
    seed_credentials(&a.url, a.accounts).await;
    logins(&store, "empty store", a.seconds, a.accounts).await;

    // What a first load's `finish_run` adds: one record per account change, in one transaction.
    let plan_changes: Vec<AuditEvent> = (0..100_000u64)
        .map(|i| {
            let change = AccountChange {
                op: Op::Open,
                person_key: PersonKey::from(format!("{i:064x}")),
                account: Account {
                    login: format!("user{i:06}"),
                    status: AccountStatus::Active,
                    rule: "ELIG-1".into(),
                    opened_at: Some(Utc::now()),
                    closed_at: None,
                    updated_at: Utc::now(),
                },
                employee_number: format!("E{i:06}"),
                name: "张三".into(),
                company: CompanyCode(format!("C{:03}", i % 60)),
                before_status: None,
                fields: Vec::new(),
                reason: "grade M12 ≥ 12 (tier 1)".into(),
            };
            orgid_directory::audit::lifecycle::change_event(&Actor::Run(RunId(1)), &change, Utc::now())
        })
        .collect();
    let t = Instant::now();
    store.append_audit(&plan_changes).await.expect("append");
    println!("a run's records: 100,000 account changes in one transaction: {:.2} s", t.elapsed().as_secs_f64());

    let before = stored(&store).await;
    let t = Instant::now();
    bulk_load(&store, &a.url, a.events.saturating_sub(before), a.accounts).await;
    let total = stored(&store).await;
    println!("bulk load to {total} records (chained, indexes rebuilt): {:.1} s", t.elapsed().as_secs_f64());

    for (writers, batch, label) in [
        (1, 1, "1 writer, 1 record/transaction"),
        (8, 1, "8 writers, 1 record/transaction"),
        (1, 100, "1 writer, 100 records/transaction"),
    ] {
        let rate = ingest(&store, writers, batch, a.seconds, a.accounts).await;
        println!("ingest, {:.1}M records stored, {label:<24} {rate:>9.0} records/s", total as f64 / 1e6);
    }
    logins(&store, &format!("{:.1}M records stored", total as f64 / 1e6), a.seconds, a.accounts).await;

    let mut rng = Rng(7);
    let mut first_page = Vec::new();
    let mut whole = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..60 {
        let login = format!("user{:06}", rng.below(a.accounts));
        let f = AuditFilter { login: Some(login), ..AuditFilter::default() };
        let t = Instant::now();
        let p = store.audit_query(&AuditScope::All, &f, PageRequest::first(Order::NewestFirst, 100)).await.expect("q");
        let ms1 = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let all =
            store.audit_query(&AuditScope::All, &f, PageRequest::first(Order::NewestFirst, 10_000)).await.expect("q");
        let ms2 = t.elapsed().as_secs_f64() * 1e3;
        let _ = p;
        if i >= 10 {
            // The first ten warm the caches.
            first_page.push(ms1);
            whole.push(ms2);
            sizes.push(all.records.len() as f64);
        }
    }
    let avg = sizes.iter().sum::<f64>() / sizes.len() as f64;
    println!(
        "query one account, newest 100 records:      p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms",
        percentile(&mut first_page.clone(), 0.5),
        percentile(&mut first_page.clone(), 0.95),
        percentile(&mut first_page, 1.0)
    );
    println!(
        "query one account, all its records (~{avg:.0}): p50 {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms",
        percentile(&mut whole.clone(), 0.5),
        percentile(&mut whole.clone(), 0.95),
        percentile(&mut whole, 1.0)
    );

    let t = Instant::now();
    let mut checked = 0;
    let mut chains = 0;
    for head in store.audit_heads().await.expect("heads") {
        let mut v = ChainVerifier::new(head.chain, Vec::new());
        let mut after = 0;
        loop {
            let batch = store.audit_chain(head.chain, after, head.pos, 20_000).await.expect("chain");
            let Some(last) = batch.last() else { break };
            after = last.pos;
            for r in &batch {
                v.push(r);
            }
        }
        let report = v.finish(head);
        assert_eq!(report.problem, None, "chain {} verifies", head.chain);
        checked += report.records;
        chains += usize::from(report.records > 0);
    }
    println!("verify every chain ({checked} records in {chains} chains): {:.1} s, intact", t.elapsed().as_secs_f64());
    store.close().await;
}
