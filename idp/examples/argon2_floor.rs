//! The floor of password logins for `bench/oidc.sh`: the time of one argon2id hash with orgid's
//! own parameters and code (the median of N, default 20, after a warm-up, on one core), and the
//! most logins a second this machine can check: its cores ÷ that time. Also, for the reader, the
//! hashes a second all cores check at once (`parallel`), which shared memory bandwidth keeps below
//! that floor.
//!
//!     cargo run --release -p orgid-idp --example argon2_floor -- 20

fn main() {
    let n = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let one = match orgid_idp::password::one_hash_time(n) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("argon2_floor: {e}");
            std::process::exit(1);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let ms = one.as_secs_f64() * 1000.0;
    // For the reader, not the target: what the cores check when all of them hash at once.
    let parallel = match orgid_idp::password::parallel_hash_rate(cores, n) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("argon2_floor: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "RESULT hash_ms={ms:.2} cores={cores} floor={:.1} parallel={parallel:.1}",
        cores as f64 / one.as_secs_f64()
    );
}
