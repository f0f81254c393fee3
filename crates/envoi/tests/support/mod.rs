//! End-to-end test support: the real `envoi` binary, aiosmtpd sinks, a small SMTP client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod big;
pub mod dashboard;
pub mod dkim;
pub mod hop;
pub mod http;
pub mod mta_sts;
pub mod private_pg;
pub mod queue_cli;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any wait in these tests may last before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when Python's aiosmtpd is importable; otherwise says why the test skips.
pub fn have_aiosmtpd() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: python3 with aiosmtpd is not installed (run scripts/setup-test-peers)");
    }
    ok
}

/// Polls `check` every 50 ms until it returns Some, failing after [`PATIENCE`].
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An aiosmtpd next hop that writes what it accepts into a directory.
pub struct Sink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Sink {
    /// Starts a sink in `mode` (accept, defer-first, reject).
    pub fn start(mode: &str) -> Self {
        Self::start_with(mode, &[])
    }

    /// Starts a sink in `mode` offering STARTTLS with the PEM certificate chain and key in
    /// these files.
    pub fn start_tls(mode: &str, cert: &Path, key: &Path) -> Self {
        Self::start_with(mode, &[cert, key])
    }

    fn start_with(mode: &str, tls: &[&Path]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg(mode)
            .args(tls)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "sink did not start");
        Self { child, port, dir }
    }

    /// The messages received so far, in order: (envelope JSON, bytes).
    pub fn messages(&self) -> Vec<(serde_json::Value, Vec<u8>)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let meta = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (
                    serde_json::from_str(&meta).unwrap(),
                    std::fs::read(&eml).unwrap(),
                )
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived.
    pub fn wait_for(&self, n: usize) -> Vec<(serde_json::Value, Vec<u8>)> {
        wait_for(&format!("{n} messages at the sink"), || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `envoi serve` with its own spool, config and log file.
pub struct Daemon {
    child: Option<Child>,
    pub smtp: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub config: PathBuf,
}

impl Daemon {
    /// Starts envoi with `extra` appended to a config that sets ports, spool and admin.
    /// `dir` holds the spool; reuse it to restart on the same spool.
    pub fn start(dir: &Path, extra: &str) -> Self {
        let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::start_on(dir, extra, smtp, admin)
    }

    /// Like [`Daemon::start`] with chosen addresses.
    pub fn start_on(dir: &Path, extra: &str, smtp: SocketAddr, admin: SocketAddr) -> Self {
        Self::start_with_env(dir, extra, smtp, admin, &[])
    }

    /// Like [`Daemon::start_on`] with extra environment variables.
    pub fn start_with_env(
        dir: &Path,
        extra: &str,
        smtp: SocketAddr,
        admin: SocketAddr,
        env: &[(&str, &str)],
    ) -> Self {
        let storage = format!("path = \"{}\"", dir.join("spool").display());
        Self::launch(dir, &storage, "", extra, (smtp, admin), env)
    }

    /// Like [`Daemon::start`] with `smtp_keys` added to the `[smtp]` table.
    pub fn start_smtp(dir: &Path, smtp_keys: &str, extra: &str) -> Self {
        let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let storage = format!("path = \"{}\"", dir.join("spool").display());
        Self::launch(dir, &storage, smtp_keys, extra, (smtp, admin), &[])
    }

    /// Like [`Daemon::start`] with `admin_keys` added to the `[admin]` table.
    pub fn start_admin(dir: &Path, admin_keys: &str, extra: &str) -> Self {
        let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let storage = format!("path = \"{}\"", dir.join("spool").display());
        let admin_table = format!("address = \"{admin}\"\n{admin_keys}");
        Self::launch_with(dir, &storage, "", &admin_table, extra, (smtp, admin), &[])
    }

    /// Starts envoi with `storage` as the body of its `[storage]` table.
    pub fn start_with_storage(dir: &Path, storage: &str, extra: &str) -> Self {
        let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::launch(dir, storage, "", extra, (smtp, admin), &[])
    }

    fn launch(
        dir: &Path,
        storage: &str,
        smtp_keys: &str,
        extra: &str,
        (smtp, admin): (SocketAddr, SocketAddr),
        env: &[(&str, &str)],
    ) -> Self {
        let admin_table = format!("address = \"{admin}\"");
        Self::launch_with(
            dir,
            storage,
            smtp_keys,
            &admin_table,
            extra,
            (smtp, admin),
            env,
        )
    }

    fn launch_with(
        dir: &Path,
        storage: &str,
        smtp_keys: &str,
        admin_table: &str,
        extra: &str,
        (smtp, admin): (SocketAddr, SocketAddr),
        env: &[(&str, &str)],
    ) -> Self {
        let config = dir.join("envoi.toml");
        let text = format!(
            "hostname = \"envoi.test\"\n\n[storage]\n{storage}\n\n[admin]\n{admin_table}\n\n[smtp]\nreverse_dns = false\n{smtp_keys}\n[[smtp.listener]]\naddress = \"{smtp}\"\n\n{extra}\n",
        );
        std::fs::write(&config, text).unwrap();
        let log = dir.join(format!(
            "envoi-{}.log",
            Instant::now().elapsed().as_nanos() ^ u128::from(free_port())
        ));
        let child = Command::new(env!("CARGO_BIN_EXE_envoi"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("ENVOI_FAILPOINT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Self {
            child: Some(child),
            smtp,
            admin,
            dir: dir.to_owned(),
            log,
            config,
        };
        wait_for("envoi ready", || {
            daemon.log_text().contains("envoi ready").then_some(())
        });
        daemon
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "envoi did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit on its own; returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        wait_for("envoi to exit", || child.try_wait().unwrap())
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// Kills the daemon with SIGKILL (a crash) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("daemon running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends a signal (`"HUP"`, `"TERM"`...) to the daemon.
    pub fn signal(&self, name: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("daemon running")
            .id()
            .to_string();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Runs `envoi reload` against this daemon.
    pub fn reload_cli(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_envoi"))
            .arg("reload")
            .arg("--admin")
            .arg(format!("http://{}", self.admin))
            .output()
            .unwrap()
    }

    /// Runs `envoi queue ARGS` against this daemon.
    pub fn queue_cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_envoi"))
            .arg("queue")
            .arg("--admin")
            .arg(format!("http://{}", self.admin))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A minimal HTTP/1.1 GET: the whole response, status line and headers included.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A minimal SMTP client: sends one message, returns the reply to the final dot.
pub fn send(addr: SocketAddr, from: &str, to: &[&str], message: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let expect = |reader: &mut BufReader<TcpStream>, code: &str| -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(all.starts_with(code), "expected {code}, got {all:?}");
        all
    };
    expect(&mut reader, "220");
    stream.write_all(b"EHLO client.test\r\n").unwrap();
    expect(&mut reader, "250");
    stream
        .write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .unwrap();
    expect(&mut reader, "250");
    for rcpt in to {
        stream
            .write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
            .unwrap();
        expect(&mut reader, "250");
    }
    stream.write_all(b"DATA\r\n").unwrap();
    expect(&mut reader, "354");
    stream.write_all(message).unwrap();
    stream.write_all(b".\r\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let _ = stream.write_all(b"QUIT\r\n");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    line
}

/// A test message with a unique Message-ID.
pub fn message(tag: &str) -> Vec<u8> {
    format!(
        "From: sender@src.test\r\nTo: rcpt@dst.test\r\nSubject: {tag}\r\nMessage-ID: <{tag}@src.test>\r\n\r\nHello {tag}.\r\n..leading dot line\r\n"
    )
    .into_bytes()
}
