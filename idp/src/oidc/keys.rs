//! Signing keys: made with ring (RSA with the `rsa` crate, which ring cannot generate), kept in the
//! store as PKCS#8, signing through ring, and published as a JWKS with the openidconnect types.
//!
//! Rotation: one key per algorithm signs at a time. Every `key_rotation_days` a new key is made;
//! the old one stops signing at once but stays published until the last token it signed
//! expires (its `expires_at` = retirement + the longest token lifetime).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId, PrivateSigningKey, SignatureVerificationError, SigningError};
use orgid_config::SigningAlg;
use orgid_directory::audit::{Actor, lifecycle};
use orgid_directory::idp::{IdpStore, SigningKeyRecord};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, KeyPair};
use tokio::sync::RwLock;

use crate::IdpError;

/// A private key that signs with ring.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    public: CoreJsonWebKey,
}

enum Pair {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

pub(crate) fn jws_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

impl SigningKey {
    /// Loads a stored key.
    pub fn from_pkcs8(kid: &str, alg: SigningAlg, der: &[u8]) -> Result<Self, IdpError> {
        let bad = |e: &dyn std::fmt::Display| IdpError::Internal(format!("signing key {kid} does not load: {e}"));
        let kid_id = Some(JsonWebKeyId::new(kid.to_string()));
        let (pair, public) = match alg {
            SigningAlg::RS256 => {
                let pair = signature::RsaKeyPair::from_pkcs8(der).map_err(|e| bad(&e))?;
                let comps: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                let public = CoreJsonWebKey::new_rsa(comps.n, comps.e, kid_id);
                (Pair::Rsa(pair), public)
            }
            SigningAlg::ES256 => {
                let pair = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(|e| bad(&e))?;
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                if point.len() != 65 {
                    return Err(bad(&"unexpected P-256 public key length"));
                }
                let public = CoreJsonWebKey::new_ec(
                    point[1..33].to_vec(),
                    point[33..].to_vec(),
                    CoreJsonCurveType::P256,
                    kid_id,
                );
                (Pair::Ec(pair), public)
            }
            SigningAlg::EdDSA => {
                let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| bad(&e))?;
                let public =
                    CoreJsonWebKey::new_okp(pair.public_key().as_ref().to_vec(), CoreJsonCurveType::Ed25519, kid_id);
                (Pair::Ed(pair), public)
            }
        };
        Ok(Self { kid: kid.to_string(), alg, pair, public })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// Signs a JWS signing input (`header.payload`).
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, IdpError> {
        let rng = SystemRandom::new();
        let fail = |_| IdpError::Internal("signing failed".into());
        match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0; p.public().modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig).map_err(fail)?;
                Ok(sig)
            }
            Pair::Ec(p) => Ok(p.sign(&rng, message).map_err(fail)?.as_ref().to_vec()),
            Pair::Ed(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != jws_alg(self.alg) {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        self.sign_bytes(message).map_err(|e| SigningError::Other(e.to_string()))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.public.clone()
    }
}

/// Makes a new private key (PKCS#8 DER) with the system's randomness.
pub fn generate(alg: SigningAlg) -> Result<Vec<u8>, IdpError> {
    let rng = SystemRandom::new();
    let fail = |e: &dyn std::fmt::Display| IdpError::Internal(format!("key generation failed: {e}"));
    match alg {
        SigningAlg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut RingRng(rng), 2048).map_err(|e| fail(&e))?;
            Ok(key.to_pkcs8_der().map_err(|e| fail(&e))?.as_bytes().to_vec())
        }
        SigningAlg::ES256 => {
            Ok(signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| fail(&e))?
                .as_ref()
                .to_vec())
        }
        SigningAlg::EdDSA => {
            Ok(signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| fail(&e))?.as_ref().to_vec())
        }
    }
}

/// ring's system randomness for the `rsa` crate's key generation.
struct RingRng(SystemRandom);

impl rand_core::RngCore for RingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // The system RNG does not fail on supported platforms; a failure here must not produce a
        // predictable key, so it aborts the generation by panicking inside spawn_blocking.
        #[allow(clippy::expect_used)]
        self.0.fill(dest).expect("system randomness is unavailable");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0
            .fill(dest)
            .map_err(|_| rand_core::Error::from(std::num::NonZeroU32::new(1).unwrap_or(std::num::NonZeroU32::MIN)))
    }
}

impl rand_core::CryptoRng for RingRng {}

/// Random ids and tokens: the core's, also reachable here (`orgid_idp::keys::random_token`).
pub use crate::crypto::random_token;

/// The keys in force: the signing key per algorithm and every key still published.
#[derive(Default)]
struct Loaded {
    signing: Vec<Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    loaded_at: Option<DateTime<Utc>>,
}

/// The key ring shared by the handlers; reloaded from the store so that replicas agree.
pub struct KeyRing {
    store: Arc<dyn IdpStore>,
    rotation: Duration,
    /// How long a retired key stays published: the longest token lifetime plus a margin.
    publish_after_retire: Duration,
    loaded: RwLock<Loaded>,
}

/// How often the ring looks in the store for keys another replica made.
const RELOAD_EVERY: i64 = 60;

impl KeyRing {
    pub fn new(store: Arc<dyn IdpStore>, rotation_days: u32, longest_token: Duration) -> Self {
        Self {
            store,
            rotation: Duration::days(i64::from(rotation_days)),
            publish_after_retire: longest_token + Duration::minutes(5),
            loaded: RwLock::new(Loaded::default()),
        }
    }

    /// Makes sure a current key exists for each algorithm in `algs` (generating and storing one
    /// when none signs at `now`), then reloads. Called at start and by the rotation job.
    pub async fn ensure(&self, algs: &[SigningAlg], now: DateTime<Utc>) -> Result<u32, IdpError> {
        let mut made = 0;
        for &alg in algs {
            // The store refuses the key if any key newer than the newest we saw was added
            // meanwhile (another replica rotating): read afresh for each algorithm.
            let stored = self.store.signing_keys(now).await?;
            let newest = stored.iter().map(|k| k.created_at).max();
            let current = stored.iter().any(|k| k.alg == alg.as_str() && k.retire_at > now);
            if current {
                continue;
            }
            let der = tokio::task::spawn_blocking(move || generate(alg))
                .await
                .map_err(|e| IdpError::Internal(format!("key generation task: {e}")))??;
            let retire_at = now + self.rotation;
            let record = SigningKeyRecord {
                kid: format!("{}-{}", alg.as_str().to_ascii_lowercase(), random_token(9)?),
                alg: alg.as_str().into(),
                private_pkcs8: der,
                created_at: now,
                retire_at,
                expires_at: retire_at + self.publish_after_retire,
            };
            let unless = newest.unwrap_or(DateTime::<Utc>::MIN_UTC);
            // Recorded only if the key is added: the key it replaces is the newest of its algorithm.
            let old = stored.iter().filter(|k| k.alg == alg.as_str()).max_by_key(|k| k.created_at);
            let rotation = lifecycle::key_rotation_event(
                "oidc",
                old.map(|k| k.kid.as_str()),
                &record.kid,
                &Actor::System("idp".into()),
                now,
            )
            .attr("alg", alg.as_str());
            if self.store.add_signing_key(&record, unless, &[rotation]).await? {
                tracing::info!(kid = %record.kid, alg = alg.as_str(), "new signing key");
                made += 1;
            }
        }
        self.reload(now).await?;
        Ok(made)
    }

    /// Reads the keys from the store.
    pub async fn reload(&self, now: DateTime<Utc>) -> Result<(), IdpError> {
        let stored = self.store.signing_keys(now).await?;
        let mut next = Loaded { loaded_at: Some(now), ..Loaded::default() };
        for rec in &stored {
            if rec.alg == crate::saml::sign::SAML_ALG {
                // The SAML key: published in SAML metadata, never in the JWKS.
                continue;
            }
            let Some(alg) = SigningAlg::parse(&rec.alg) else {
                tracing::warn!(kid = %rec.kid, alg = %rec.alg, "ignoring a signing key of an unknown algorithm");
                continue;
            };
            let key = Arc::new(SigningKey::from_pkcs8(&rec.kid, alg, &rec.private_pkcs8)?);
            // Newest first: the first current key per algorithm signs.
            if rec.created_at <= now && rec.retire_at > now && !next.signing.iter().any(|k| k.alg == alg) {
                next.signing.push(key.clone());
            }
            next.published.push(key);
        }
        *self.loaded.write().await = next;
        Ok(())
    }

    async fn fresh(&self, now: DateTime<Utc>) -> Result<(), IdpError> {
        let stale = self.loaded.read().await.loaded_at.is_none_or(|t| (now - t).num_seconds() >= RELOAD_EVERY);
        if stale { self.reload(now).await } else { Ok(()) }
    }

    /// The key that signs with `alg` now.
    pub async fn signer(&self, alg: SigningAlg, now: DateTime<Utc>) -> Result<Arc<SigningKey>, IdpError> {
        self.fresh(now).await?;
        if let Some(k) = self.loaded.read().await.signing.iter().find(|k| k.alg == alg) {
            return Ok(k.clone());
        }
        // Retired since the last look (or a client asks for a new algorithm): make one.
        self.ensure(&[alg], now).await?;
        self.loaded
            .read()
            .await
            .signing
            .iter()
            .find(|k| k.alg == alg)
            .cloned()
            .ok_or_else(|| IdpError::Internal(format!("no {} signing key", alg.as_str())))
    }

    /// The published key with this `kid`.
    pub async fn by_kid(&self, kid: &str, now: DateTime<Utc>) -> Result<Option<Arc<SigningKey>>, IdpError> {
        self.fresh(now).await?;
        Ok(self.loaded.read().await.published.iter().find(|k| k.kid == kid).cloned())
    }

    pub async fn jwks(&self, now: DateTime<Utc>) -> Result<CoreJsonWebKeySet, IdpError> {
        self.fresh(now).await?;
        Ok(CoreJsonWebKeySet::new(self.loaded.read().await.published.iter().map(|k| k.public.clone()).collect()))
    }
}

/// Verifies a signature with a published key, for tokens this provider issued.
pub(crate) fn verify(key: &SigningKey, message: &[u8], signature: &[u8]) -> Result<(), SignatureVerificationError> {
    key.public.verify_signature(&jws_alg(key.alg), message, signature)
}
