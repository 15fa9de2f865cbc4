//! Signed checkpoints: "record `seq` of the chain had hash `hash`", signed with an Ed25519 key
//! that is kept outside the database (a file only orgid can read). Someone who can rewrite the
//! audit table can recompute every hash, but cannot sign; checkpoints exported to an external log
//! system pin the chain even against someone who also holds the key later.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::chain::{ChainHead, Hash};

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// A short name for messages: the first 8 bytes in hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        hex::decode(s.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(PublicKey)
            .ok_or_else(|| "not an Ed25519 public key (64 hex digits)".into())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A signed statement about one chain: its record `pos` had hash `hash`. Exported one JSON
/// object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub chain: i32,
    pub pos: i64,
    pub hash: Hash,
    pub at: DateTime<Utc>,
    pub public_key: PublicKey,
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

const DOMAIN: &[u8] = b"orgid-audit-checkpoint-v1\0";

/// What is signed: a domain tag, the chain, the position, the hash, the time (unix ms) and the
/// signer's key.
pub fn signed_message(chain: i32, pos: i64, hash: &Hash, at: DateTime<Utc>, key: &PublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 4 + 8 + 32 + 8 + 32);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&chain.to_be_bytes());
    m.extend_from_slice(&pos.to_be_bytes());
    m.extend_from_slice(&hash.0);
    m.extend_from_slice(&at.timestamp_millis().to_be_bytes());
    m.extend_from_slice(&key.0);
    m
}

/// Why a checkpoint is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint of chain {chain} at record {pos} is signed by key {key}, which is not a trusted key")]
    UntrustedKey { chain: i32, pos: i64, key: String },
    #[error("the checkpoint of chain {chain} at record {pos} has an invalid signature")]
    BadSignature { chain: i32, pos: i64 },
    #[error("the signing key is not a valid Ed25519 PKCS#8 key")]
    BadKey,
}

/// The private half, loaded from the key file.
pub struct CheckpointSigner {
    key: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointSigner({})", self.public.fingerprint())
    }
}

impl CheckpointSigner {
    /// From the PKCS#8 document of an Ed25519 key (as `ring` generates it).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, CheckpointError> {
        let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| CheckpointError::BadKey)?;
        let public = <[u8; 32]>::try_from(key.public_key().as_ref()).map_err(|_| CheckpointError::BadKey)?;
        Ok(CheckpointSigner { key, public: PublicKey(public) })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs "record `head.pos` of chain `head.chain` has hash `head.hash`" at `at` (kept in
    /// milliseconds).
    pub fn sign(&self, head: ChainHead, at: DateTime<Utc>) -> Checkpoint {
        let at = DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
        let sig = self.key.sign(&signed_message(head.chain, head.pos, &head.hash, at, &self.public));
        Checkpoint {
            chain: head.chain,
            pos: head.pos,
            hash: head.hash,
            at,
            public_key: self.public,
            signature: sig.as_ref().to_vec(),
        }
    }
}

impl Checkpoint {
    /// Checks the signature and that the key is one of `trusted`.
    pub fn verify(&self, trusted: &[PublicKey]) -> Result<(), CheckpointError> {
        let (chain, pos) = (self.chain, self.pos);
        if !trusted.contains(&self.public_key) {
            return Err(CheckpointError::UntrustedKey { chain, pos, key: self.public_key.fingerprint() });
        }
        signature::UnparsedPublicKey::new(&signature::ED25519, self.public_key.0)
            .verify(&signed_message(chain, pos, &self.hash, self.at, &self.public_key), &self.signature)
            .map_err(|_| CheckpointError::BadSignature { chain, pos })
    }
}

/// Trusted checkpoints by chain: (position, hash), as `ChainVerifier` takes them.
pub type TrustedCheckpoints = BTreeMap<i32, Vec<(i64, Hash)>>;

/// Splits checkpoints into the trusted ones and the errors.
pub fn trusted_checkpoints(
    checkpoints: &[Checkpoint],
    trusted: &[PublicKey],
) -> (TrustedCheckpoints, Vec<CheckpointError>) {
    let mut ok = TrustedCheckpoints::new();
    let mut errors = Vec::new();
    for c in checkpoints {
        match c.verify(trusted) {
            Ok(()) => ok.entry(c.chain).or_default().push((c.pos, c.hash)),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use ring::rand::SystemRandom;

    use super::*;

    fn signer() -> CheckpointSigner {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        CheckpointSigner::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn head() -> ChainHead {
        ChainHead { chain: 2, pos: 42, hash: Hash([9; 32]) }
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_only() {
        let s = signer();
        let cp = s.sign(head(), DateTime::from_timestamp_micros(1_714_521_600_123_456).unwrap());
        assert_eq!(cp.at.timestamp_subsec_micros(), 123_000, "kept in milliseconds like the store");
        assert_eq!(cp.verify(&[s.public_key()]), Ok(()));
        let other = signer();
        assert!(matches!(
            cp.verify(&[other.public_key()]),
            Err(CheckpointError::UntrustedKey { chain: 2, pos: 42, .. })
        ));
    }

    #[test]
    fn any_change_to_a_checkpoint_breaks_its_signature() {
        let s = signer();
        let cp = s.sign(head(), Utc::now());
        let trusted = [s.public_key()];
        for tampered in [
            Checkpoint { pos: 43, ..cp.clone() },
            Checkpoint { chain: 3, ..cp.clone() },
            Checkpoint { hash: Hash([8; 32]), ..cp.clone() },
            Checkpoint { at: cp.at + chrono::Duration::seconds(1), ..cp.clone() },
            Checkpoint { signature: vec![0; 64], ..cp.clone() },
        ] {
            assert!(matches!(tampered.verify(&trusted), Err(CheckpointError::BadSignature { .. })), "{tampered:?}");
        }
        // A key swapped in the database with a signature of its own is not trusted.
        let mallory = signer();
        let forged = mallory.sign(head(), cp.at);
        assert!(matches!(forged.verify(&trusted), Err(CheckpointError::UntrustedKey { .. })));
        let (ok, errors) = trusted_checkpoints(&[cp.clone(), forged], &trusted);
        assert_eq!(ok, BTreeMap::from([(2, vec![(42, Hash([9; 32]))])]));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn checkpoints_round_trip_as_json_lines() {
        let s = signer();
        let cp = s.sign(head(), Utc::now());
        let line = serde_json::to_string(&cp).unwrap();
        assert!(!line.contains('\n'));
        let back: Checkpoint = serde_json::from_str(&line).unwrap();
        assert_eq!(back, cp);
        assert_eq!(back.verify(&[s.public_key()]), Ok(()));
        assert_eq!(s.public_key().to_string().parse::<PublicKey>(), Ok(s.public_key()));
        assert!(CheckpointSigner::from_pkcs8(b"not a key").is_err());
    }
}
