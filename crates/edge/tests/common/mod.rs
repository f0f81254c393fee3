//! Test harness: a server on 127.0.0.1:0 with a recording hand-off, and a byte-level client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use envoi_edge::{EdgeConfig, Handoff, ListenMode, ServeError, Server, ServerBuilder};
use envoi_queue::{EnqueueError, StorageError};
use envoi_types::{Envelope, QueueId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod log;
pub mod tls;

/// A safety net so a broken server fails a test instead of hanging it; never an assertion.
pub const SAFETY: Duration = Duration::from_secs(20);

/// What the recording hand-off does with the next envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Full,
    Io,
}

/// A hand-off that records every envelope it accepts.
pub struct Recorder {
    pub envelopes: Mutex<Vec<Envelope>>,
    pub mode: Mutex<Mode>,
    pub calls: Mutex<usize>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            envelopes: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Accept),
            calls: Mutex::new(0),
        })
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn stored(&self) -> Vec<Envelope> {
        self.envelopes.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
}

#[async_trait]
impl Handoff for Recorder {
    async fn enqueue(&self, envelope: Envelope) -> Result<Vec<QueueId>, EnqueueError> {
        *self.calls.lock().unwrap() += 1;
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Accept => {
                self.envelopes.lock().unwrap().push(envelope);
                Ok(vec![QueueId::new()])
            }
            Mode::Full => Err(EnqueueError::Storage(StorageError::Full("disk".into()))),
            Mode::Io => Err(EnqueueError::Storage(StorageError::Io("fsync".into()))),
        }
    }
}

/// The configuration most tests use: receives for example.org.
pub fn config() -> EdgeConfig {
    let mut config = EdgeConfig::new("mx.test");
    config.receiving_domains = vec!["example.org".into()];
    config
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handoff: Arc<Recorder>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ServeError>>,
}

pub async fn start(config: EdgeConfig) -> TestServer {
    start_with(config, ListenMode::Plain, |b| b).await
}

pub async fn start_with(
    config: EdgeConfig,
    mode: ListenMode,
    build: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> TestServer {
    let handoff = Recorder::new();
    let server = build(Server::builder(config, handoff.clone())).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { server.serve(listener, mode, token).await });
    TestServer {
        addr,
        handoff,
        shutdown,
        task,
    }
}

/// A raw client over any stream.
pub struct Client<S> {
    pub stream: S,
    buf: Vec<u8>,
}

pub async fn connect(addr: SocketAddr) -> Client<TcpStream> {
    Client::new(TcpStream::connect(addr).await.unwrap())
}

/// Connects and reads the banner.
pub async fn greeted(addr: SocketAddr) -> Client<TcpStream> {
    let mut client = connect(addr).await;
    let banner = client.reply().await;
    assert!(banner.starts_with("220 mx.test "), "{banner}");
    client
}

impl<S> Client<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }
}

/// What needs only the reading side (a split stream's read half too).
impl<S: AsyncRead + Unpin> Client<S> {
    /// Reads one complete reply (all its lines); empty string at end of stream.
    pub async fn reply(&mut self) -> String {
        tokio::time::timeout(SAFETY, self.reply_inner())
            .await
            .expect("no reply from server within the safety net")
    }

    async fn reply_inner(&mut self) -> String {
        loop {
            let mut start = 0;
            while let Some(lf) = self.buf[start..].iter().position(|&b| b == b'\n') {
                let line = &self.buf[start..start + lf + 1];
                start += lf + 1;
                if line.len() < 4 || line[3] == b' ' {
                    let reply: Vec<u8> = self.buf.drain(..start).collect();
                    return String::from_utf8(reply).unwrap();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return String::from_utf8(std::mem::take(&mut self.buf)).unwrap();
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Everything until the server closes.
    pub async fn rest(&mut self) -> String {
        let mut out = std::mem::take(&mut self.buf);
        tokio::time::timeout(SAFETY, self.stream.read_to_end(&mut out))
            .await
            .expect("server did not close within the safety net")
            .ok();
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Sends `line` with CRLF and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO, MAIL, RCPT: ready for DATA or BDAT.
    pub async fn envelope(&mut self, from: &str, to: &str) {
        assert!(self
            .cmd("EHLO client.test")
            .await
            .starts_with("250-mx.test"));
        assert_eq!(
            self.cmd(&format!("MAIL FROM:<{from}>")).await,
            "250 2.1.0 Sender OK\r\n"
        );
        assert_eq!(
            self.cmd(&format!("RCPT TO:<{to}>")).await,
            "250 2.1.5 Recipient OK\r\n"
        );
    }
}

/// Asserts a reply's code and enhanced code.
#[track_caller]
pub fn assert_code(reply: &str, code_and_enhanced: &str) {
    assert!(
        reply.starts_with(&format!("{code_and_enhanced} ")),
        "expected {code_and_enhanced}, got {reply:?}"
    );
}
