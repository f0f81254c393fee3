//! A scripted next hop written in Rust: it answers with exactly the octets it is given (so a
//! reply may be Latin-1), offers the capabilities it is given, and records every transaction.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::{wait_for, PATIENCE};

/// One transaction as the hop saw it.
#[derive(Debug, Clone, Default)]
pub struct HopTxn {
    /// The MAIL line, without CRLF.
    pub mail: String,
    /// The RCPT addresses.
    pub rcpts: Vec<String>,
    /// The DATA bytes, dot-stuffed, up to and without the final `.\r\n`.
    pub data: Vec<u8>,
}

/// How the hop answers.
#[derive(Debug, Clone)]
pub struct HopScript {
    /// The EHLO keywords after the greeting line.
    pub caps: Vec<String>,
    /// The reply to the final dot, CRLF included; any octets.
    pub after_data: Vec<u8>,
    /// Recipients starting with this are refused `550 5.1.1 no such user` at RCPT.
    pub reject_prefix: Option<String>,
}

impl HopScript {
    /// A hop offering `caps` that answers the final dot with `after_data` (CRLF added).
    pub fn new(caps: &[&str], after_data: &[u8]) -> Self {
        Self {
            caps: caps.iter().map(|c| (*c).to_owned()).collect(),
            after_data: [after_data, b"\r\n"].concat(),
            reject_prefix: None,
        }
    }

    /// The same hop, refusing recipients that start with `prefix`.
    pub fn rejecting(mut self, prefix: &str) -> Self {
        self.reject_prefix = Some(prefix.to_owned());
        self
    }
}

/// A running hop on a loopback port; it stops with the test process.
pub struct Hop {
    pub port: u16,
    txns: Arc<Mutex<Vec<HopTxn>>>,
}

impl Hop {
    /// Starts listening; each connection is served on its own thread.
    pub fn start(script: HopScript) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let txns = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&txns);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, txns) = (script.clone(), Arc::clone(&shared));
                std::thread::spawn(move || {
                    let _ = serve(stream, &script, &txns);
                });
            }
        });
        Self { port, txns }
    }

    /// The transactions completed so far (DATA ended by the final dot).
    pub fn transactions(&self) -> Vec<HopTxn> {
        self.txns.lock().unwrap().clone()
    }

    /// Waits until at least `n` transactions completed.
    pub fn wait_for(&self, n: usize) -> Vec<HopTxn> {
        wait_for(&format!("{n} transactions at the hop"), || {
            let t = self.transactions();
            (t.len() >= n).then_some(t)
        })
    }
}

fn serve(stream: TcpStream, script: &HopScript, txns: &Mutex<Vec<HopTxn>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(PATIENCE))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    out.write_all(b"220 hop.test ESMTP\r\n")?;
    let mut txn = HopTxn::default();
    // Bounded by the read timeout and the peer closing.
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = text
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: Vec<u8> = match verb.as_str() {
            "EHLO" => {
                let mut lines = vec!["hop.test".to_owned()];
                lines.extend(script.caps.iter().cloned());
                let last = lines.len() - 1;
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect::<String>()
                    .into_bytes()
            }
            "MAIL" => {
                txn = HopTxn {
                    mail: text.clone(),
                    ..HopTxn::default()
                };
                b"250 2.1.0 ok\r\n".to_vec()
            }
            "RCPT" => {
                let rcpt = text.split(['<', '>']).nth(1).unwrap_or("").to_owned();
                let prefix = script.reject_prefix.as_deref();
                if prefix.is_some_and(|p| rcpt.starts_with(p)) {
                    b"550 5.1.1 no such user\r\n".to_vec()
                } else {
                    txn.rcpts.push(rcpt);
                    b"250 2.1.5 ok\r\n".to_vec()
                }
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                loop {
                    let mut chunk = Vec::new();
                    if reader.read_until(b'\n', &mut chunk)? == 0 {
                        return Ok(());
                    }
                    if chunk == b".\r\n" {
                        break;
                    }
                    txn.data.extend_from_slice(&chunk);
                }
                txns.lock().unwrap().push(std::mem::take(&mut txn));
                script.after_data.clone()
            }
            "RSET" | "NOOP" => b"250 2.0.0 ok\r\n".to_vec(),
            "QUIT" => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => b"502 5.5.2 unknown command\r\n".to_vec(),
        };
        out.write_all(&reply)?;
    }
}

/// Sends one message with `params` after MAIL FROM (e.g. `" SMTPUTF8"`); returns the reply
/// to the final dot.
pub fn send_with(
    addr: std::net::SocketAddr,
    from: &str,
    params: &str,
    to: &str,
    message: &[u8],
) -> String {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = || {
        let mut all = String::new();
        // A reply ends with a line whose fourth octet is not '-'.
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    assert!(reply().starts_with("220"));
    let mut step = |bytes: &[u8], code: &str| {
        out.write_all(bytes).unwrap();
        let got = reply();
        assert!(got.starts_with(code), "expected {code}, got {got:?}");
        got
    };
    step(b"EHLO client.test\r\n", "250");
    step(format!("MAIL FROM:<{from}>{params}\r\n").as_bytes(), "250");
    step(format!("RCPT TO:<{to}>\r\n").as_bytes(), "250");
    step(b"DATA\r\n", "354");
    let last = step(&[message, b".\r\n"].concat(), "");
    let _ = out.write_all(b"QUIT\r\n");
    last
}
