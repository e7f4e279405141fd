//! Throw-away TLS certificates (rcgen) for the native TLS tests: written to
//! PEM files a server is started with, and a client that trusts only them.

use std::path::PathBuf;

/// A self-signed certificate for `127.0.0.1` and `localhost`, with its key,
/// as PEM files in a temporary directory (removed on drop).
pub struct TestCertificate {
    dir: tempfile::TempDir,
    /// `cert.pem` and `key.pem` in `dir`: what the server is given.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate as DER, to compare with what a server presents.
    pub der: Vec<u8>,
    pem: String,
}

impl TestCertificate {
    pub fn new() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("a self-signed certificate");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let pem = generated.cert.pem();
        std::fs::write(&cert, &pem).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            der: generated.cert.der().to_vec(),
            pem,
        }
    }

    /// `--tls-cert` and `--tls-key` for this certificate.
    pub fn files(&self) -> grantor::tls::TlsFiles {
        grantor::tls::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// Writes `other`'s certificate and key over this one's files, as a
    /// renewal does (the server's paths stay the same).
    pub fn replace_files_with(&self, other: &TestCertificate) {
        // Written beside and renamed, so a reader never sees half a file.
        for (from, to) in [(&other.cert, &self.cert), (&other.key, &self.key)] {
            let staged = self.dir.path().join("staged.pem");
            std::fs::copy(from, &staged).unwrap();
            std::fs::rename(&staged, to).unwrap();
        }
    }

    /// A client that trusts this certificate alone (not the system's roots),
    /// records the certificate each server presents (`tls_info`), follows no
    /// redirect and keeps cookies, as the suite's client does.
    pub fn client(&self) -> reqwest::Client {
        super::tls();
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("https client")
    }
}

/// The certificate `response` was served with (its leaf, DER).
pub fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the response came over TLS")
        .to_vec()
}
