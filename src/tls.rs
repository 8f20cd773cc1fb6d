//! TLS configurations that are reloaded from disk while the server runs (on SIGHUP).
//!
//! Each TLS listener (HTTPS, EPP) reads its current `ServerConfig` once per accepted connection,
//! so a reload changes what new handshakes present and leaves established connections alone: a
//! connection keeps the configuration it was accepted with until it closes. A reload that fails
//! (a file missing or unreadable, no certificate in it, a key that does not match the
//! certificate, a client CA that does not parse) keeps the previous configuration and logs one
//! error naming the listener and the cause.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

type Loader = Box<dyn Fn() -> Result<Arc<ServerConfig>, String> + Send + Sync>;

/// A listener's TLS configuration and how to build it again from its files.
pub struct Reloadable {
    protocol: &'static str,
    current: RwLock<Arc<ServerConfig>>,
    load: Loader,
}

impl Reloadable {
    /// Builds the first configuration with `load`; an error here stops the server from starting.
    pub fn new(
        protocol: &'static str,
        load: impl Fn() -> Result<Arc<ServerConfig>, String> + Send + Sync + 'static,
    ) -> Result<Arc<Reloadable>, String> {
        let first = load()?;
        Ok(Arc::new(Reloadable { protocol, current: RwLock::new(first), load: Box::new(load) }))
    }

    /// The configuration a new connection is accepted with.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again; on success new connections use them, on failure the previous
    /// configuration stays and the cause is logged. Returns whether the new files were taken.
    pub fn reload(&self) -> bool {
        match (self.load)() {
            Ok(next) => {
                match self.current.write() {
                    Ok(mut c) => *c = next,
                    Err(poisoned) => *poisoned.into_inner() = next,
                }
                tracing::info!(protocol = self.protocol, "TLS certificate reloaded: new connections use it");
                true
            }
            Err(e) => {
                tracing::error!(
                    protocol = self.protocol,
                    error = %e,
                    "TLS reload failed: keeping the previous certificate"
                );
                false
            }
        }
    }
}

/// The certificates of a PEM file (the leaf first); an error names the file.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// The private key of a PEM file; an error names the file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!("{}: no private key in the file", path.display()),
        e => format!("{}: {e}", path.display()),
    })
}

/// rustls's refusal of a certificate and key pair, in words, naming both files.
pub fn pair_error(e: &tokio_rustls::rustls::Error, cert: &Path, key: &Path) -> String {
    use tokio_rustls::rustls::{Error, InconsistentKeys};
    let why = match e {
        Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            "the private key does not belong to the certificate".to_string()
        }
        e => e.to_string(),
    };
    format!("certificate {} and key {}: {why}", cert.display(), key.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_takes_good_files_and_keeps_the_last_good_config_on_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let write = |c: &str, k: &str| {
            std::fs::write(&cert, c).unwrap();
            std::fs::write(&key, k).unwrap();
        };
        let (a, _) = crate::epp::certs::test_pki().unwrap();
        let (b, _) = crate::epp::certs::test_pki().unwrap();
        write(&a.server_cert_pem, &a.server_key_pem);
        let (c2, k2) = (cert.clone(), key.clone());
        let r = Reloadable::new("https", move || crate::http::tls::server_config(&c2, &k2)).unwrap();
        let first = r.current();
        assert!(Arc::ptr_eq(&first, &r.current()), "the same config until a reload");

        write(&b.server_cert_pem, &a.server_key_pem);
        assert!(!r.reload(), "a key of another certificate is refused");
        assert!(Arc::ptr_eq(&first, &r.current()));
        let e = crate::http::tls::server_config(&cert, &key).unwrap_err();
        assert!(e.contains("does not belong") && e.contains("cert.pem") && e.contains("key.pem"), "{e}");
        write("", &b.server_key_pem);
        assert!(!r.reload());
        write(&b.server_cert_pem, "");
        assert!(crate::http::tls::server_config(&cert, &key).unwrap_err().contains("no private key"));
        assert!(!r.reload());
        assert!(Arc::ptr_eq(&first, &r.current()), "still the first after three bad reloads");

        write(&b.server_cert_pem, &b.server_key_pem);
        assert!(r.reload());
        assert!(!Arc::ptr_eq(&first, &r.current()), "new connections get the new config");

        // A first load that fails stops the start.
        std::fs::remove_file(&key).unwrap();
        let (c3, k3) = (cert.clone(), key.clone());
        assert!(Reloadable::new("https", move || crate::http::tls::server_config(&c3, &k3)).is_err());
    }
}
