//! TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either way.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::IdpError;

const STEP: i64 = 30;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new 160-bit secret, base32 (RFC 4648, no padding) as authenticator apps take it.
pub fn new_secret() -> Result<String, IdpError> {
    let mut key = [0u8; 20];
    SystemRandom::new().fill(&mut key).map_err(|_| IdpError::Internal("no system randomness".into()))?;
    Ok(base32(&key))
}

pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The code for a time step.
pub fn code_at(secret_b32: &str, step: i64) -> Option<u32> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &unbase32(secret_b32)?);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    Some(bin % 1_000_000)
}

/// Whether `code` is valid at unix time `now` (±1 step). Compared without early exit.
pub fn verify(secret_b32: &str, code: &str, now: i64) -> bool {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let step = now.div_euclid(STEP);
    let mut ok = false;
    for s in [step - 1, step, step + 1] {
        if let Some(c) = code_at(secret_b32, s) {
            ok |= crate::crypto::ct_eq(format!("{c:06}").as_bytes(), code.as_bytes());
        }
    }
    ok
}

/// The `otpauth://` URI an authenticator app imports.
pub fn uri(issuer: &str, login: &str, secret_b32: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&digits=6&period=30",
        enc(issuer),
        enc(login),
        enc(issuer)
    )
}

/// The URI as a QR code for an authenticator app's camera: an inline `<svg>` element (no image
/// to serve, nothing for the CSP to allow), medium error correction, with its quiet zone.
pub fn qr_svg(uri: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let image = code
        .render()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // Inline in HTML: without the XML declaration.
    let start = image.find("<svg")?;
    Some(image[start..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, secret "12345678901234567890", 8 digits there; the last 6 here.
        let secret = base32(b"12345678901234567890");
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (t, expect8) in [(59, 94287082u32), (1_111_111_109, 7_081_804), (1_234_567_890, 89_005_924)] {
            assert_eq!(code_at(&secret, t / STEP), Some(expect8 % 1_000_000), "t={t}");
        }
        assert!(verify(&secret, "287082", 59));
        assert!(verify(&secret, "287082", 59 + 30), "one step of skew");
        assert!(!verify(&secret, "287082", 59 + 90));
        assert!(!verify(&secret, "28708", 59));
        assert!(!verify(&secret, "abcdef", 59));
    }

    #[test]
    fn secrets_round_trip_through_base32() {
        let s = new_secret().unwrap_or_default();
        assert_eq!(s.len(), 32);
        assert_eq!(unbase32(&s).map(|b| b.len()), Some(20));
        assert!(uri("orgid", "zhang wei", &s).starts_with("otpauth://totp/orgid:zhang+wei?secret="));
        let svg = qr_svg(&uri("orgid", "zhang wei", &s)).expect("a QR code");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>") && svg.contains("<path"), "{svg}");
    }
}
