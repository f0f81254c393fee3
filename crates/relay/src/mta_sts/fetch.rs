//! Fetching a policy (RFC 8461 §3.3): HTTPS GET `https://mta-sts.<domain>/.well-known/mta-sts.txt`,
//! the certificate verified against the same roots as `TlsPolicy::Required` (bundled web PKI
//! plus the configured extra roots) and the host name, no redirects, `200` and `text/plain`
//! only, at most 64 KiB, the whole fetch within a timeout.
//!
//! `mta-sts.<domain>` is resolved by the relay's resolver; the port is configurable for tests.
//!
//! # Layout
//! - [`Fetcher`]: the connector, the port and the timeout.
//! - [`FetchError`]: why a fetch failed.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::http::{self, HttpError, MAX_BODY, MAX_HEAD};
use crate::resolver::{DnsError, Resolver};

/// Why a policy could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// `mta-sts.<domain>` has no address, or the lookup failed.
    #[error("cannot resolve {0}: {1}")]
    Dns(String, DnsError),
    /// Connecting, the TLS handshake (certificate verification included) or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The response is not a usable policy response.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The body is not UTF-8.
    #[error("policy is not UTF-8")]
    NotText,
    /// The fetch took longer than its timeout.
    #[error("timed out")]
    Timeout,
    /// The host name is not a valid TLS server name.
    #[error("invalid policy host {0}")]
    Name(String),
}

/// Fetches policies over verified HTTPS.
#[derive(Clone)]
pub struct Fetcher {
    connector: TlsConnector,
    port: u16,
    timeout: Duration,
}

impl Fetcher {
    /// A fetcher verifying with `connector` (the relay's verifying one), contacting `port`
    /// (443 outside tests), each fetch bounded by `timeout`.
    pub fn new(connector: TlsConnector, port: u16, timeout: Duration) -> Self {
        Self {
            connector,
            port,
            timeout,
        }
    }

    /// The policy text of `domain`, trying each address of `mta-sts.<domain>` in turn.
    ///
    /// # Errors
    /// A [`FetchError`]: the last address's failure when none served the policy.
    pub async fn fetch(&self, resolver: &dyn Resolver, domain: &str) -> Result<String, FetchError> {
        let host = format!("mta-sts.{domain}");
        let ips = match resolver.ips(&host).await {
            Ok(ips) if !ips.is_empty() => ips,
            Ok(_) => return Err(FetchError::Dns(host, DnsError::NotFound)),
            Err(e) => return Err(FetchError::Dns(host, e)),
        };
        let name =
            ServerName::try_from(host.clone()).map_err(|_| FetchError::Name(host.clone()))?;
        let mut last = FetchError::Timeout;
        for ip in ips {
            let addr = SocketAddr::new(ip, self.port);
            match tokio::time::timeout(self.timeout, self.get(addr, &host, name.clone())).await {
                Ok(Ok(body)) => return Ok(body),
                Ok(Err(e)) => last = e,
                Err(_) => last = FetchError::Timeout,
            }
        }
        Err(last)
    }

    async fn get(
        &self,
        addr: SocketAddr,
        host: &str,
        name: ServerName<'static>,
    ) -> Result<String, FetchError> {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = self.connector.connect(name, tcp).await?;
        tls.write_all(&http::request(host)).await?;
        tls.flush().await?;
        let mut buffer = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        // Bounded: every turn reads or ends, and the buffer is capped below.
        loop {
            let n = match tls.read(&mut chunk).await {
                Ok(n) => n,
                // A server closing without close_notify ends the body all the same; a body
                // cut short is still caught by its length.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e.into()),
            };
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(body) = http::parse(&buffer, n == 0)? {
                return String::from_utf8(body).map_err(|_| FetchError::NotText);
            }
            if buffer.len() > MAX_HEAD + MAX_BODY + 4096 {
                return Err(HttpError::TooLarge.into());
            }
        }
    }
}
