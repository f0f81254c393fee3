//! A connection to a next hop: writes and reply reads, each bounded by a stage timeout.
//!
//! # Layout
//! - [`Connection`]: the stream, the sans-IO reply reader, the peer's capabilities and
//!   bookkeeping for reuse.

use std::time::Duration;

use bytes::BufMut;
use envoi_types::Reply;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::client::stream::Stream;
use crate::failure::{io_failure, Failure, Stage};
use crate::hop::Protocol;
use crate::proto::caps::Capabilities;
use crate::proto::reader::ReplyReader;

/// Most octets taken from the socket in one read.
const READ_CHUNK: usize = 4096;

/// An open session with a next hop.
#[derive(Debug)]
pub struct Connection {
    /// `None` only while STARTTLS swaps the stream, or after a failed upgrade.
    stream: Option<Stream>,
    reader: ReplyReader,
    /// What the peer offered in its last EHLO/LHLO reply.
    pub caps: Capabilities,
    /// The peer as reported in outcomes, `name[ip]:port` or `unix:path`.
    pub remote: String,
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// True once STARTTLS succeeded.
    pub tls: bool,
    /// True once STARTTLS succeeded with a certificate that verifies for the host name
    /// (whatever the connector demanded).
    pub verified: bool,
    /// Messages sent over this connection, for the reuse limit.
    pub messages: u32,
}

impl Connection {
    /// Wraps a freshly connected stream.
    pub fn new(stream: Stream, remote: String, protocol: Protocol, max_line: usize) -> Self {
        Self {
            stream: Some(stream),
            reader: ReplyReader::new(max_line),
            caps: Capabilities::default(),
            remote,
            protocol,
            tls: false,
            verified: false,
            messages: 0,
        }
    }

    /// Reads one complete reply within `timeout`.
    ///
    /// # Errors
    /// [`Failure::Timeout`], [`Failure::Lost`] (closed or broken) or [`Failure::Protocol`].
    pub async fn read_reply(&mut self, stage: Stage, timeout: Duration) -> Result<Reply, Failure> {
        let Self { stream, reader, .. } = self;
        let stream = stream.as_mut().ok_or_else(|| gone(stage))?;
        let read = async {
            // Bounded: every turn either returns or consumes bytes, and the reader refuses
            // unbounded lines.
            loop {
                match reader.next_reply() {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(e) => return Err(Failure::Protocol(e.to_string())),
                }
                // Straight into the reader's buffer: a zeroed 4 KiB chunk per read was 3.5 %
                // of envoi's instructions in memset (bench/relay/README.md, "Profile" item 4).
                let buffer = reader.buffer_mut();
                buffer.reserve(READ_CHUNK);
                let n = stream
                    .read_buf(&mut buffer.limit(READ_CHUNK))
                    .await
                    .map_err(|e| io_failure(stage, e))?;
                if n == 0 {
                    return Err(gone(stage));
                }
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| Failure::Timeout(stage))?
    }

    /// Writes all of `bytes` and flushes within `timeout`.
    ///
    /// # Errors
    /// [`Failure::Timeout`] or [`Failure::Lost`].
    pub async fn send(
        &mut self,
        bytes: &[u8],
        stage: Stage,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let stream = self.stream.as_mut().ok_or_else(|| gone(stage))?;
        let write = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| Failure::Timeout(stage))?
            .map_err(|e| io_failure(stage, e))
    }

    /// Sends a command line and reads its reply, each within `timeout`.
    ///
    /// # Errors
    /// As [`Connection::send`] and [`Connection::read_reply`].
    pub async fn command(
        &mut self,
        line: &[u8],
        stage: Stage,
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        self.send(line, stage, timeout).await?;
        self.read_reply(stage, timeout).await
    }

    /// Runs the TLS handshake on the current TCP stream (after `220` to STARTTLS).
    ///
    /// # Errors
    /// [`Failure::Tls`] when the handshake or verification fails, [`Failure::Timeout`].
    pub async fn upgrade(
        &mut self,
        connector: &TlsConnector,
        server_name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<(), Failure> {
        // Bytes the peer sent before the handshake must not be read as replies after it
        // (RFC 3207 §5: a response injection defence).
        if self.reader.has_pending() {
            return Err(Failure::Tls(
                "peer sent data after its STARTTLS reply".to_owned(),
            ));
        }
        let Some(Stream::Tcp(tcp)) = self.stream.take() else {
            return Err(Failure::Tls(
                "STARTTLS on a stream that is not plain TCP".to_owned(),
            ));
        };
        let tls = tokio::time::timeout(timeout, connector.connect(server_name, tcp))
            .await
            .map_err(|_| Failure::Timeout(Stage::StartTls))?
            .map_err(|e| Failure::Tls(e.to_string()))?;
        self.stream = Some(Stream::Tls(Box::new(tls)));
        self.reader.clear();
        self.tls = true;
        Ok(())
    }

    /// The certificate chain the peer presented in the TLS handshake (empty before TLS).
    pub fn peer_certificates(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        match &self.stream {
            Some(Stream::Tls(tls)) => tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Sends QUIT and closes, best effort: the peer's answer changes nothing.
    pub async fn quit(mut self, timeout: Duration) {
        if self
            .command(b"QUIT\r\n", Stage::Other, timeout)
            .await
            .is_ok()
        {
            if let Some(mut stream) = self.stream.take() {
                let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
            }
        }
    }
}

fn gone(stage: Stage) -> Failure {
    io_failure(
        stage,
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed by peer",
        ),
    )
}
