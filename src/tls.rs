//! Native TLS (`--tls-cert`, `--tls-key`): rustls on aws-lc-rs (the crypto
//! the signing keys use), HTTP/1.1 only, TLS 1.2 and 1.3 with rustls's safe
//! defaults. The certificate chain and key are read from PEM files at start,
//! and again on SIGHUP: a renewed certificate is served to every connection
//! accepted afterwards, connections already open keep theirs, and a reload
//! that fails keeps the one in use (and says why in the log).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both options or neither: one alone is a mistake, never plain HTTP.
    pub fn from_options(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<Self>, String> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("--tls-cert needs --tls-key".to_owned()),
            (None, Some(_)) => Err("--tls-key needs --tls-cert".to_owned()),
        }
    }

    /// A server configuration from the files as they are now. The error
    /// names the file and what is wrong with it, never its content.
    pub fn load(&self) -> Result<ServerConfig, String> {
        let certs = read_certificates(&self.cert)?;
        let key = read_key(&self.key)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                let problem = match e {
                    rustls::Error::InconsistentKeys(_) => {
                        "the key is not the certificate's".to_owned()
                    }
                    e => e.to_string(),
                };
                format!(
                    "--tls-cert {} with --tls-key {}: {problem}",
                    self.cert.display(),
                    self.key.display()
                )
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = || format!("--tls-cert {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", what()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {}", what(), pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", what()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let what = || format!("--tls-key {}", path.display());
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", what()))?;
    if bytes
        .windows(b"BEGIN ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"BEGIN ENCRYPTED PRIVATE KEY")
    {
        return Err(format!(
            "{}: an encrypted key; give grantor the key unencrypted (e.g. `openssl pkey -in KEY -out PLAIN`) and protect the file instead",
            what()
        ));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("{}: no PRIVATE KEY block", what())
        }
        e => format!("{}: {}", what(), pem_problem(&e)),
    })
}

/// What is wrong with a PEM file, without the parser's own message, which
/// may quote the line it read (of a private key, a secret).
fn pem_problem(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a PEM block has no END line",
        Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line",
        Error::Base64Decode(_) => "a PEM block is not valid base64",
        Error::NoItemsFound => "nothing of the expected kind in it",
        Error::SectionTooLarge => "a PEM block is too large",
        _ => "not readable as PEM",
    }
}

/// The TLS configuration connections are accepted with; replaced whole by
/// a reload.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Loads the files; an error stops the server from starting.
    pub fn load(files: TlsFiles) -> Result<Self, String> {
        let config = files.load()?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Reads the files again; on success new connections get the new
    /// certificate, on failure nothing changes.
    pub fn reload(&self) -> Result<(), String> {
        let config = Arc::new(self.files.load()?);
        match self.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// The acceptor for one new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }
}

/// SIGHUPs, received from the moment [`hangups`] was called: installed
/// first thing in `main`, so that a SIGHUP while the server starts (or one
/// sent to a server without TLS) is never the default action, which ends
/// the process.
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

/// Starts receiving SIGHUP (nothing on platforms without it).
pub fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let signal = match signal(SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                // Before the log is set up: straight to standard error.
                eprintln!("grantor: SIGHUP cannot be caught ({e}); it will end the process");
                None
            }
        };
        Hangups { signal }
    }
    #[cfg(not(unix))]
    Hangups {}
}

impl Hangups {
    /// The next SIGHUP; never, when none can be received.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            if signal.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

/// Answers every SIGHUP until aborted: with `tls`, by reloading it; without,
/// by saying in the log that there is nothing to reload.
pub fn spawn_reloader(tls: Option<Arc<Tls>>, mut hangups: Hangups) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            hangups.next().await;
            let Some(tls) = &tls else {
                tracing::info!("SIGHUP: nothing to reload (no --tls-cert)");
                continue;
            };
            let tls = tls.clone();
            // Two small file reads, off the async workers.
            let reloaded = tokio::task::spawn_blocking(move || tls.reload().map(|()| tls)).await;
            match reloaded {
                Ok(Ok(tls)) => tracing::info!(
                    cert = %tls.files.cert.display(),
                    "SIGHUP: TLS certificate reloaded"
                ),
                Ok(Err(e)) => tracing::error!(
                    "SIGHUP: TLS certificate not reloaded, keeping the one in use: {e}"
                ),
                Err(e) => tracing::error!("SIGHUP: the TLS reload failed: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_option_alone_is_refused() {
        let p = || Some(PathBuf::from("x.pem"));
        assert!(TlsFiles::from_options(p(), None).is_err());
        assert!(TlsFiles::from_options(None, p()).is_err());
        assert_eq!(TlsFiles::from_options(None, None), Ok(None));
        assert!(TlsFiles::from_options(p(), p()).unwrap().is_some());
    }

    #[test]
    fn unreadable_or_empty_files_name_the_file_not_the_content() {
        let dir = std::env::temp_dir().join(format!("grantor-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "secret-looking-junk").unwrap();
        let files = TlsFiles {
            cert: junk.clone(),
            key: junk.clone(),
        };
        let error = files.load().unwrap_err();
        assert!(
            error.contains("--tls-cert") && error.contains("junk.pem"),
            "{error}"
        );
        assert!(!error.contains("secret-looking-junk"), "{error}");
        let missing = TlsFiles {
            cert: dir.join("missing.pem"),
            key: junk,
        };
        assert!(missing.load().unwrap_err().contains("missing.pem"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
