//! The provider's small cryptographic helpers, shared by every face: random ids and tokens,
//! SHA-256 of what the store keeps instead of a secret, and comparison in constant time.

use ring::rand::{SecureRandom, SystemRandom};

use crate::IdpError;

/// Random bytes as base64url (ids, codes, tokens).
pub fn random_token(bytes: usize) -> Result<String, IdpError> {
    use base64::Engine;
    let mut buf = vec![0; bytes];
    SystemRandom::new().fill(&mut buf).map_err(|_| IdpError::Internal("no system randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Equality without an early exit (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}
