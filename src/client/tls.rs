//! TLS for `https://` base URLs: rustls (ring provider, no OpenSSL), driven sans-I/O so that the
//! ciphertext is read by the connection's own `recvmsg` (`super::conn`) and every read keeps
//! its kernel receive timestamp.
//!
//! - Trust: Mozilla's roots as compiled into `webpki-roots` (the same on every machine, whatever
//!   the system's store holds), plus every certificate of `--ca-cert FILE` (PEM) — a private CA
//!   is trusted in addition to them. `--insecure` accepts any certificate (the handshake's
//!   signatures are still checked, so the peer holds the key of the certificate it sent).
//! - ALPN offers `http/1.1` only; SNI is the URL's host name (none for an IP address, whose
//!   certificate must then name the address).
//! - Sessions are resumed as rustls does by default (TLS 1.3 tickets kept in memory), so later
//!   connections to the same server may take an abbreviated handshake; the results count both.
//!
//! Failures are requests failed with kinds of their own: `tls_certificate` (the server's
//! certificate was not accepted), `tls_alert` (the server sent a fatal alert) and
//! `tls_handshake` (any other handshake failure: not TLS, no common version or cipher, closed
//! during the handshake).
//!
//! Cost note: rustls 0.23 copies the plaintext of every received application-data record into a
//! `Vec` of its own before it can be read (the buffered and the unbuffered API alike), i.e. one
//! allocation per TLS record — per token when the server writes each token in its own record.
//! That allocation is inside rustls; nothing on modelbench's side of the read path allocates.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The only application protocol offered (ALPN).
pub const ALPN: &[u8] = b"http/1.1";

/// Errors in the TLS flags, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("--ca-cert {path}: {message}")]
    CaCert { path: String, message: String },
    #[error("{flag}: only for https:// base URLs (this one is plain http)")]
    NotHttps { flag: &'static str },
}

/// The resolved TLS flags of a run (`--ca-cert`, `--insecure`).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// The `--ca-cert` file, as given.
    pub ca_cert: Option<PathBuf>,
    /// Its certificates, trusted in addition to the bundled roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// `--insecure`: no verification of the server's certificate.
    pub insecure: bool,
}

impl TlsSettings {
    /// Reads `--ca-cert` (every PEM certificate in it; at least one) and checks that the flags
    /// fit the URL's scheme.
    pub fn load(
        ca_cert: Option<&Path>,
        insecure: bool,
        https: bool,
    ) -> Result<TlsSettings, TlsSetupError> {
        if !https {
            if ca_cert.is_some() {
                return Err(TlsSetupError::NotHttps { flag: "--ca-cert" });
            }
            if insecure {
                return Err(TlsSetupError::NotHttps { flag: "--insecure" });
            }
        }
        let mut extra_roots = Vec::new();
        if let Some(path) = ca_cert {
            let err = |message: String| TlsSetupError::CaCert {
                path: path.display().to_string(),
                message,
            };
            let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
            if !meta.is_file() || meta.len() > 16 << 20 {
                return Err(err("not a regular file of at most 16 MiB".into()));
            }
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
            let mut store = RootCertStore::empty();
            for c in certs {
                let c = c.map_err(|e| err(format!("not a PEM certificate file ({e})")))?;
                store
                    .add(c.clone())
                    .map_err(|e| err(format!("a certificate that cannot be trusted: {e}")))?;
                extra_roots.push(c);
            }
            if extra_roots.is_empty() {
                return Err(err(
                    "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
                ));
            }
        }
        Ok(TlsSettings {
            ca_cert: ca_cert.map(Path::to_path_buf),
            extra_roots,
            insecure,
        })
    }

    /// What `run_info.tls` records about the verification (the session's details are added by
    /// the client once a handshake is done).
    pub fn verification(&self) -> &'static str {
        match (self.insecure, self.extra_roots.is_empty()) {
            (true, _) => "none (--insecure)",
            (false, true) => "webpki-roots",
            (false, false) => "webpki-roots + --ca-cert",
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration of a client (one per run, shared by every connection).
pub fn client_config(s: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = if s.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for c in &s.extra_roots {
            roots.add(c.clone())?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(cfg))
}

/// A reqwest client builder for the side channels of a run (the `/metrics` scrape, `/version`,
/// `/v1/models`): with the run's TLS settings (`--ca-cert`, `--insecure`, the same roots as the
/// measuring client), so an `https://` server is reached the same way; never through a proxy.
pub fn side_client(s: &TlsSettings) -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder().no_proxy();
    match client_config(s) {
        Ok(cfg) => b.use_preconfigured_tls((*cfg).clone()),
        // An unusable configuration fails the measuring client first, with its own message.
        Err(_) => b,
    }
}

/// `--insecure`: any certificate is accepted; the handshake's signatures are still verified.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

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
        verify_tls12_signature(
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
        verify_tls13_signature(
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

/// What every connection of a client needs to start a session.
#[derive(Clone)]
pub struct TlsContext {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl TlsContext {
    /// `host` as in the URL (an IPv6 address in brackets is accepted).
    pub fn new(settings: &TlsSettings, host: &str) -> Result<TlsContext, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned())
            .map_err(|e| format!("{host:?} is not a TLS server name ({e})"))?;
        let config = client_config(settings).map_err(|e| format!("TLS setup failed: {e}"))?;
        Ok(TlsContext {
            config,
            server_name,
        })
    }
}

/// Which TLS failure a request had (each its own error kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailKind {
    Certificate,
    Handshake,
    Alert,
}

/// A TLS failure, carried inside an `io::Error` on the read path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TlsFailure {
    pub kind: TlsFailKind,
    pub message: String,
}

impl TlsFailure {
    /// Classifies an error of rustls; `during_handshake` adds what to try.
    pub fn of(e: &rustls::Error, during_handshake: bool) -> TlsFailure {
        use rustls::Error as E;
        let (kind, message) = match e {
            E::InvalidCertificate(c) => (
                TlsFailKind::Certificate,
                format!(
                    "the server's TLS certificate was not accepted: {c} (a private CA: --ca-cert FILE; no verification: --insecure)"
                ),
            ),
            E::AlertReceived(a) => (
                TlsFailKind::Alert,
                format!(
                    "the server sent the TLS alert {a:?}{}",
                    if during_handshake { " during the handshake" } else { "" }
                ),
            ),
            E::InvalidMessage(m) if during_handshake => (
                TlsFailKind::Handshake,
                format!("TLS handshake failed: the server's answer is not TLS ({m:?}); is it plain HTTP (http://)?"),
            ),
            other if during_handshake => (
                TlsFailKind::Handshake,
                format!("TLS handshake failed: {other}"),
            ),
            other => (TlsFailKind::Handshake, format!("TLS error: {other}")),
        };
        TlsFailure { kind, message }
    }

    /// The TLS failure inside an I/O error of the read path, if it is one.
    pub fn in_io(e: &io::Error) -> Option<&TlsFailure> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<TlsFailure>())
    }
}

/// One connection's TLS state: the rustls session and its ciphertext buffers (both reused).
pub struct Session {
    pub conn: ClientConnection,
    /// Ciphertext of the latest read (handed to rustls at once, so never holding leftovers).
    pub cipher: Vec<u8>,
    /// Ciphertext waiting to be written.
    pub out: Vec<u8>,
    /// rustls reported the end of the plaintext stream (close_notify, or the TCP end).
    pub eof: bool,
}

/// Ciphertext read per `recvmsg` on a TLS connection (a little over one full record).
const CIPHER_BUF: usize = 17 * 1024;

impl Session {
    pub fn new(ctx: &TlsContext) -> Result<Session, rustls::Error> {
        Ok(Session {
            conn: ClientConnection::new(ctx.config.clone(), ctx.server_name.clone())?,
            cipher: vec![0; CIPHER_BUF],
            out: Vec::with_capacity(4096),
            eof: false,
        })
    }

    /// Moves the ciphertext rustls wants to send into `out` (sent by the caller).
    pub fn take_output(&mut self) -> io::Result<()> {
        self.out.clear();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.out)?;
        }
        Ok(())
    }

    /// Encrypts as much of `plain` as rustls buffers now; returns the bytes taken.
    pub fn encrypt(&mut self, plain: &[u8]) -> io::Result<usize> {
        self.conn.writer().write(plain)
    }

    /// Hands the first `n` bytes of `cipher` to rustls (`n` = 0: the TCP end) and moves the
    /// plaintext they complete to `sink`; returns the plaintext bytes moved. A TLS error (a bad
    /// record, an alert) is an `io::Error` holding a [`TlsFailure`].
    pub fn absorb(
        &mut self,
        n: usize,
        mut sink: impl FnMut(&mut dyn Read) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let Session {
            conn, cipher, eof, ..
        } = self;
        let handshaking = conn.is_handshaking();
        let mut data = &cipher[..n];
        let mut moved = 0;
        if n == 0 {
            // rustls then reports a clean close (close_notify seen) or a truncation.
            let _ = conn.read_tls(&mut data);
            *eof = true;
        }
        loop {
            if !data.is_empty() {
                conn.read_tls(&mut data)?;
            }
            conn.process_new_packets()
                .map_err(|e| io::Error::other(TlsFailure::of(&e, handshaking)))?;
            moved += drain(conn, eof, &mut sink)?;
            if data.is_empty() {
                return Ok(moved);
            }
        }
    }

    /// Moves the plaintext rustls holds to `sink` (which must offer room); returns the bytes
    /// moved.
    pub fn drain(
        &mut self,
        sink: &mut impl FnMut(&mut dyn Read) -> io::Result<usize>,
    ) -> io::Result<usize> {
        drain(&mut self.conn, &mut self.eof, sink)
    }
}

fn drain(
    conn: &mut ClientConnection,
    eof: &mut bool,
    sink: &mut impl FnMut(&mut dyn Read) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut moved = 0;
    loop {
        match sink(&mut conn.reader()) {
            Ok(0) => {
                *eof = true;
                return Ok(moved);
            }
            Ok(k) => moved += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(moved),
            // The TCP end without close_notify: the end of the stream all the same (whether
            // the body was complete is for the HTTP framing to say).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                *eof = true;
                return Ok(moved);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_fit_the_scheme_and_the_ca_file_is_checked() {
        let e = TlsSettings::load(None, true, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--insecure") && e.contains("https"), "{e}");
        let e = TlsSettings::load(Some(Path::new("x.pem")), false, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ca-cert"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = TlsSettings::load(Some(&missing), false, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--ca-cert ") && e.contains("missing.pem"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = TlsSettings::load(Some(&empty), false, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no certificate"), "{e}");
        let s = TlsSettings::load(None, false, true).unwrap();
        assert_eq!(s.verification(), "webpki-roots");
        assert!(client_config(&s).is_ok());
    }

    #[test]
    fn server_names_from_hosts() {
        let s = TlsSettings::default();
        assert!(TlsContext::new(&s, "example.com").is_ok());
        assert!(TlsContext::new(&s, "127.0.0.1").is_ok());
        assert!(TlsContext::new(&s, "[::1]").is_ok());
    }

    #[test]
    fn errors_are_classified() {
        use rustls::{AlertDescription, CertificateError, Error};
        let c = TlsFailure::of(
            &Error::InvalidCertificate(CertificateError::UnknownIssuer),
            true,
        );
        assert_eq!(c.kind, TlsFailKind::Certificate);
        assert!(c.message.contains("--ca-cert"), "{}", c.message);
        let a = TlsFailure::of(
            &Error::AlertReceived(AlertDescription::HandshakeFailure),
            true,
        );
        assert_eq!(a.kind, TlsFailKind::Alert);
        let h = TlsFailure::of(&Error::HandshakeNotComplete, true);
        assert_eq!(h.kind, TlsFailKind::Handshake);
        let io = io::Error::other(a.clone());
        assert_eq!(
            TlsFailure::in_io(&io).map(|f| f.kind),
            Some(TlsFailKind::Alert)
        );
    }
}
