//! Large-message helpers: deterministic big messages, a DATA/BDAT client, and what to read
//! off the daemon afterwards (peak RSS, files in the body directory).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use super::PATIENCE;

/// A message of `size` octets: headers naming `tag`, then lines (some starting with a dot,
/// so that dot-stuffing is exercised) up to the size.
pub fn big_message(tag: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "From: sender@src.test\r\nTo: rcpt@dst.test\r\nSubject: {tag}\r\nMessage-ID: <{tag}@src.test>\r\n\r\n"
    )
    .into_bytes();
    let mut line = 0_u64;
    while out.len() < size {
        let text = if line % 7 == 0 {
            format!(".{tag} line {line:08} starts with a dot and ends here\r\n")
        } else {
            format!("{tag} line {line:08} of a large message, 7-bit text only\r\n")
        };
        out.extend_from_slice(text.as_bytes());
        line += 1;
    }
    out.truncate(size - 2);
    out.extend_from_slice(b"\r\n");
    out
}

/// `message` dot-stuffed for DATA (it ends with CRLF).
pub fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50);
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// A client session: greeting read, EHLO sent.
pub struct Client {
    pub stream: TcpStream,
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut client = Self { stream, reader };
        client.expect("220");
        client.command("EHLO client.test", "250");
        client
    }

    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub fn expect(&mut self, code: &str) -> String {
        let reply = self.reply();
        assert!(reply.starts_with(code), "expected {code}, got {reply:?}");
        reply
    }

    pub fn command(&mut self, line: &str, code: &str) -> String {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.expect(code)
    }

    pub fn envelope(&mut self) {
        self.command("MAIL FROM:<sender@src.test>", "250");
        self.command("RCPT TO:<rcpt@dst.test>", "250");
    }

    /// Sends `message` over DATA; returns the final reply.
    pub fn data(&mut self, message: &[u8]) -> String {
        self.envelope();
        self.command("DATA", "354");
        self.stream.write_all(&stuffed(message)).unwrap();
        self.stream.write_all(b".\r\n").unwrap();
        self.reply()
    }

    /// Sends `message` over BDAT in chunks of `chunk` octets; returns the final reply.
    pub fn bdat(&mut self, message: &[u8], chunk: usize) -> String {
        self.envelope();
        let pieces: Vec<&[u8]> = message.chunks(chunk).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let last = if i + 1 == pieces.len() { " LAST" } else { "" };
            let command = format!("BDAT {}{last}\r\n", piece.len());
            self.stream.write_all(command.as_bytes()).unwrap();
            self.stream.write_all(piece).unwrap();
            if last.is_empty() {
                self.expect("250");
            }
        }
        self.reply()
    }
}

/// The message as the hop got it, its Received header (added by envoi) and dot-stuffing
/// undone.
pub fn as_received(data: &[u8]) -> Vec<u8> {
    let start = data
        .windows(6)
        .position(|w| w == b"From: ")
        .expect("original headers at the hop");
    let mut out = Vec::with_capacity(data.len());
    for line in data[start..].split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// The peak resident set of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Files in the spool's body directory (body files and staging files).
pub fn body_files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("spool").join("bodies")) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}
