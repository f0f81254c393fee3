//! A scripted SMTP/LMTP peer for the relay's tests: answers chosen replies per command and
//! records every byte it received, per connection.
//!
//! Helpers (envelopes, a test CA, relays aimed at a peer) are in `util`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

pub use util::*;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

/// A completed transaction as the peer saw it.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub mail: String,
    /// Recipients the peer accepted.
    pub rcpts: Vec<String>,
    /// The raw DATA bytes up to and including the final `.\r\n`.
    pub data: Vec<u8>,
    /// True when the RCPT lines were already buffered when MAIL was read (pipelined).
    pub pipelined: bool,
    /// The connection it came on (0 for the first accepted).
    pub conn: usize,
}

/// What the peer saw.
#[derive(Debug, Default)]
pub struct Log {
    pub connections: usize,
    /// When each connection was accepted, in order.
    pub opened: Vec<std::time::Instant>,
    pub current: usize,
    pub max_concurrent: usize,
    /// Every byte received, per connection (after TLS: the decrypted bytes, appended).
    pub received: Vec<Vec<u8>>,
    pub transactions: Vec<Txn>,
    /// Connections on which the TLS handshake completed.
    pub tls_sessions: usize,
    pub commands: Vec<String>,
}

type RcptFn = dyn Fn(&str, usize) -> String + Send + Sync;
type DataFn = dyn Fn(&Txn) -> Vec<String> + Send + Sync;

/// How the peer answers. Reply strings are sent followed by CRLF; `"CLOSE"` closes silently.
#[derive(Clone)]
pub struct Script {
    pub banner: String,
    /// `None`: EHLO is answered 502 (forces HELO).
    pub caps: Option<Vec<String>>,
    pub mail: String,
    /// Called per RCPT with the address and the number already accepted in this transaction.
    pub rcpt: Arc<RcptFn>,
    pub data: String,
    /// Replies after the final dot (one for SMTP; one per accepted recipient for LMTP).
    pub after_data: Arc<DataFn>,
    /// Close the connection after reading this many bytes of message data.
    pub close_during_data: Option<usize>,
    pub tls: Option<TlsAcceptor>,
    /// Answer STARTTLS with 220, then hang up instead of a handshake.
    pub broken_tls: bool,
    pub lmtp: bool,
    /// Write replies in Latin-1 (each char up to U+00FF as one octet), as peers that are not
    /// UTF-8 clean do.
    pub latin1: bool,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            banner: "220 peer.test ESMTP".into(),
            caps: Some(vec![
                "PIPELINING".into(),
                "8BITMIME".into(),
                "SIZE 10000000".into(),
            ]),
            mail: "250 2.1.0 ok".into(),
            rcpt: Arc::new(|_, _| "250 2.1.5 ok".to_owned()),
            data: "354 go ahead".into(),
            after_data: Arc::new(|_| vec!["250 2.0.0 queued".to_owned()]),
            close_during_data: None,
            tls: None,
            broken_tls: false,
            lmtp: false,
            latin1: false,
        }
    }
}

impl Script {
    pub fn rcpt(mut self, f: impl Fn(&str, usize) -> String + Send + Sync + 'static) -> Self {
        self.rcpt = Arc::new(f);
        self
    }
    pub fn after_data(mut self, f: impl Fn(&Txn) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.after_data = Arc::new(f);
        self
    }
    pub fn caps(mut self, caps: &[&str]) -> Self {
        self.caps = Some(caps.iter().map(|c| (*c).to_owned()).collect());
        self
    }
}

/// A running peer.
pub struct Peer {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    pub async fn start(script: Script) -> Self {
        Self::start_on("127.0.0.1:0", script).await
    }

    pub async fn start_on(addr: &str, script: Script) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                let log = shared.clone();
                tokio::spawn(async move { serve_tcp(stream, script, log).await });
            }
        });
        Self { addr, log, task }
    }

    pub async fn start_unix(path: &std::path::Path, script: Script) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                let log = shared.clone();
                tokio::spawn(async move {
                    let index = open_conn(&log);
                    let _ = session(BufReader::new(stream), &script, &log, index).await;
                    close_conn(&log);
                });
            }
        });
        Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connections(&self) -> usize {
        self.log.lock().unwrap().connections
    }

    pub fn transactions(&self) -> Vec<Txn> {
        self.log.lock().unwrap().transactions.clone()
    }

    /// Everything received on all connections, as text.
    pub fn received_text(&self) -> String {
        let log = self.log.lock().unwrap();
        log.received
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().commands.clone()
    }
}

fn open_conn(log: &Mutex<Log>) -> usize {
    let mut log = log.lock().unwrap();
    log.connections += 1;
    log.opened.push(std::time::Instant::now());
    log.current += 1;
    log.max_concurrent = log.max_concurrent.max(log.current);
    log.received.push(Vec::new());
    log.received.len() - 1
}

fn close_conn(log: &Mutex<Log>) {
    log.lock().unwrap().current -= 1;
}

async fn serve_tcp(stream: tokio::net::TcpStream, script: Script, log: Arc<Mutex<Log>>) {
    let index = open_conn(&log);
    let _ = stream.set_nodelay(true);
    let reader = BufReader::new(stream);
    // A peer connection lives at most 30 s: no test can hang on it.
    let run = async {
        if let Ok(Some(reader)) = session(reader, &script, &log, index).await {
            let Some(acceptor) = script.tls.clone() else {
                return;
            };
            let Ok(tls) = acceptor.accept(reader.into_inner()).await else {
                return;
            };
            log.lock().unwrap().tls_sessions += 1;
            let mut after = script.clone();
            after.banner = String::new();
            let _ = session(BufReader::new(tls), &after, &log, index).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), run).await;
    close_conn(&log);
}

/// A reply as octets: UTF-8, or Latin-1 when the script says so.
fn encode(reply: &str, latin1: bool) -> Vec<u8> {
    let mut bytes: Vec<u8> = if latin1 {
        reply
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    } else {
        reply.as_bytes().to_vec()
    };
    bytes.extend_from_slice(b"\r\n");
    bytes
}

async fn send<S: AsyncWrite + Unpin>(
    w: &mut S,
    reply: &str,
    latin1: bool,
) -> std::io::Result<bool> {
    if reply == "CLOSE" {
        return Ok(false);
    }
    if reply == "HANG" {
        // Never answer; the connection's 30 s cap ends it.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Ok(false);
    }
    w.write_all(&encode(reply, latin1)).await?;
    w.flush().await?;
    Ok(true)
}

/// Runs one session; returns the reader when STARTTLS was accepted (the caller upgrades).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut reader: BufReader<S>,
    script: &Script,
    log: &Mutex<Log>,
    index: usize,
) -> std::io::Result<Option<BufReader<S>>> {
    if !script.banner.is_empty() && !send(reader.get_mut(), &script.banner, script.latin1).await? {
        return Ok(None);
    }
    let mut txn = Txn::default();
    let mut in_txn = false;
    for _ in 0..100_000 {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        log.lock().unwrap().received[index].extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        log.lock().unwrap().commands.push(text.clone());
        let verb = text
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "LHLO" => match &script.caps {
                Some(caps) => {
                    let mut lines = vec!["peer.test hello".to_owned()];
                    lines.extend(caps.iter().cloned());
                    if (script.tls.is_some() || script.broken_tls)
                        && !caps.iter().any(|c| c == "STARTTLS")
                        && index_plain(&script.banner)
                    {
                        lines.push("STARTTLS".to_owned());
                    }
                    let n = lines.len();
                    lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{l}", if i + 1 == n { ' ' } else { '-' }))
                        .collect::<Vec<_>>()
                        .join("\r\n")
                }
                None => "502 5.5.1 EHLO not implemented".to_owned(),
            },
            "HELO" => "250 peer.test".to_owned(),
            "STARTTLS" if script.broken_tls => {
                send(reader.get_mut(), "220 2.0.0 ready for TLS", script.latin1).await?;
                return Ok(None);
            }
            "STARTTLS" if script.tls.is_some() && index_plain(&script.banner) => {
                send(reader.get_mut(), "220 2.0.0 ready for TLS", script.latin1).await?;
                return Ok(Some(reader));
            }
            "AUTH" => {
                if text.starts_with("AUTH PLAIN AHVzZXIAc2VjcmV0") {
                    "235 2.7.0 ok".to_owned()
                } else {
                    "535 5.7.8 bad credentials".to_owned()
                }
            }
            "MAIL" => {
                txn = Txn {
                    mail: text.clone(),
                    pipelined: !reader.buffer().is_empty(),
                    conn: index,
                    ..Txn::default()
                };
                in_txn = script.mail.starts_with('2');
                script.mail.clone()
            }
            "RCPT" => {
                let addr = text.split(['<', '>']).nth(1).unwrap_or("").to_owned();
                let reply = (script.rcpt)(&addr, txn.rcpts.len());
                if reply.starts_with('2') {
                    txn.rcpts.push(addr);
                }
                reply
            }
            "DATA" => {
                if !in_txn || txn.rcpts.is_empty() {
                    "554 5.5.1 no valid recipients".to_owned()
                } else if !script.data.starts_with("354") {
                    script.data.clone()
                } else {
                    if !send(reader.get_mut(), &script.data, script.latin1).await? {
                        return Ok(None);
                    }
                    // Read data to the final dot.
                    let mut data = Vec::new();
                    for _ in 0..1_000_000 {
                        let mut chunk = Vec::new();
                        if reader.read_until(b'\n', &mut chunk).await? == 0 {
                            return Ok(None);
                        }
                        data.extend_from_slice(&chunk);
                        if let Some(limit) = script.close_during_data {
                            if data.len() >= limit {
                                log.lock().unwrap().received[index].extend_from_slice(&data);
                                return Ok(None);
                            }
                        }
                        if chunk == b".\r\n" && (data.len() == 3 || data.ends_with(b"\r\n.\r\n")) {
                            break;
                        }
                    }
                    log.lock().unwrap().received[index].extend_from_slice(&data);
                    txn.data = data;
                    let replies = (script.after_data)(&txn);
                    log.lock()
                        .unwrap()
                        .transactions
                        .push(std::mem::take(&mut txn));
                    in_txn = false;
                    let last = replies.len();
                    for (i, reply) in replies.into_iter().enumerate() {
                        if !send(reader.get_mut(), &reply, script.latin1).await? {
                            return Ok(None);
                        }
                        if i + 1 == last {
                            break;
                        }
                    }
                    continue;
                }
            }
            "RSET" => {
                txn = Txn::default();
                in_txn = false;
                "250 2.0.0 reset".to_owned()
            }
            "QUIT" => {
                send(reader.get_mut(), "221 2.0.0 bye", script.latin1).await?;
                return Ok(None);
            }
            _ => "500 5.5.2 unknown command".to_owned(),
        };
        if !send(reader.get_mut(), &reply, script.latin1).await? {
            return Ok(None);
        }
        if reply.starts_with("421") {
            return Ok(None);
        }
    }
    Ok(None)
}

/// The plain-text phase has a banner; the TLS phase runs with an empty one.
fn index_plain(banner: &str) -> bool {
    !banner.is_empty()
}
