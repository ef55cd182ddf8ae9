//! Checking a TLS service the way its clients do: over any byte stream (an SSH tunnel from a
//! member, for `kubewiz diagnose`), with the cluster directory's CA and a client certificate,
//! for an IP address as server name. The certificate the service presents is recorded whether
//! or not it verifies, so the caller can say what it names instead of only "handshake failed".

use super::inspect::{parse_cert_der, CertInfo};
use anyhow::{anyhow, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// Why the presented certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// It does not name the address that was dialled.
    NotValidForAddress,
    /// Not signed by the CA (another CA, or self-signed).
    UnknownCa,
    /// Expired or not yet valid.
    Expired,
    Other(String),
}

/// What one check saw.
#[derive(Debug, Clone)]
pub struct TlsCheck {
    /// The service's own certificate, as presented (None: no handshake got that far).
    pub presented: Option<CertInfo>,
    /// None: the presented certificate verified against the CA for the address.
    pub rejected: Option<Rejection>,
    /// The TLS or I/O error that ended the exchange, if any (after a verified certificate this is
    /// the server refusing us, e.g. etcd's peer port checking the client certificate's SANs).
    pub error: Option<String>,
    /// The HTTP response body, when a request was made and answered.
    pub body: Option<String>,
}

/// The CA and client identity a check presents; the key stays in memory, never in a message.
pub struct ClientIdentity {
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// What the verifier saw: the end-entity certificate and its verdict.
type Seen = Arc<Mutex<Option<(Vec<u8>, Option<Rejection>)>>>;

impl ClientIdentity {
    /// From PEM files: the CA that must have signed the service, and a client certificate + key.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<ClientIdentity> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca) {
            roots
                .add(c.context("reading the CA certificate")?)
                .context("adding the CA certificate")?;
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .context("building the certificate verifier")?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .context("reading the client certificate")?;
        // The key's own error would quote nothing of it, but say only which file role failed.
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|_| anyhow!("reading the client key"))?;
        Ok(ClientIdentity {
            provider,
            verifier,
            chain,
            key,
        })
    }

    /// One configuration per check, so checks running at once each record their own view.
    fn config(&self, seen: Seen) -> Result<Arc<ClientConfig>, String> {
        let verifier = Arc::new(Recording {
            inner: self.verifier.clone(),
            seen,
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| format!("using the client certificate: {e}"))?;
        Ok(Arc::new(config))
    }

    /// Handshake with the service at `ip` over `stream`; with `request_path`, then
    /// `GET request_path` and read the body. Bounded by `deadline` as a whole.
    pub async fn check<S>(
        &self,
        stream: S,
        ip: IpAddr,
        request_path: Option<&str>,
        deadline: Duration,
    ) -> TlsCheck
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let seen: Seen = Arc::new(Mutex::new(None));
        let exchange = async {
            let config = self.config(seen.clone())?;
            self.exchange(config, stream, ip, request_path).await
        };
        let (error, body) = match tokio::time::timeout(deadline, exchange).await {
            Ok(Ok(body)) => (None, body),
            Ok(Err(e)) => (Some(e), None),
            Err(_) => (Some(format!("no TLS answer within {deadline:?}")), None),
        };
        let seen = seen.lock().expect("not poisoned").take();
        let (presented, rejected) = match seen {
            Some((der, rejected)) => (parse_cert_der(&der).ok(), rejected),
            None => (None, None),
        };
        TlsCheck {
            presented,
            rejected,
            error,
            body,
        }
    }

    async fn exchange<S>(
        &self,
        config: Arc<ClientConfig>,
        stream: S,
        ip: IpAddr,
        request_path: Option<&str>,
    ) -> Result<Option<String>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let connector = TlsConnector::from(config);
        let mut tls = connector
            .connect(ServerName::IpAddress(ip.into()), stream)
            .await
            .map_err(|e| e.to_string())?;
        let Some(path) = request_path else {
            // TLS 1.3: the server judges our certificate after our side is done; read once so
            // its verdict (an alert) arrives, or nothing does within a moment.
            let mut b = [0u8; 1];
            return match tokio::time::timeout(Duration::from_millis(500), tls.read(&mut b)).await {
                Ok(Err(e)) => Err(e.to_string()),
                _ => Ok(None),
            };
        };
        let host = match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        // A server may close without close_notify: what was read counts.
        let read = tls.read_to_end(&mut resp).await;
        if resp.is_empty() {
            read.map_err(|e| e.to_string())?;
        }
        let text = String::from_utf8_lossy(&resp);
        Ok(Some(
            text.split_once("\r\n\r\n")
                .map(|(_, body)| body.trim().to_string())
                .unwrap_or_default(),
        ))
    }
}

/// Delegates to webpki and records the end-entity certificate and its verdict.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Seen,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let rejection = verdict.as_ref().err().map(classify);
        *self.seen.lock().expect("not poisoned") = Some((end_entity.to_vec(), rejection));
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn classify(e: &rustls::Error) -> Rejection {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Rejection::NotValidForAddress
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                Rejection::UnknownCa
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Rejection::Expired,
            other => Rejection::Other(format!("{other:?}")),
        },
        other => Rejection::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, IsCa, KeyPair, SanType};

    fn ca() -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "test-ca");
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (p.self_signed(&key).unwrap(), key)
    }

    fn leaf(ca: &(rcgen::Certificate, KeyPair), ips: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = ips
            .iter()
            .map(|ip| SanType::IpAddress(ip.parse().unwrap()))
            .collect();
        let issuer = rcgen::Issuer::from_ca_cert_der(ca.0.der(), &ca.1).unwrap();
        (
            p.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }

    /// A real rustls server on a loopback pair of streams, presenting `cert`.
    async fn serve(cert: &str, key: &str, client: &ClientIdentity, ip: &str) -> TlsCheck {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            if let Ok(mut s) = acceptor.accept(b).await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"health\":\"true\"}",
                    )
                    .await;
                let _ = s.shutdown().await;
            }
        });
        let r = client
            .check(
                a,
                ip.parse().unwrap(),
                Some("/health"),
                Duration::from_secs(5),
            )
            .await;
        let _ = server.await;
        r
    }

    #[tokio::test]
    async fn a_certificate_for_the_address_verifies_and_the_body_is_read() {
        let ca = ca();
        let (cert, key) = leaf(&ca, &["10.77.0.13"]);
        let (ccert, ckey) = leaf(&ca, &["127.0.0.1"]);
        let id = ClientIdentity::from_pem(ca.0.pem().as_bytes(), ccert.as_bytes(), ckey.as_bytes())
            .unwrap();
        let r = serve(&cert, &key, &id, "10.77.0.13").await;
        assert_eq!(r.rejected, None, "{r:?}");
        assert!(
            r.body
                .as_deref()
                .unwrap_or("")
                .contains("\"health\":\"true\""),
            "{r:?}"
        );
        assert!(r.presented.is_some());
    }

    #[tokio::test]
    async fn a_certificate_without_the_address_is_rejected_and_its_names_kept() {
        let ca = ca();
        let (cert, key) = leaf(&ca, &["10.77.0.99"]);
        let (ccert, ckey) = leaf(&ca, &["127.0.0.1"]);
        let id = ClientIdentity::from_pem(ca.0.pem().as_bytes(), ccert.as_bytes(), ckey.as_bytes())
            .unwrap();
        let r = serve(&cert, &key, &id, "10.77.0.13").await;
        assert_eq!(r.rejected, Some(Rejection::NotValidForAddress), "{r:?}");
        let sans: Vec<String> = r
            .presented
            .unwrap()
            .sans
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(sans, ["IP 10.77.0.99"]);
        assert!(r.body.is_none());
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_is_rejected_as_such() {
        let (ca1, ca2) = (ca(), ca());
        let (cert, key) = leaf(&ca2, &["10.77.0.13"]);
        let (ccert, ckey) = leaf(&ca1, &["127.0.0.1"]);
        let id =
            ClientIdentity::from_pem(ca1.0.pem().as_bytes(), ccert.as_bytes(), ckey.as_bytes())
                .unwrap();
        let r = serve(&cert, &key, &id, "10.77.0.13").await;
        assert_eq!(r.rejected, Some(Rejection::UnknownCa), "{r:?}");
    }
}
