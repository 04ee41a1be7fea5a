//! HTTPS with rustls: TLS 1.2 and 1.3 only, with rustls's default cipher
//! suites (forward-secret AEAD only; OWASP TLS cheat sheet), HTTP/2 and
//! HTTP/1.1 by ALPN. The certificate and key are PEM files, read at start
//! and again on SIGHUP, so a renewed certificate (Let's Encrypt) is taken
//! without a restart: new connections get it, open ones keep theirs.
//!
//! The certificate also says which hosts this server is: the HTTPS redirect
//! sends browsers only to a host it names ([`Certificates::names`]), read
//! from the certificate in use, so a reload brings its names along.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use arc_swap::ArcSwap;
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;

/// Why the certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the TLS key {key} does not belong to the certificate {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads the configured files; fails if they do not make a usable pair.
    pub fn load(settings: &TlsSettings) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(&settings.cert, &settings.key, &provider)?;
        Ok(Arc::new(Self {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            provider,
            current: ArcSwap::from_pointee(current),
        }))
    }

    /// Reads the files again. On failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read_pair(&self.cert, &self.key, &self.provider)?;
        self.current.store(Arc::new(fresh));
        Ok(())
    }

    /// Whether the certificate in use names `host` (a DNS name, an IP
    /// address, or an IPv6 address in brackets), by the rules a TLS client
    /// applies: its DNS and IP subject alternative names, wildcards
    /// included (webpki, RFC 6125).
    pub fn names(&self, host: &str) -> bool {
        // Brackets hold an IPv6 address, and nothing else (RFC 3986 3.2.2).
        let name = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => match inner.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => ServerName::from(std::net::IpAddr::V6(ip)),
                Err(_) => return false,
            },
            None => match ServerName::try_from(host) {
                Ok(name) => name,
                Err(_) => return false,
            },
        };
        let current = self.current.load();
        let Some(der) = current.cert.first() else {
            return false;
        };
        webpki::EndEntityCert::try_from(der)
            .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
    }

    /// The acceptor for the public listener.
    pub fn acceptor(self: &Arc<Self>) -> TlsAcceptor {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("it holds no PEM certificate".to_owned()));
    }
    let key_error = |reason: String| TlsError::Key {
        path: key.to_owned(),
        reason,
    };
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| key_error(e.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| key_error(e.to_string()))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            })
        }
        // `Unknown`: the key cannot tell its public half; the handshake
        // will show a mismatch.
        _ => Ok(pair),
    }
}

/// Reloads the certificate (at a SIGHUP), and says how it went in the log.
pub fn reload_logged(certificates: &Certificates) {
    match certificates.reload() {
        Ok(()) => tracing::info!(cert = %certificates.cert.display(), "TLS certificate reloaded"),
        Err(err) => {
            tracing::error!(error = %err, "TLS certificate reload failed; the previous certificate stays in use")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificates_for(names: &[&str], dir: &Path) -> Arc<Certificates> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let generated = rcgen::generate_simple_self_signed(names).unwrap();
        let settings = TlsSettings {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            redirect_http_from: None,
            hsts_max_age: crate::config::ConfigDuration::from_secs(86_400),
        };
        std::fs::write(&settings.cert, generated.cert.pem()).unwrap();
        std::fs::write(&settings.key, generated.signing_key.serialize_pem()).unwrap();
        Certificates::load(&settings).unwrap()
    }

    #[test]
    fn names_are_the_certificates_subject_alternative_names() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates_for(
            &["api.example.test", "*.apps.example.test", "192.0.2.1", "::1"],
            dir.path(),
        );
        for named in [
            "api.example.test",
            "API.Example.Test",
            "one.apps.example.test",
            "192.0.2.1",
            "::1",
            "[::1]",
        ] {
            assert!(certificates.names(named), "{named}");
        }
        for other in [
            "evil.example",
            "example.test",
            "apps.example.test",
            "a.b.apps.example.test",
            "api.example.test.evil.example",
            "192.0.2.2",
            "127.0.0.1",
            "[192.0.2.1]",
            "",
            "api.example.test:443",
        ] {
            assert!(!certificates.names(other), "{other}");
        }
    }

    #[test]
    fn a_reload_brings_the_new_certificates_names() {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates_for(&["old.example.test"], dir.path());
        assert!(certificates.names("old.example.test"));
        certificates_for(&["new.example.test"], dir.path());
        certificates.reload().unwrap();
        assert!(certificates.names("new.example.test"));
        assert!(!certificates.names("old.example.test"));
    }
}
