//! MTA-STS peers: a dnsmasq name server on a loopback port, a test CA with its certificates,
//! and an HTTPS server publishing policies at `/.well-known/mta-sts.txt`, counting requests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{free_port, wait_for, PATIENCE};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// True when dnsmasq is installed; otherwise says why the test skips.
pub fn have_dnsmasq() -> bool {
    let ok = Path::new(DNSMASQ).exists();
    if !ok {
        eprintln!("SKIP: dnsmasq is not installed (run scripts/setup-test-peers)");
    }
    ok
}

/// dnsmasq answering for `.test` from its command line only; it stops with the value.
pub struct Dns {
    child: Child,
    /// The UDP and TCP port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Dns {
    /// Starts dnsmasq with these record options (`--txt-record=...`, `--mx-host=...`,
    /// `--host-record=...`); every other name under `.test` is NXDOMAIN.
    pub fn start(records: &[String]) -> Self {
        let port = free_port();
        let child = Command::new(DNSMASQ)
            .args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--local=/test/",
            ])
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("dnsmasq to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Self { child, port }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and one certificate for every name given, as PEM files and as a rustls server
/// configuration.
pub struct Pki {
    /// The CA certificate (PEM), for `relay.ca_files`.
    pub ca: PathBuf,
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
    /// The server side of that certificate.
    pub server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// Writes the files into `dir`.
    pub fn new(dir: &Path, names: &[&str]) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let paths = [
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        ];
        std::fs::write(&paths[0], ca.pem()).unwrap();
        std::fs::write(&paths[1], cert.pem()).unwrap();
        std::fs::write(&paths[2], key.serialize_pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .unwrap();
        let [ca, cert, key] = paths;
        Self {
            ca,
            cert,
            key,
            server: Arc::new(server),
        }
    }
}

/// An HTTPS server on a loopback port serving one policy per `Host`; it stops with the test
/// process.
pub struct PolicyServer {
    /// Its port.
    pub port: u16,
    requests: Arc<AtomicUsize>,
    policies: Arc<Mutex<HashMap<String, String>>>,
}

impl PolicyServer {
    /// Serves `policies` (host → policy text) with the certificate of `pki`.
    pub fn start(pki: &Pki, policies: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let policies = Arc::new(Mutex::new(
            policies
                .iter()
                .map(|(h, p)| ((*h).to_owned(), (*p).to_owned()))
                .collect::<HashMap<_, _>>(),
        ));
        let (config, count, served) = (pki.server.clone(), requests.clone(), policies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, count, served) = (config.clone(), count.clone(), served.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, config, &count, &served);
                });
            }
        });
        Self {
            port,
            requests,
            policies,
        }
    }

    /// Policy requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Replaces the policy of `host`.
    pub fn publish(&self, host: &str, policy: &str) {
        self.policies
            .lock()
            .unwrap()
            .insert(host.to_owned(), policy.to_owned());
    }
}

fn serve(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    count: &AtomicUsize,
    policies: &Mutex<HashMap<String, String>>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(PATIENCE))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Bounded by the read timeout and the size check.
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if tls.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let host = head
        .lines()
        .find_map(|l| l.strip_prefix("Host: "))
        .unwrap_or_default()
        .to_owned();
    let right_path = head.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n");
    let policy = policies.lock().unwrap().get(&host).cloned();
    count.fetch_add(1, Ordering::SeqCst);
    let response = match policy.filter(|_| right_path) {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    tls.write_all(response.as_bytes())?;
    tls.conn.send_close_notify();
    tls.flush()
}
