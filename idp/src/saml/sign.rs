//! The SAML signing key and its certificate, enveloped signatures over orgid's own canonical XML
//! (RSA-SHA256, exclusive c14n, SHA-256 digests), and the check of an HTTP-Redirect binding's
//! query signature (no XML canonicalization needed there).
//!
//! The key is an RSA key kept in the store beside the OIDC signing keys (alg `SAML-RS256`, which
//! the JWKS never publishes), made once and kept long: service providers pin its certificate
//! from the metadata. The certificate is self-signed and made from the key and its creation time
//! alone (fixed serial, validity and name, deterministic PKCS#1 v1.5 signatures), so every
//! replica and every restart publishes the same bytes without storing them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, Utc};
use orgid_directory::audit::{Actor, lifecycle};
use orgid_directory::idp::SigningKeyRecord;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};

use super::xml::{El, Ns};
use crate::{IdpError, Provider};

/// How the SAML key is marked in the signing-key store.
pub(crate) const SAML_ALG: &str = "SAML-RS256";
/// How long the key signs: service providers pin it, so it lasts.
const KEY_YEARS: i64 = 20;

const C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

pub(crate) struct SamlKey {
    pair: RsaKeyPair,
    /// DER of the self-signed certificate.
    pub(crate) cert: Vec<u8>,
}

impl std::fmt::Debug for SamlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlKey").finish_non_exhaustive()
    }
}

impl SamlKey {
    pub(crate) fn from_record(rec: &SigningKeyRecord, issuer: &str) -> Result<Self, IdpError> {
        let bad = |e: &dyn std::fmt::Display| IdpError::Internal(format!("SAML key {} does not load: {e}", rec.kid));
        let pair = RsaKeyPair::from_pkcs8(&rec.private_pkcs8).map_err(|e| bad(&e))?;
        let cert = certificate(&rec.private_pkcs8, &rec.kid, rec.created_at, issuer).map_err(|e| bad(&e))?;
        Ok(SamlKey { pair, cert })
    }

    pub(crate) fn cert_b64(&self) -> String {
        B64.encode(&self.cert)
    }

    /// RSA-SHA256 (PKCS#1 v1.5) over `message`: also a Redirect binding's query signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IdpError> {
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| IdpError::Internal("SAML signing failed".into()))?;
        Ok(sig)
    }

    /// Signs `el` (whose `ID` is `id`) with an enveloped signature placed as its child at
    /// `position` (after the `Issuer`, as the SAML schema wants).
    pub(crate) fn sign_enveloped(&self, el: &mut El, id: &str, position: usize) -> Result<(), IdpError> {
        use ring::digest::{SHA256 as D, digest};
        let digest = B64.encode(digest(&D, el.canonical().as_bytes()));
        let alg = |name, uri: &str| El::new(Ns::Ds, name).attr("Algorithm", uri);
        let signed_info = El::new(Ns::Ds, "SignedInfo")
            .child(alg("CanonicalizationMethod", C14N))
            .child(alg("SignatureMethod", RSA_SHA256))
            .child(
                El::new(Ns::Ds, "Reference")
                    .attr("URI", format!("#{id}"))
                    .child(
                        El::new(Ns::Ds, "Transforms").child(alg("Transform", ENVELOPED)).child(alg("Transform", C14N)),
                    )
                    .child(alg("DigestMethod", SHA256))
                    .child(El::new(Ns::Ds, "DigestValue").text(digest)),
            );
        let value = B64.encode(self.sign(signed_info.canonical().as_bytes())?);
        let signature = El::new(Ns::Ds, "Signature")
            .child(signed_info)
            .child(El::new(Ns::Ds, "SignatureValue").text(value))
            .child(key_info(&self.cert_b64()));
        let at = position.min(el.children.len());
        el.children.insert(at, super::xml::Node::El(signature));
        Ok(())
    }
}

pub(crate) fn key_info(cert_b64: &str) -> El {
    El::new(Ns::Ds, "KeyInfo")
        .child(El::new(Ns::Ds, "X509Data").child(El::new(Ns::Ds, "X509Certificate").text(cert_b64)))
}

/// The self-signed certificate of the key, the same bytes for the same key.
fn certificate(pkcs8: &[u8], kid: &str, created: DateTime<Utc>, issuer: &str) -> Result<Vec<u8>, rcgen::Error> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    let host = url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("orgid SAML {host}"));
    let start =
        time::OffsetDateTime::from_unix_timestamp(created.timestamp()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    params.not_before = start;
    params.not_after = start + time::Duration::days(365 * KEY_YEARS);
    let serial: Vec<u8> = ring::digest::digest(&ring::digest::SHA256, kid.as_bytes()).as_ref()[..16].to_vec();
    let mut serial = serial;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    Ok(params.self_signed(&pair)?.der().to_vec())
}

/// A query of the HTTP-Redirect binding, read raw: its signature is over the parameters exactly
/// as they were encoded (SAML Bindings §3.4.4.1).
pub(crate) struct RedirectQuery<'q>(pub(crate) &'q str);

impl RedirectQuery<'_> {
    /// A parameter as it came, still URL-encoded.
    pub(crate) fn raw(&self, k: &str) -> Option<&str> {
        self.0.split('&').find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    }

    /// A parameter decoded.
    pub(crate) fn decoded(&self, k: &str) -> Option<String> {
        url::form_urlencoded::parse(self.0.as_bytes()).find(|(n, _)| n == k).map(|(_, v)| v.into_owned())
    }

    /// The signature over the message in `param` (`SAMLRequest` or `SAMLResponse`), if the query
    /// has one: the signed octets (`param`, `RelayState` if sent, `SigAlg`, as received), the
    /// decoded `SigAlg` and the signature's bytes.
    pub(crate) fn signature(&self, param: &str) -> Option<(String, String, Vec<u8>)> {
        let (Some(m), Some(a), Some(alg), Some(sig)) =
            (self.raw(param), self.raw("SigAlg"), self.decoded("SigAlg"), self.decoded("Signature"))
        else {
            return None;
        };
        let mut signed = format!("{param}={m}");
        if let Some(rs) = self.raw("RelayState") {
            signed.push_str(&format!("&RelayState={rs}"));
        }
        signed.push_str(&format!("&SigAlg={a}"));
        Some((signed, alg, B64.decode(sig.trim()).unwrap_or_default()))
    }

    /// Whether the message in `param` is signed by one of `certs`: `Err("unsigned")` or
    /// `Err("bad signature")` (the audit's reasons) if not.
    pub(crate) fn verify(&self, param: &str, certs: &[Vec<u8>]) -> Result<(), &'static str> {
        let (signed, alg, sig) = self.signature(param).ok_or("unsigned")?;
        if verify_redirect(&signed, &alg, &sig, certs) { Ok(()) } else { Err("bad signature") }
    }
}

/// Verifies an HTTP-Redirect binding signature (SAML Bindings §3.4.4.1): `signed` is
/// `SAMLRequest=…[&RelayState=…]&SigAlg=…` exactly as it came in the query (still URL-encoded),
/// `sig_alg` the decoded `SigAlg`, `signature` the decoded signature; `certs` the DER
/// certificates of the SP's metadata. Only RSA-SHA256 is taken.
pub(crate) fn verify_redirect(signed: &str, sig_alg: &str, signature_bytes: &[u8], certs: &[Vec<u8>]) -> bool {
    if sig_alg != RSA_SHA256 {
        return false;
    }
    certs.iter().any(|der| {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return false };
        let key = &cert.public_key().subject_public_key.data;
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key.as_ref())
            .verify(signed.as_bytes(), signature_bytes)
            .is_ok()
    })
}

impl Provider {
    /// The SAML key: loaded once per process from the store, made (and recorded) on first use.
    pub(crate) async fn saml_key(&self) -> Result<std::sync::Arc<SamlKey>, IdpError> {
        self.inner
            .saml_key
            .get_or_try_init(|| async {
                let now = self.now();
                let find = |keys: Vec<SigningKeyRecord>| {
                    keys.into_iter().filter(|k| k.alg == SAML_ALG && k.retire_at > now).min_by_key(|k| k.created_at)
                };
                let stored = self.inner.store.signing_keys(now).await?;
                let newest = stored.iter().map(|k| k.created_at).max().unwrap_or(DateTime::<Utc>::MIN_UTC);
                let rec = match find(stored) {
                    Some(r) => r,
                    None => {
                        let der = tokio::task::spawn_blocking(|| {
                            crate::oidc::keys::generate(orgid_config::SigningAlg::RS256)
                        })
                        .await
                        .map_err(|e| IdpError::Internal(format!("key generation task: {e}")))??;
                        let retire_at = now + Duration::days(365 * KEY_YEARS);
                        let record = SigningKeyRecord {
                            kid: format!("saml-{}", crate::crypto::random_token(9)?),
                            alg: SAML_ALG.into(),
                            private_pkcs8: der,
                            created_at: now,
                            retire_at,
                            expires_at: retire_at,
                        };
                        let made =
                            lifecycle::key_rotation_event("saml", None, &record.kid, &Actor::System("idp".into()), now);
                        // Refused if another replica added a key meanwhile: then its key is read.
                        self.inner.store.add_signing_key(&record, newest, &[made]).await?;
                        find(self.inner.store.signing_keys(now).await?)
                            .ok_or_else(|| IdpError::Internal("the SAML key was not kept".into()))?
                    }
                };
                Ok::<_, IdpError>(std::sync::Arc::new(SamlKey::from_record(&rec, self.issuer())?))
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key() -> (SamlKey, Vec<u8>) {
        let der = crate::oidc::keys::generate(orgid_config::SigningAlg::RS256).unwrap();
        let rec = SigningKeyRecord {
            kid: "saml-test".into(),
            alg: SAML_ALG.into(),
            private_pkcs8: der.clone(),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            retire_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
            expires_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
        };
        (SamlKey::from_record(&rec, "https://id.example").unwrap(), der)
    }

    #[test]
    fn the_certificate_is_the_same_for_the_same_key_and_carries_its_public_key() {
        let (k, der) = key();
        let rec = SigningKeyRecord {
            kid: "saml-test".into(),
            alg: SAML_ALG.into(),
            private_pkcs8: der,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            retire_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
            expires_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
        };
        let again = SamlKey::from_record(&rec, "https://id.example").unwrap();
        assert_eq!(k.cert, again.cert);
        let (_, cert) = x509_parser::parse_x509_certificate(&k.cert).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=orgid SAML id.example");
        assert_eq!(cert.public_key().subject_public_key.data.as_ref(), k.pair.public().as_ref());
    }

    #[test]
    fn an_enveloped_signature_verifies_over_the_element_without_it() {
        let (k, _) = key();
        let mut el = El::new(Ns::Saml, "Assertion")
            .attr("ID", "_a1")
            .child(El::new(Ns::Saml, "Issuer").text("https://id.example"))
            .child(El::new(Ns::Saml, "Subject").text("王芳"));
        let unsigned = el.canonical();
        k.sign_enveloped(&mut el, "_a1", 1).unwrap();
        let signed = el.canonical();
        // The signature sits after the Issuer; removing it gives back the digested bytes.
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        assert!(signed[..start].ends_with("</saml:Issuer>"));
        assert_eq!(format!("{}{}", &signed[..start], &signed[end..]), unsigned);
        let digest = B64.encode(ring::digest::digest(&ring::digest::SHA256, unsigned.as_bytes()));
        assert!(signed.contains(&format!("<ds:DigestValue>{digest}</ds:DigestValue>")));
        // The SignedInfo, written alone (with its own ds declaration), is what was signed.
        let si_start = signed.find("<ds:SignedInfo>").unwrap();
        let si_end = signed.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
        let si = signed[si_start..si_end].replacen(
            "<ds:SignedInfo>",
            "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">",
            1,
        );
        let v = &signed[signed.find("<ds:SignatureValue>").unwrap() + 19..signed.find("</ds:SignatureValue>").unwrap()];
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k.pair.public().as_ref())
            .verify(si.as_bytes(), &B64.decode(v).unwrap())
            .unwrap();
    }

    #[test]
    fn a_redirect_signature_is_checked_against_the_metadata_certificate() {
        let (k, _) = key();
        let signed = format!(
            "SAMLRequest=abc%2B&RelayState=x&SigAlg={}",
            "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
        );
        let sig = k.sign(signed.as_bytes()).unwrap();
        let certs = vec![k.cert.clone()];
        assert!(verify_redirect(&signed, RSA_SHA256, &sig, &certs));
        assert!(!verify_redirect(&signed.replace("x&", "y&"), RSA_SHA256, &sig, &certs));
        assert!(!verify_redirect(&signed, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", &sig, &certs));
        let (other, _) = key();
        assert!(!verify_redirect(&signed, RSA_SHA256, &sig, std::slice::from_ref(&other.cert)));
    }
}
