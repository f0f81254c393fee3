//! A private PostgreSQL server for tests that restart it: `initdb` into a temporary folder,
//! its own port, Debian's binaries under `/usr/lib/postgresql/*/bin`. Run as the `postgres`
//! user when the test runs as root (the server refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::free_port;

/// A running private server; stopped and removed on drop.
pub struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it offers TLS (`ssl = on`, with `server.crt` and `server.key` in its data).
    tls: bool,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl PrivatePg {
    /// Starts a server, or says why not and returns `None` (the caller skips).
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Starts a server that offers TLS with this certificate chain and key (PEM), besides
    /// plain connections; `None` as [`PrivatePg::start`].
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            eprintln!("SKIP: no PostgreSQL binaries under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::tempdir().ok()?;
        if as_root() {
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
        }
        let server = Self {
            bin,
            dir,
            port: free_port(),
            tls: tls.is_some(),
        };
        let data = server.data();
        let init = server.run("initdb", &["-A", "trust", "-U", "postgres", "-D", &data]);
        if !init.status.success() {
            eprintln!(
                "SKIP: initdb failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
            return None;
        }
        if let Some((cert, key)) = tls {
            server.install_certificate(cert, key)?;
        }
        server.ctl("start").then_some(server)
    }

    /// Writes `server.crt` and `server.key` into the data folder, owned by the server's user
    /// with the key private (the server refuses a key others can read).
    fn install_certificate(&self, cert: &str, key: &str) -> Option<()> {
        use std::os::unix::fs::PermissionsExt;
        let data = self.dir.path().join("data");
        for (name, pem) in [("server.crt", cert), ("server.key", key)] {
            let path = data.join(name);
            std::fs::write(&path, pem).ok()?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).ok()?;
            if as_root() {
                Command::new("chown")
                    .arg("postgres")
                    .arg(&path)
                    .status()
                    .ok()?;
            }
        }
        Some(())
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let path = self.bin.join(tool);
        let mut command = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command.args(args).output().unwrap()
    }

    fn ctl(&self, action: &str) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1{}",
            self.port,
            self.dir.path().display(),
            if self.tls { " -c ssl=on" } else { "" }
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        let output = self.run(
            "pg_ctl",
            &[
                "-w", "-m", "fast", "-D", &data, "-l", &log, "-o", &options, action,
            ],
        );
        if !output.status.success() {
            eprintln!(
                "pg_ctl {action} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output.status.success()
    }

    /// Stops and starts the server again.
    pub fn restart(&self) {
        assert!(self.ctl("restart"), "the private server did not restart");
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Where its files are.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}
