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

/// An id that sorts by the time it was made: the milliseconds since the epoch as 12 hex digits,
/// then `bytes` random bytes as base64url. The store keys grants and access tokens by their ids:
/// ids in time order are inserted at the end of each B-tree (one hot page) instead of at random
/// places all over it, which is what made every token write read and dirty cold pages once the
/// tables outgrew the cache. The random part keeps ids unguessable all the same.
pub fn ordered_id(now: chrono::DateTime<chrono::Utc>, bytes: usize) -> Result<String, IdpError> {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0) & 0xffff_ffff_ffff;
    Ok(format!("{millis:012x}{}", random_token(bytes)?))
}

/// Equality without an early exit (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    #[test]
    fn ordered_ids_sort_by_time_and_differ_within_a_millisecond() {
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 1, 2, 3).unwrap();
        let (a, b) = (ordered_id(t, 15).unwrap(), ordered_id(t, 15).unwrap());
        let later = ordered_id(t + Duration::milliseconds(1), 15).unwrap();
        assert_ne!(a, b, "random within the same millisecond");
        assert!(a < later && b < later, "{a} {b} {later}");
        assert_eq!(a.len(), 12 + 20);
        assert_eq!(&a[..12], format!("{:012x}", t.timestamp_millis()));
    }
}
