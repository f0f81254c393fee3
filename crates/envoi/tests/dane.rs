//! DANE on the real binary: `envoi serve` delivers by MX, asking Knot DNS (serving
//! DNSSEC-signed test zones on loopback, built by scripts/dane-test-zones) for MX, address
//! and TLSA records, with the test zones' key as its trust anchor. Every MX host is one
//! loopback SMTP server with STARTTLS and a self-signed certificate.
//!
//! Skips, and says so, when knotd or ldnsutils are missing (scripts/setup-test-peers
//! installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use ring::digest;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use support::{free_port, message, send, wait_for, Daemon, PATIENCE};

/// Knot serving the test zones; killed on drop.
struct Zones {
    knot: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Zones {
    fn drop(&mut self) {
        let _ = self.knot.kill();
        let _ = self.knot.wait();
    }
}

fn tool(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| Path::new(path).exists())
}

/// The zones, `tlsa` being the record that matches the sink, or `None` (skip).
fn zones(tlsa: &str) -> Option<Zones> {
    let (Some(knotd), Some(_)) = (tool("knotd"), tool("ldns-signzone")) else {
        eprintln!("skipped: knotd or ldns-signzone not installed (scripts/setup-test-peers)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/dane-test-zones");
    let built = Command::new(script)
        .arg(dir.path())
        .arg(port.to_string())
        .arg(tlsa)
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let knot = Command::new(knotd)
        .arg("-c")
        .arg(dir.path().join("knot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let zones = Zones { knot, port, dir };
    wait_for("knotd listening", || {
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    Some(zones)
}

/// A STARTTLS SMTP server recording each accepted recipient and whether TLS carried it.
struct Sink {
    port: u16,
    rcpts: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Sink {
    /// A sink with a fresh self-signed certificate, and the `3 1 1` record matching it.
    fn start() -> (Self, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.signed.dane.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let hash = digest::digest(&digest::SHA256, &key.public_key_der());
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rcpts = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&rcpts);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, rcpts) = (Arc::clone(&config), Arc::clone(&shared));
                std::thread::spawn(move || {
                    let _ = serve(stream, &config, &rcpts);
                });
            }
        });
        (Self { port, rcpts }, format!("3 1 1 {hex}"))
    }

    fn rcpts(&self) -> Vec<(String, bool)> {
        self.rcpts.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    rcpts: &Mutex<Vec<(String, bool)>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(PATIENCE))?;
    let mut stream = stream;
    stream.write_all(b"220 sink.test ESMTP\r\n")?;
    if let Some(plain) = dialogue(stream, false, rcpts)? {
        let conn = ServerConnection::new(Arc::clone(config)).map_err(std::io::Error::other)?;
        dialogue(StreamOwned::new(conn, plain), true, rcpts)?;
    }
    Ok(())
}

/// One side of STARTTLS: `Ok(Some(stream))` when the client asked to start TLS.
fn dialogue<S: Read + Write>(
    stream: S,
    tls: bool,
    rcpts: &Mutex<Vec<(String, bool)>>,
) -> std::io::Result<Option<S>> {
    let mut reader = BufReader::new(stream);
    let mut pending = Vec::new();
    // Bounded by the read timeout and the client closing.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if tls => b"250-sink.test\r\n250 PIPELINING\r\n",
            "EHLO" => b"250-sink.test\r\n250 STARTTLS\r\n",
            "STAR" if !tls => {
                reader.get_mut().write_all(b"220 2.0.0 go ahead\r\n")?;
                return Ok(Some(reader.into_inner()));
            }
            "MAIL" => {
                pending.clear();
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => {
                pending.push(line.split(['<', '>']).nth(1).unwrap_or("").to_owned());
                b"250 2.1.5 ok\r\n"
            }
            "DATA" => {
                reader.get_mut().write_all(b"354 go ahead\r\n")?;
                loop {
                    let mut chunk = String::new();
                    if reader.read_line(&mut chunk)? == 0 {
                        return Ok(None);
                    }
                    if chunk == ".\r\n" {
                        break;
                    }
                }
                let mut all = rcpts.lock().unwrap();
                all.extend(pending.drain(..).map(|r| (r, tls)));
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                reader.get_mut().write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(None);
            }
            _ => b"250 2.0.0 ok\r\n",
        };
        reader.get_mut().write_all(reply)?;
        reader.get_mut().flush()?;
    }
}

#[test]
fn dane_decides_per_mx_host_on_the_real_binary() {
    let (sink, tlsa) = Sink::start();
    let Some(zones) = zones(&tlsa) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let anchors = zones.dir.path().join("anchors.zone");
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[relay]\ndns = [\"127.0.0.1:{}\"]\nmx_port = {}\ndnssec_trust_anchors = [\"{}\"]\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"1h\"]\n",
            zones.port,
            sink.port,
            anchors.display()
        ),
    );
    let recipients = [
        "match@signed.dane.test",
        "mismatch@bad.signed.dane.test",
        "bogus@bogus.dane.test",
        "plain@unsigned.dane.test",
    ];
    for rcpt in recipients {
        let reply = send(daemon.smtp, "sender@src.test", &[rcpt], &message(rcpt));
        assert!(reply.starts_with("250 "), "{reply}");
    }
    // The matching host over TLS; the unsigned domain opportunistically (its host offers
    // STARTTLS, so TLS too, unauthenticated).
    let delivered = wait_for("two deliveries", || {
        let got = sink.rcpts();
        (got.len() >= 2).then_some(got)
    });
    let mut delivered = delivered;
    delivered.sort();
    assert_eq!(
        delivered,
        [
            ("match@signed.dane.test".to_owned(), true),
            ("plain@unsigned.dane.test".to_owned(), true)
        ]
    );
    // The mismatch and the bogus signature: deferred with 4.7.5, still queued.
    let deferred = wait_for("two 4.7.5 deferrals", || {
        let log = daemon.log_text();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("event=\"deferred\"") && l.contains("4.7.5"))
            .map(str::to_owned)
            .collect();
        (lines.len() >= 2).then_some(lines)
    });
    assert!(
        deferred.iter().any(|l| l.contains("bad.signed.dane.test")),
        "{deferred:?}"
    );
    assert!(
        deferred.iter().any(|l| l.contains("bogus.dane.test")),
        "{deferred:?}"
    );
    let listed = daemon.queue_cli(&["list", "--json"]);
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(text.contains("mismatch@bad.signed.dane.test"), "{text}");
    assert!(text.contains("bogus@bogus.dane.test"), "{text}");
    assert!(!text.contains("match@signed.dane.test\""), "{text}");
    assert_eq!(sink.rcpts().len(), 2);
}

#[test]
fn config_check_reads_the_trust_anchors() {
    let dir = tempfile::tempdir().unwrap();
    let check = |anchors: &str| {
        let file = dir.path().join("anchors.zone");
        std::fs::write(&file, anchors).unwrap();
        let config = dir.path().join("envoi.toml");
        let text = format!("[relay]\ndnssec_trust_anchors = [\"{}\"]\n", file.display());
        std::fs::write(&config, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_envoi"))
            .args(["config", "check"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let good = check("dane.test. IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
    assert!(good.status.success(), "{good:?}");
    let bad = check("dane.test. IN DNSKEY 257 3 13 not-base64!\n");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("relay.dnssec_trust_anchors"), "{stderr}");
    assert!(stderr.contains("not base64"), "{stderr}");
}
