//! Password hashing on a bounded pool. An argon2id hash takes 19 MiB and tens of milliseconds of
//! one core: run one per request and a flood of logins takes the server's memory (48 at once
//! took 941 MB) and its cores. Here at most `workers` hashes run at once, each worker a thread
//! with its own memory (allocated on its first hash, reused for every later one, so the process
//! keeps `workers` × 19 MiB and no more); at most `queue` more requests wait for a worker, and
//! past that a login is turned away at once ([`Busy`]) rather than queueing without bound.
//!
//! Logins take a place without waiting ([`HashPool::try_enter`]); an operator's reset waits for
//! one ([`HashPool::enter`]). Unknown logins are verified against a dummy hash through the same
//! pool, so they cost what a known login costs.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once, PoisonError};

use argon2::password_hash::{Ident, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::IdpError;

/// OWASP's argon2id profile: 19 MiB, 2 passes, 1 lane.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

/// What every new hash uses.
fn params() -> Result<Params, IdpError> {
    Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)).map_err(|e| IdpError::Internal(format!("argon2: {e}")))
}

/// The pool has no place left: the caller answers 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

enum Work {
    Hash(String),
    Verify { password: String, phc: String },
}

enum Done {
    Hash(Result<String, String>),
    Verify(bool),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Done>,
}

/// The workers and the places in front of them (cheap to share: the provider holds one).
pub(crate) struct HashPool {
    jobs: mpsc::Sender<Job>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    workers: usize,
    started: Once,
    /// Places: the running hashes and the waiting ones.
    places: Arc<Semaphore>,
    dummy: tokio::sync::OnceCell<String>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool").field("workers", &self.workers).finish_non_exhaustive()
    }
}

/// A place in the pool, held while a request hashes (or waits to): for its one or several
/// hashes in turn.
pub(crate) struct Place<'a> {
    pool: &'a HashPool,
    _permit: OwnedSemaphorePermit,
}

impl HashPool {
    /// `workers` hashes at once (at least one), `queue` more waiting. The threads start with the
    /// first hash and end when the pool is dropped.
    pub(crate) fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, rx) = mpsc::channel();
        HashPool {
            jobs,
            queue: Arc::new(Mutex::new(rx)),
            workers,
            started: Once::new(),
            places: Arc::new(Semaphore::new(workers + queue)),
            dummy: tokio::sync::OnceCell::new(),
        }
    }

    /// A place now, or [`Busy`] when every worker is hashing and the queue is full.
    pub(crate) fn try_enter(&self) -> Result<Place<'_>, Busy> {
        let permit = self.places.clone().try_acquire_owned().map_err(|_| Busy)?;
        Ok(Place { pool: self, _permit: permit })
    }

    /// A place, waiting for one as long as it takes (an operator's reset, not a login).
    pub(crate) async fn enter(&self) -> Result<Place<'_>, IdpError> {
        let permit =
            self.places.clone().acquire_owned().await.map_err(|_| IdpError::Internal("hash pool closed".into()))?;
        Ok(Place { pool: self, _permit: permit })
    }

    fn start(&self) {
        self.started.call_once(|| {
            for i in 0..self.workers {
                let queue = self.queue.clone();
                let spawned = std::thread::Builder::new().name(format!("orgid-hash-{i}")).spawn(move || work(&queue));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a password hashing thread");
                }
            }
        });
    }

    async fn run(&self, work: Work) -> Result<Done, IdpError> {
        self.start();
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { work, reply }).map_err(|_| IdpError::Internal("hash pool closed".into()))?;
        answer.await.map_err(|_| IdpError::Internal("a password hashing thread failed".into()))
    }
}

impl Place<'_> {
    /// A new argon2id PHC string of `password` (random salt).
    pub(crate) async fn hash(&self, password: &str) -> Result<String, IdpError> {
        match self.pool.run(Work::Hash(password.to_string())).await? {
            Done::Hash(r) => r.map_err(|e| IdpError::Internal(format!("hashing failed: {e}"))),
            Done::Verify(_) => Err(IdpError::Internal("hash pool: wrong answer".into())),
        }
    }

    /// Whether `password` matches the PHC string (compared in constant time).
    pub(crate) async fn verify(&self, password: &str, phc: &str) -> Result<bool, IdpError> {
        let work = Work::Verify { password: password.to_string(), phc: phc.to_string() };
        match self.pool.run(work).await? {
            Done::Verify(ok) => Ok(ok),
            Done::Hash(_) => Err(IdpError::Internal("hash pool: wrong answer".into())),
        }
    }

    /// Whether `password` matches any of these hashes (the history check), one after the other.
    pub(crate) async fn matches_any(&self, password: &str, hashes: &[String]) -> Result<bool, IdpError> {
        for h in hashes {
            if self.verify(password, h).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Verifies against a hash of a password nobody has: what an unknown login costs, so that it
    /// costs what a known one does.
    pub(crate) async fn verify_dummy(&self, password: &str) -> Result<bool, IdpError> {
        let dummy = self.pool.dummy.get_or_try_init(|| self.hash("orgid-dummy-password")).await?;
        self.verify(password, dummy).await.map(|_| false)
    }
}

/// A worker: takes jobs until the pool is dropped, hashing in its own memory.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        let done = match &job.work {
            Work::Hash(password) => Done::Hash(hash_with(password.as_bytes(), &mut memory)),
            Work::Verify { password, phc } => Done::Verify(verify_with(password.as_bytes(), phc, &mut memory)),
        };
        // The caller may have gone (its request was dropped): nothing to answer.
        let _ = job.reply.send(done);
    }
}

/// `memory` with at least the blocks `params` needs (kept for the next hash).
fn blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

/// How long one argon2id hash with orgid's parameters takes on one core: the median of `n`,
/// after a warm-up, in one reused memory as a worker hashes. A machine's cores ÷ this is the most
/// password logins a second it can check (`bench/oidc.sh` reports logins against it).
pub fn one_hash_time(n: usize) -> Result<std::time::Duration, IdpError> {
    let mut memory = Vec::new();
    hash_with(b"warm-up", &mut memory).map_err(IdpError::Internal)?;
    let mut times = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let start = std::time::Instant::now();
        hash_with(b"Spring-2026a", &mut memory).map_err(IdpError::Internal)?;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

/// Hashes a second this machine checks when `threads` hash at once (each `n` times, with its own
/// memory), as a login load makes the pool do. Below `threads` ÷ [`one_hash_time`]: hashes on
/// several cores share the memory bus and caches (argon2id touches 19 MiB per hash).
pub fn parallel_hash_rate(threads: usize, n: usize) -> Result<f64, IdpError> {
    let start = std::time::Instant::now();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            std::thread::spawn(move || -> Result<(), String> {
                let mut memory = Vec::new();
                for _ in 0..n.max(1) {
                    hash_with(b"Spring-2026a", &mut memory)?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| IdpError::Internal("a hashing thread panicked".into()))?.map_err(IdpError::Internal)?;
    }
    Ok((threads.max(1) * n.max(1)) as f64 / start.elapsed().as_secs_f64())
}

fn hash_with(password: &[u8], memory: &mut Vec<Block>) -> Result<String, String> {
    let params = params().map_err(|e| e.to_string())?;
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| "no system randomness".to_string())?;
    let mut out = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, blocks(memory, &params))
        .map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Ident::new("argon2id").map_err(|e| e.to_string())?,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Ok(alg), Ok(params), Some(salt), Some(expected)) =
        (Algorithm::try_from(h.algorithm), Params::try_from(&h), h.salt, h.hash)
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(alg, version, params.clone())
        .hash_password_into_with_memory(password, salt, &mut out, blocks(memory, &params))
        .is_ok()
        && crate::crypto::ct_eq(&out, expected.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn hashes_verify_with_argon2_itself_and_differ_by_salt() {
        let pool = HashPool::new(2, 4);
        let place = pool.try_enter().unwrap();
        let h1 = place.hash("Spring2026!").await.unwrap();
        let h2 = place.hash("Spring2026!").await.unwrap();
        assert!(h1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h1}");
        assert_ne!(h1, h2);
        assert!(place.verify("Spring2026!", &h1).await.unwrap());
        assert!(!place.verify("spring2026!", &h1).await.unwrap());
        assert!(!place.verify("x", "not a hash").await.unwrap());
        assert!(place.matches_any("Spring2026!", &["junk".into(), h2.clone()]).await.unwrap());
        // The argon2 crate's own verifier agrees, and ours reads what it writes.
        let parsed = PasswordHash::new(&h1).unwrap();
        assert!(Argon2::default().verify_password(b"Spring2026!", &parsed).is_ok());
        let theirs = {
            use argon2::PasswordHasher;
            let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap())
                .hash_password(b"Autumn-1", &salt)
                .unwrap()
                .to_string()
        };
        assert!(place.verify("Autumn-1", &theirs).await.unwrap());
        assert!(!place.verify_dummy("orgid-dummy-password").await.unwrap(), "the dummy never matches");
    }

    #[tokio::test]
    async fn places_are_bounded_and_come_back() {
        let pool = HashPool::new(1, 1);
        let a = pool.try_enter().unwrap();
        let b = pool.try_enter().unwrap();
        assert!(pool.try_enter().is_err(), "one running and one waiting: full");
        drop(a);
        let c = pool.try_enter().expect("a place came back");
        drop((b, c));
        let waited = pool.enter().await.unwrap();
        assert!(waited.verify("x", "not a hash").await.is_ok());
    }
}
