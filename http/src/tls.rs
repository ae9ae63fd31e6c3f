//! TLS for a server that faces the internet without a CDN in front: a certificate
//! chain and key from PEM files, reloaded in place (SIGHUP) without dropping a
//! connection — new handshakes get the new certificate, open connections keep
//! theirs. rustls with the aws-lc-rs provider, the stack reqwest already uses.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key could not be used; names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file holds no usable certificate.
    #[error("--tls-cert {path}: {why} (a PEM file with the certificate chain, leaf first)")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The key file holds no usable private key, or not the certificate's.
    #[error("--tls-key {path}: {why} (a PEM file with the certificate's private key: PKCS#8, PKCS#1 or SEC1)")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

/// The server's certificate, swappable while it serves.
#[derive(Debug)]
pub struct ReloadableCertificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCertificate {
    /// Reads the two PEM files; an error names the file and what to give instead.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certified = read(cert, key, &provider)?;
        Ok(Arc::new(ReloadableCertificate {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(certified)),
        }))
    }

    /// Reads the files again and serves the new certificate to new handshakes; on an
    /// error the old one stays (a half-written file never takes the server down).
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read(&self.cert, &self.key, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(certified);
        }
        Ok(())
    }

    /// An acceptor whose handshakes use the certificate current at each handshake (HTTP/1.1 by ALPN).
    pub fn acceptor(self: &Arc<Self>) -> tokio_rustls::TlsAcceptor {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the provider supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_error = |why: String| TlsError::Certificate { path: cert.to_owned(), why };
    let key_error = |why: String| TlsError::Key { path: key.to_owned(), why };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block".to_owned()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| key_error(e.to_string()))?;
    let signing = provider.key_provider.load_private_key(private).map_err(|e| key_error(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| key_error(format!("not the certificate's key ({e})")))?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn bad_files_are_refused_by_name_and_a_failed_reload_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "one.test");
        let (_, other_key) = pair(dir.path(), "two.test");
        let loaded = ReloadableCertificate::load(&cert, &key).unwrap();
        let mismatched = ReloadableCertificate::load(&cert, &other_key).unwrap_err().to_string();
        assert!(mismatched.contains("--tls-key") && mismatched.contains("not the certificate's key"), "{mismatched}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a pem").unwrap();
        let error = ReloadableCertificate::load(&garbage, &key).unwrap_err().to_string();
        assert!(error.contains("--tls-cert") && error.contains("garbage.pem"), "{error}");
        let missing = ReloadableCertificate::load(&cert, &dir.path().join("none.key")).unwrap_err().to_string();
        assert!(missing.contains("none.key"), "{missing}");

        let before = loaded.current.read().unwrap().cert.clone();
        std::fs::write(&cert, "half-written").unwrap();
        assert!(loaded.reload().is_err());
        assert_eq!(loaded.current.read().unwrap().cert, before, "a failed reload replaced the certificate");
        let (new_cert, new_key) = pair(dir.path(), "three.test");
        std::fs::rename(new_cert, &cert).unwrap();
        std::fs::rename(new_key, &key).unwrap();
        loaded.reload().unwrap();
        assert_ne!(loaded.current.read().unwrap().cert, before, "the reload took the new certificate");
    }
}

#[cfg(test)]
mod served {
    use std::sync::Arc;

    use axum::routing::get;
    use axum::Router;
    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn pair(dir: &Path, n: u32) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join(format!("{n}.crt")), dir.join(format!("{n}.key")));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key, made.cert.der().clone())
    }

    /// A client that trusts exactly `trusted`.
    fn connector(trusted: &[CertificateDer<'static>]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in trusted {
            roots.add(c.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn ask<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) -> String {
        stream.write_all(b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Served over TLS; a reload serves the new certificate to new connections while an
    /// open connection keeps answering on the old one (nothing dropped).
    #[tokio::test]
    async fn a_reload_serves_the_new_certificate_to_new_connections_and_drops_none() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, first) = pair(dir.path(), 1);
        let certificate = ReloadableCertificate::load(&cert, &key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/ok", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve_with_tls(
            listener,
            app,
            Default::default(),
            Some(certificate.acceptor()),
            async move {
                let _ = stopped.await;
            },
            || {},
        ));
        let name = ServerName::try_from("localhost").unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut open = connector(std::slice::from_ref(&first)).connect(name.clone(), tcp).await.unwrap();
        assert!(ask(&mut open).await.starts_with("HTTP/1.1 200"));
        // Plain HTTP on the TLS port is no request.
        let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
        plain.write_all(b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = plain.read(&mut buf).await.unwrap_or(0);
        assert!(!String::from_utf8_lossy(&buf[..n]).contains("200"), "plain HTTP was served over the TLS port");

        let (new_cert, new_key, second) = pair(dir.path(), 2);
        std::fs::rename(new_cert, &cert).unwrap();
        std::fs::rename(new_key, &key).unwrap();
        certificate.reload().unwrap();
        assert!(ask(&mut open).await.starts_with("HTTP/1.1 200"), "the open connection was dropped by the reload");
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let refused = connector(std::slice::from_ref(&first)).connect(name.clone(), tcp).await;
        assert!(refused.is_err(), "a new connection still got the old certificate");
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut fresh = connector(&[second]).connect(name, tcp).await.unwrap();
        assert!(ask(&mut fresh).await.starts_with("HTTP/1.1 200"));
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}
