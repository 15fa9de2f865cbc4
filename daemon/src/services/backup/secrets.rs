//! The encrypted export of what a snapshot never holds: the person-key secret and the audit
//! signing key (`orgid secrets export`, read back by `orgid restore --secrets`).
//!
//! The file: `orgid-secrets-v1\n`, the argon2id parameters (memory KiB, passes, lanes, u32
//! big-endian), a 16-byte salt, a 12-byte nonce, a 32-byte passphrase check, then the
//! ChaCha20-Poly1305 ciphertext of the secrets as JSON. argon2id turns the passphrase and salt
//! into 64 bytes: the first 32 are the key, the last 32 the check, so that a wrong passphrase is
//! told apart from a file altered since (the header is the cipher's associated data: changing a
//! parameter, the salt or the check is caught as well).

use std::path::Path;

use anyhow::{Context, bail};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use orgid_config::Config;
use orgid_directory::SettingStore;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::app::{App, PERSON_KEY_SECRET};

/// The environment variable a passphrase may come from (never the command line).
pub const PASSPHRASE_ENV: &str = "ORGID_SECRETS_PASSPHRASE";
const MAGIC: &[u8] = b"orgid-secrets-v1\n";
const HEADER: usize = MAGIC.len() + 12 + 16 + 12 + 32;
/// argon2id: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
const MEMORY_KIB: u32 = 64 * 1024;
const PASSES: u32 = 3;
/// A passphrase shorter than this is refused at export.
const MIN_PASSPHRASE: usize = 12;

/// What the file holds, in clear once opened. Never logged, never printed.
#[derive(Serialize, Deserialize)]
pub struct Secrets {
    pub created_at: DateTime<Utc>,
    pub person_key_secret: String,
    /// Of the person-key secret, to check it against a snapshot's manifest.
    pub person_key_fingerprint: String,
    /// The audit signing key (PKCS#8, hex), if the install had one.
    pub audit_signing_key: Option<String>,
}

/// Where the passphrase comes from: a file (its first line), else `ORGID_SECRETS_PASSPHRASE`.
pub fn passphrase(file: Option<&Path>) -> anyhow::Result<String> {
    let p = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("while reading the passphrase file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => std::env::var(PASSPHRASE_ENV).map_err(|_| {
            anyhow::anyhow!(
                "no passphrase: set {PASSPHRASE_ENV} or pass --passphrase-file FILE (never on the command line)"
            )
        })?,
    };
    if p.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(p)
}

fn derive(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> anyhow::Result<[u8; 64]> {
    let params = Params::new(m, t, p, Some(64)).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let mut out = [0u8; 64];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(out)
}

fn key(bytes: &[u8]) -> anyhow::Result<LessSafeKey> {
    Ok(LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| anyhow::anyhow!("cipher key"))?))
}

/// Encrypts `secrets` under `passphrase`.
pub fn seal(secrets: &Secrets, passphrase: &str) -> anyhow::Result<Vec<u8>> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        bail!("the passphrase is too short: use at least {MIN_PASSPHRASE} characters");
    }
    let rng = SystemRandom::new();
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; 12]);
    rng.fill(&mut salt).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    rng.fill(&mut nonce).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let derived = derive(passphrase, &salt, MEMORY_KIB, PASSES, 1)?;
    let mut out = Vec::with_capacity(HEADER + 512);
    out.extend_from_slice(MAGIC);
    for v in [MEMORY_KIB, PASSES, 1] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&derived[32..]);
    let mut body = serde_json::to_vec(secrets)?;
    key(&derived[..32])?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&out[..]), &mut body)
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a file made by `seal`; a wrong passphrase and an altered file are refused apart.
pub fn open(file: &[u8], passphrase: &str) -> anyhow::Result<Secrets> {
    if file.len() < HEADER + 16 || !file.starts_with(MAGIC) {
        bail!("refused: not an orgid secrets file (it must start with `orgid-secrets-v1`)");
    }
    let (header, body) = file.split_at(HEADER);
    let word = |i: usize| {
        let at = MAGIC.len() + 4 * i;
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (m, t, p) = (word(0), word(1), word(2));
    // Bounds, so that an altered header cannot make the derivation take all memory or forever.
    if !(8..=1 << 20).contains(&m) || !(1..=16).contains(&t) || !(1..=16).contains(&p) {
        bail!("refused: the secrets file was altered or damaged (argon2 parameters {m} KiB, {t} passes, {p} lanes)");
    }
    let at = MAGIC.len() + 12;
    let (salt, nonce, check) = (&header[at..at + 16], &header[at + 16..at + 28], &header[at + 28..]);
    let derived = derive(passphrase, salt, m, t, p)?;
    if !bool::from(derived[32..].ct_eq(check)) {
        bail!("refused: wrong passphrase for this secrets file");
    }
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("nonce"))?;
    let mut body = body.to_vec();
    let plain = key(&derived[..32])?
        .open_in_place(nonce, Aad::from(header), &mut body)
        .map_err(|_| anyhow::anyhow!("refused: the secrets file was altered or damaged since it was written"))?;
    serde_json::from_slice(plain).context("refused: the secrets file's content is not valid")
}

/// The install's secrets: the person-key secret in force (configured, or generated and kept in
/// the store) and the audit signing key file, if there is one.
pub async fn collect(app: &App) -> anyhow::Result<Secrets> {
    let person_key_secret = match &app.config.identity.person_key_secret {
        Some(s) => s.expose().to_string(),
        None => app
            .store
            .setting(PERSON_KEY_SECRET)
            .await?
            .context("the store has no person-key secret and identity.person_key_secret is not set")?,
    };
    let path = &app.config.audit.signing_key;
    let audit_signing_key = match std::fs::read(path) {
        Ok(bytes) => Some(hex::encode(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("while reading audit.signing_key {}", path.display())),
    };
    Ok(Secrets {
        created_at: app.clock.now(),
        person_key_fingerprint: app.keyer.fingerprint(),
        person_key_secret,
        audit_signing_key,
    })
}

/// What an export wrote, for the command's report (no secret in it).
#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub path: std::path::PathBuf,
    pub person_key_fingerprint: String,
    pub audit_signing_key: bool,
}

/// `orgid secrets export FILE`: the secrets, encrypted, in a new file readable by its owner only.
pub async fn export(app: &App, path: &Path, passphrase: &str) -> anyhow::Result<ExportReport> {
    let secrets = collect(app).await?;
    let sealed = seal(&secrets, passphrase)?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).with_context(|| format!("while creating {} (it must not exist yet)", path.display()))?;
    std::io::Write::write_all(&mut f, &sealed)?;
    f.sync_all()?;
    Ok(ExportReport {
        path: path.to_path_buf(),
        person_key_fingerprint: secrets.person_key_fingerprint,
        audit_signing_key: secrets.audit_signing_key.is_some(),
    })
}

/// Puts the audit signing key of `secrets` at `audit.signing_key` if no key is there; a
/// different key there is refused. Returns whether the file was written.
pub fn install_signing_key(config: &Config, secrets: &Secrets) -> anyhow::Result<bool> {
    let Some(hexed) = &secrets.audit_signing_key else { return Ok(false) };
    let bytes = hex::decode(hexed).context("refused: the secrets file's audit signing key is not valid")?;
    orgid_directory::audit::CheckpointSigner::from_pkcs8(&bytes)
        .map_err(|e| anyhow::anyhow!("refused: the secrets file's audit signing key is not valid: {e}"))?;
    let path = &config.audit.signing_key;
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(false),
        Ok(_) => bail!(
            "refused: {} holds a different audit signing key; move it away to restore the exported one",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("while reading {}", path.display())),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("while creating {}", parent.display()))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).with_context(|| format!("while creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, &bytes)?;
    f.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            person_key_secret: "0123456789abcdef-person".into(),
            person_key_fingerprint: "fp".into(),
            audit_signing_key: Some("00ff".into()),
        }
    }

    #[test]
    fn sealed_secrets_open_with_their_passphrase_only_and_unaltered() {
        let sealed = seal(&secrets(), "correct horse battery").unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(8).any(|w| w == b"01234567"), "the secret is not in clear");
        let back = open(&sealed, "correct horse battery").unwrap();
        assert_eq!(back.person_key_secret, "0123456789abcdef-person");
        assert_eq!(back.audit_signing_key.as_deref(), Some("00ff"));
        let wrong = open(&sealed, "correct horse battery!").err().unwrap().to_string();
        assert!(wrong.contains("wrong passphrase"), "{wrong}");
        let mut body = sealed.clone();
        let last = body.len() - 20;
        body[last] ^= 1;
        assert!(open(&body, "correct horse battery").err().unwrap().to_string().contains("altered"));
        let mut salt = sealed.clone();
        salt[MAGIC.len() + 12] ^= 1;
        assert!(open(&salt, "correct horse battery").is_err(), "another salt: another key");
        let mut params = sealed;
        params[MAGIC.len()] = 0xff;
        assert!(open(&params, "correct horse battery").err().unwrap().to_string().contains("altered"));
        assert!(seal(&secrets(), "short").err().unwrap().to_string().contains("too short"));
        assert!(open(b"hello", "x").err().unwrap().to_string().contains("not an orgid secrets file"));
    }
}
