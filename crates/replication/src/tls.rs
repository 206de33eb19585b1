//! rustls client configurations for the `sslmode`s walcast supports.
//!
//! `require` encrypts without checking who answers (libpq's meaning, kept for
//! compatibility with managed databases that hand out self-signed
//! certificates); `verify-full` checks the chain against `sslrootcert` (or
//! the bundled Mozilla roots) and the host name.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ConnectionConfig, SslMode};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// `sslrootcert` could not be read.
    #[error("cannot read sslrootcert {path}: {source}")]
    RootCert {
        /// The configured path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `sslrootcert` holds no usable certificate.
    #[error("sslrootcert {0} holds no usable certificate")]
    NoCertificates(String),
}

/// The client configuration for `config.ssl_mode`, or `None` for `disable`.
pub(crate) fn client_config(
    config: &ConnectionConfig,
) -> Result<Option<Arc<ClientConfig>>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let tls = match config.ssl_mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(root_store(config)?)
            .with_no_client_auth(),
    };
    Ok(Some(Arc::new(tls)))
}

fn root_store(config: &ConnectionConfig) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    let Some(path) = &config.ssl_root_cert else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsConfigError::RootCert {
        path: shown.clone(),
        source,
    })?;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
        // A certificate rustls cannot parse is skipped; an empty store is an error below.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(TlsConfigError::NoCertificates(shown));
    }
    Ok(roots)
}

/// Verifies signatures (so the handshake is sound) but trusts any
/// certificate: the `sslmode=require` contract.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
