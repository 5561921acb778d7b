//! TLS: Vapor's [`SecurityLayer`], and loading its certificate chain and
//! private key into a rustls server configuration.
//!
//! Every adapter serves TLS from the same [`tls_config`], so a missing or bad
//! file gives the same one-line startup error whichever server is chosen. The
//! crypto provider is rustls's `ring`, chosen explicitly: the process-wide
//! default provider is neither read nor installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::error::{Error, ErrorKind};
use crate::protocol::HttpVersion;

/// Vapor's `SecurityLayer`: how bytes on the wire are protected.
///
/// In TOML, `security_layer = "none"` (the default), or TLS with its two PEM files:
///
/// ```
/// let config = handover::Config::from_toml(
///     r#"
///     [http.security_layer.tls]
///     certificate_chain = "/etc/app/cert.pem"
///     private_key = "/etc/app/key.pem"
///     "#,
///     "app.toml",
/// )?;
/// assert!(matches!(config.http.security_layer, handover::config::SecurityLayer::Tls(_)));
/// # Ok::<(), handover::Error>(())
/// ```
///
/// The files are read at start-up, before any inherited fd is adopted, and
/// again by the adapter when it makes the server, so a missing or bad file
/// is a startup error naming it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SecurityLayer {
    /// Plain HTTP.
    #[default]
    None,
    /// TLS (rustls) on every listener, with ALPN offering the versions of
    /// `http.versions` (`h2`, `http/1.1`).
    Tls(TlsConfig),
}

/// Where the certificate chain and private key are, as PEM files.
///
/// In TOML, under `[http.security_layer.tls]`. Relative paths are relative to
/// the working directory of the process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// PEM file with the server certificate first, then any intermediates.
    pub certificate_chain: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub private_key: PathBuf,
}

impl TlsConfig {
    /// A configuration naming the two PEM files.
    pub fn new(certificate_chain: impl Into<PathBuf>, private_key: impl Into<PathBuf>) -> Self {
        TlsConfig {
            certificate_chain: certificate_chain.into(),
            private_key: private_key.into(),
        }
    }
}

fn tls_error(message: String) -> Error {
    Error::new(ErrorKind::Tls, message)
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        tls_error(format!("TLS {what} {}: cannot read it", path.display())).with_source(e)
    })
}

fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no PEM block of the expected kind".to_owned(),
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".to_owned(),
        other => format!("malformed PEM ({other:?})"),
    }
}

/// Reads the certificate chain: every `CERTIFICATE` block, in order.
///
/// # Errors
/// [`ErrorKind::Tls`] naming the file when it cannot be read, is not PEM, or
/// holds no certificate.
fn load_certificate_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read("certificate chain", path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tls_error(format!(
                "TLS certificate chain {}: {}",
                path.display(),
                pem_problem(&e)
            ))
        })?;
    if chain.is_empty() {
        return Err(tls_error(format!(
            "TLS certificate chain {}: no PEM CERTIFICATE block found",
            path.display()
        )));
    }
    Ok(chain)
}

/// Reads the first private key in the file.
///
/// # Errors
/// [`ErrorKind::Tls`] naming the file when it cannot be read, is not PEM, or
/// holds no private key.
fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let problem = match e {
            pem::Error::NoItemsFound => {
                "no PEM private key found (PKCS#8, PKCS#1 RSA or SEC1 EC)".to_owned()
            }
            other => pem_problem(&other),
        };
        tls_error(format!("TLS private key {}: {problem}", path.display()))
    })
}

/// Loads both files into a rustls server configuration with the `ring`
/// provider, TLS 1.2 and 1.3, and no client authentication.
///
/// # Errors
/// [`ErrorKind::Tls`] naming the file at fault: unreadable, not PEM, no
/// certificate or key in it, a key rustls cannot use, or a key that does not
/// match the certificate.
fn server_config(tls: &TlsConfig) -> Result<rustls::ServerConfig, Error> {
    let chain = load_certificate_chain(&tls.certificate_chain)?;
    let key = load_private_key(&tls.private_key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS: no usable protocol version: {e}")))?
        .with_no_client_auth();
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        let message = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "TLS private key {} does not match the certificate in {}",
                tls.private_key.display(),
                tls.certificate_chain.display()
            ),
            other => format!(
                "TLS private key {} with certificate chain {}: {other}",
                tls.private_key.display(),
                tls.certificate_chain.display()
            ),
        };
        tls_error(message)
    })?;
    Ok(config)
}

/// The rustls configuration `layer` asks for: `None` for plain HTTP, the
/// files loaded (the `ring` provider, TLS 1.2 and 1.3, no client
/// authentication) for TLS, with ALPN offering `versions` in their order of
/// preference (rustls picks the first the client also offers). Adapters
/// call this in `make_server` with `http.versions`, so a new security layer
/// is handled here once rather than in every adapter.
///
/// ```no_run
/// use handover::adapter::tls_config;
/// use handover::config::{HttpVersion, SecurityLayer, TlsConfig};
/// let layer = SecurityLayer::Tls(TlsConfig::new("/etc/app/cert.pem", "/etc/app/key.pem"));
/// let config = tls_config(&layer, &HttpVersion::DEFAULT)?.expect("TLS asked for");
/// assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
/// # Ok::<(), handover::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Tls`] naming the file at fault: unreadable, not PEM, no
/// certificate or key in it, a key rustls cannot use, or a key that does not
/// match the certificate.
pub fn tls_config(
    layer: &SecurityLayer,
    versions: &[HttpVersion],
) -> Result<Option<rustls::ServerConfig>, Error> {
    match layer {
        SecurityLayer::None => Ok(None),
        SecurityLayer::Tls(tls) => {
            let mut config = server_config(tls)?;
            config.alpn_protocols = versions.iter().map(|v| v.alpn_id().to_vec()).collect();
            Ok(Some(config))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Self {
            Files {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    fn self_signed() -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (cert.cert.pem(), cert.key_pair.serialize_pem())
    }

    #[test]
    fn loads_a_matching_pair_with_alpn_from_the_versions() {
        let files = Files::new();
        let (cert, key) = self_signed();
        let tls = TlsConfig::new(files.write("c.pem", &cert), files.write("k.pem", &key));
        let layer = SecurityLayer::Tls(tls);
        let alpn = |versions: &[HttpVersion]| {
            tls_config(&layer, versions)
                .unwrap()
                .map(|c| c.alpn_protocols)
        };
        assert_eq!(
            alpn(&HttpVersion::DEFAULT),
            Some(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        );
        assert_eq!(
            alpn(&[HttpVersion::Http1]),
            Some(vec![b"http/1.1".to_vec()])
        );
        assert_eq!(
            alpn(&[HttpVersion::Http1, HttpVersion::Http2]),
            Some(vec![b"http/1.1".to_vec(), b"h2".to_vec()])
        );
        assert!(tls_config(&SecurityLayer::None, &HttpVersion::DEFAULT)
            .unwrap()
            .is_none());
    }

    #[test]
    fn every_bad_file_is_named_on_one_line() {
        let files = Files::new();
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let good_cert = files.write("cert.pem", &cert);
        let good_key = files.write("key.pem", &key);
        let missing = files.dir.path().join("missing.pem");
        let garbage = files.write("garbage.pem", "not pem at all\n");
        let truncated = files.write(
            "truncated.pem",
            &cert[..cert.find("-----END").unwrap_or(cert.len())],
        );
        let wrong_key = files.write("other-key.pem", &other_key);
        let cases = [
            (
                &missing,
                &good_key,
                "TLS certificate chain",
                "cannot read it",
            ),
            (&good_cert, &missing, "TLS private key", "cannot read it"),
            (&garbage, &good_key, "TLS certificate chain", "no PEM"),
            (&truncated, &good_key, "TLS certificate chain", "END"),
            (
                &good_cert,
                &garbage,
                "TLS private key",
                "no PEM private key",
            ),
            (
                &good_cert,
                &good_cert,
                "TLS private key",
                "no PEM private key",
            ),
            (&good_cert, &wrong_key, "does not match", "cert.pem"),
        ];
        for (c, k, what, problem) in cases {
            let e = server_config(&TlsConfig::new(c, k)).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.kind(), ErrorKind::Tls);
            assert!(msg.starts_with("TLS "), "{msg}");
            assert!(msg.contains(what) && msg.contains(problem), "{msg}");
            let named = if what.contains("chain") { c } else { k };
            assert!(msg.contains(&named.display().to_string()), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }
}
