//! Certificates for EPP over TLS: a throwaway PKI for tests and the demo, and the SHA-256
//! fingerprints that pin a registrar's client certificate.
//!
//! EPP (RFC 5734) authenticates registrars by client certificate, so tests and the demo need a
//! CA, a server certificate and client certificates they can make on the spot, with no files and
//! no openssl. Keys are ECDSA P-256: quick to make and accepted by every TLS stack.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;

/// Common name of the generated CA, so an operator can tell it from a real one.
const CA_COMMON_NAME: &str = "nicbox demo CA";
/// Days a generated certificate is valid: the longest span browsers and most clients accept.
const VALIDITY_DAYS: i64 = 825;

/// PEM texts of a generated test PKI.
pub struct TestPki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

/// A registrar's client certificate and key (PEM), and the fingerprint its settings pin.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: [u8; 32],
}

/// The CA's name and key, kept to sign more client certificates after `test_pki`.
pub struct CaHandle {
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CaHandle {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaHandle(..)")
    }
}

/// A CA (CN "nicbox demo CA", basic constraints CA, key usage cert sign), and a server leaf signed
/// by it with SANs DNS "localhost" and IP 127.0.0.1 (and ::1), EKU serverAuth, valid from
/// yesterday for 825 days.
///
/// Valid from yesterday so that a client whose clock is a little behind still accepts it.
pub fn test_pki() -> Result<(TestPki, CaHandle), String> {
    let ca_key = new_key()?;
    let mut ca_params = base_params(CA_COMMON_NAME)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    ca_params.use_authority_key_identifier_extension = false;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| format!("CA certificate: {e}"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = new_key()?;
    let mut server_params = base_params("localhost")?;
    server_params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(|e| format!("server name: {e}"))?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer).map_err(|e| format!("server certificate: {e}"))?;

    let pki = TestPki {
        ca_cert_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    };
    Ok((pki, CaHandle { issuer }))
}

/// A client leaf certificate for `registrar_id` (CN = the id), EKU clientAuth, signed by the CA.
///
/// Each call makes a new key, so each certificate has its own fingerprint.
pub fn client_cert(ca: &CaHandle, registrar_id: &str) -> Result<ClientCert, String> {
    if registrar_id.trim().is_empty() {
        return Err("client certificate: the registrar id is empty".to_string());
    }
    let key = new_key()?;
    let mut params = base_params(registrar_id)?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca.issuer).map_err(|e| format!("client certificate for {registrar_id}: {e}"))?;
    Ok(ClientCert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), fingerprint: fingerprint_der(cert.der()) })
}

/// SHA-256 of a certificate's DER: the pin a registrar's settings hold.
///
/// Pinning the whole certificate, not just the CA, lets the registry refuse a certificate the
/// registrar has replaced or lost, even one the same CA signed.
pub fn fingerprint_der(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The SHA-256 fingerprint of the first certificate in a PEM text.
pub fn fingerprint_pem(pem: &str) -> Result<[u8; 32], String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no certificate could be read from the PEM text: {e}"))?;
    Ok(fingerprint_der(&der))
}

/// "AB:CD:..." upper-case hex with colons (as `openssl x509 -fingerprint -sha256` prints it).
pub fn fingerprint_hex(fp: &[u8; 32]) -> String {
    let mut out = String::with_capacity(32 * 3 - 1);
    for (i, b) in fp.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Parses a fingerprint as an operator pastes it: the colon form `fingerprint_hex` prints, plain
/// hex, any case, with or without the `sha256 Fingerprint=` prefix openssl prints.
///
/// With colons, every byte must be two digits, so a pasted text with a digit lost is refused
/// rather than read as a different pin.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let mut s = text.trim();
    if let Some((label, rest)) = s.split_once('=')
        && label.trim().eq_ignore_ascii_case("sha256 fingerprint")
    {
        s = rest.trim();
    }
    let pairs: Vec<&str> = if s.contains(':') {
        s.split(':').collect()
    } else {
        if !s.is_ascii() || !s.len().is_multiple_of(2) {
            return Err(format!("fingerprint {text:?}: expected 64 hex digits"));
        }
        (0..s.len()).step_by(2).map(|i| &s[i..i + 2]).collect()
    };
    if pairs.len() != 32 {
        return Err(format!("fingerprint {text:?}: expected 32 bytes (64 hex digits), found {}", pairs.len()));
    }
    let mut fp = [0u8; 32];
    for (byte, pair) in fp.iter_mut().zip(&pairs) {
        if pair.len() != 2 || !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("fingerprint {text:?}: {pair:?} is not a two-digit hex byte"));
        }
        *byte = u8::from_str_radix(pair, 16).map_err(|e| format!("fingerprint {text:?}: {e}"))?;
    }
    Ok(fp)
}

fn new_key() -> Result<KeyPair, String> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| format!("generating a P-256 key: {e}"))
}

/// Parameters shared by every certificate made here: the common name, validity from yesterday
/// for `VALIDITY_DAYS`, a digital-signature key usage (what an ECDSA TLS key does) and an
/// authority key identifier so verifiers find the issuer fast.
///
/// Validity follows the wall clock, not registry time: TLS peers check it against theirs, and a
/// lab clock moved forward must not make fresh certificates look expired.
fn base_params(common_name: &str) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = OffsetDateTime::from_unix_timestamp(Clock::wall_now().0)
        .map_err(|e| format!("the system clock is out of range: {e}"))?;
    let not_before = now - Duration::days(1);
    params.not_before = not_before;
    params.not_after = not_before + Duration::days(VALIDITY_DAYS);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::Arc;

    use rustls_pki_types::{ServerName, UnixTime};
    use tokio_rustls::rustls::RootCertStore;
    use tokio_rustls::rustls::client::WebPkiServerVerifier;
    use tokio_rustls::rustls::client::danger::ServerCertVerifier;
    use tokio_rustls::rustls::crypto::ring::default_provider;
    use tokio_rustls::rustls::server::WebPkiClientVerifier;

    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn roots(pki: &TestPki) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(der(&pki.ca_cert_pem)).unwrap();
        Arc::new(roots)
    }

    #[test]
    fn server_cert_verifies_for_localhost_and_loopback() {
        let (pki, _ca) = test_pki().unwrap();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(roots(&pki), Arc::new(default_provider())).build().unwrap();
        let leaf = der(&pki.server_cert_pem);
        for name in ["localhost", "127.0.0.1", "::1"] {
            let name = ServerName::try_from(name).unwrap();
            verifier.verify_server_cert(&leaf, &[], &name, &[], UnixTime::now()).unwrap();
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(verifier.verify_server_cert(&leaf, &[], &other, &[], UnixTime::now()).is_err());
        // The key is a PKCS#8 PEM that rustls can load.
        rustls_pki_types::PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    }

    #[test]
    fn client_cert_verifies_against_the_ca() {
        let (pki, ca) = test_pki().unwrap();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots(&pki), Arc::new(default_provider())).build().unwrap();
        let client = client_cert(&ca, "reg-alpha").unwrap();
        verifier.verify_client_cert(&der(&client.cert_pem), &[], UnixTime::now()).unwrap();
        // A server certificate is not a client certificate (EKU serverAuth only).
        assert!(verifier.verify_client_cert(&der(&pki.server_cert_pem), &[], UnixTime::now()).is_err());
        // Nor is a client certificate of another CA.
        let (_, other_ca) = test_pki().unwrap();
        let stranger = client_cert(&other_ca, "reg-alpha").unwrap();
        assert!(verifier.verify_client_cert(&der(&stranger.cert_pem), &[], UnixTime::now()).is_err());
        assert_ne!(client.fingerprint, stranger.fingerprint);
        assert!(client_cert(&ca, " ").is_err());
    }

    #[test]
    fn fingerprint_matches_openssl_and_round_trips() {
        let (_, ca) = test_pki().unwrap();
        let client = client_cert(&ca, "reg-alpha").unwrap();
        let fp = fingerprint_pem(&client.cert_pem).unwrap();
        assert_eq!(fp, client.fingerprint);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.pem");
        std::fs::write(&path, &client.cert_pem).unwrap();
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&path)
            .output()
            .expect("openssl must be installed for this test");
        assert!(out.status.success(), "openssl failed: {}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap();
        let (_, openssl_hex) = printed.trim().split_once('=').unwrap();
        assert_eq!(fingerprint_hex(&fp), openssl_hex);
        assert_eq!(parse_fingerprint(&printed).unwrap(), fp);

        let hex = fingerprint_hex(&fp);
        assert_eq!(parse_fingerprint(&hex).unwrap(), fp);
        assert_eq!(parse_fingerprint(&hex.to_lowercase()).unwrap(), fp);
        let plain = hex.replace(':', "");
        assert_eq!(parse_fingerprint(&plain).unwrap(), fp);
        assert_eq!(parse_fingerprint(&format!("  {}\n", plain.to_lowercase())).unwrap(), fp);
        assert_eq!(parse_fingerprint(&format!("SHA256 Fingerprint={hex}")).unwrap(), fp);
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        let (_, ca) = test_pki().unwrap();
        let hex = fingerprint_hex(&client_cert(&ca, "reg-alpha").unwrap().fingerprint);
        let plain = hex.replace(':', "");
        for bad in [
            String::new(),
            plain[..62].to_string(),
            format!("{plain}00"),
            hex[..hex.len() - 3].to_string(),
            format!("{hex}:00"),
            format!("{}Z", &plain[..63]),
            hex.replacen(':', "", 1),
            format!("{}:{}", &hex[..2], &hex[2..]),
            format!("sha1 Fingerprint={hex}"),
            "é".repeat(32),
        ] {
            assert!(parse_fingerprint(&bad).is_err(), "accepted {bad:?}");
        }
        assert!(fingerprint_pem("not a certificate").is_err());
    }
}
