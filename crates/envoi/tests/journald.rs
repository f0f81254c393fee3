//! `[log] output = "journald"`: entries reach the journal's native socket with their fields.
//!
//! The journal's socket path is fixed (`/run/systemd/journal/socket`), so envoi runs in a
//! mount namespace of its own (`unshare -m`, as root) whose `/run` is an empty tmpfs linking
//! that path to a datagram socket this test reads. Where namespaces are not allowed the test
//! says so and passes without running.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{free_port, message, send};

fn namespaces_allowed() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The next journal entry as `KEY=value` lines, decoded from the native protocol: each field
/// is `KEY=value\n`, or `KEY\n`, a 64-bit little-endian length, the value and `\n`.
fn next_entry(socket: &UnixDatagram) -> Vec<String> {
    let mut buffer = vec![0u8; 65536];
    let len = socket
        .recv(&mut buffer)
        .expect("a journal entry within 30 s");
    let mut rest = &buffer[..len];
    let mut fields = Vec::new();
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        if head.contains('=') {
            fields.push(head);
            continue;
        }
        let size = u64::from_le_bytes(rest[..8].try_into().unwrap());
        let size = usize::try_from(size).unwrap();
        let value = String::from_utf8_lossy(&rest[8..8 + size]).into_owned();
        rest = &rest[8 + size + 1..];
        fields.push(format!("{head}={value}"));
    }
    fields
}

/// Reads entries until one has every line of `wanted`; answers it.
fn entry_with(socket: &UnixDatagram, wanted: &[&str]) -> Vec<String> {
    for _ in 0..200 {
        let entry = next_entry(socket);
        if wanted.iter().all(|w| entry.iter().any(|l| l == w)) {
            return entry;
        }
    }
    panic!("no journal entry with {wanted:?}");
}

#[test]
fn journald_output_sends_structured_entries_to_the_journal_socket() {
    if !namespaces_allowed() {
        eprintln!("skipped: mount namespaces are not allowed here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir(&journal).unwrap();
    let socket = UnixDatagram::bind(journal.join("socket")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = dir.path().join("envoi.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"envoi.test\"\n[storage]\npath = \"{}\"\n[admin]\naddress = \"{admin}\"\n\
             [smtp]\nreverse_dns = false\n[[smtp.listener]]\naddress = \"{smtp}\"\n\
             [relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n[log]\noutput = \"journald\"\n",
            dir.path().join("spool").display(),
            free_port()
        ),
    )
    .unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd && ln -s {} /run/systemd/journal && exec {} serve --config {}",
        journal.display(),
        env!("CARGO_BIN_EXE_envoi"),
        config.display()
    );
    let _envoi = Killed(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let ready = entry_with(&socket, &["MESSAGE=envoi ready"]);
    for line in ["SYSLOG_IDENTIFIER=envoi", "SYSLOG_FACILITY=2", "PRIORITY=5"] {
        assert!(ready.iter().any(|l| l == line), "no {line} in {ready:?}");
    }
    let reply = send(
        smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("journal-1"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let accepted = entry_with(&socket, &["F_EVENT=accepted"]);
    let id = accepted
        .iter()
        .find_map(|l| l.strip_prefix("F_ID="))
        .expect("the queue id as a field");
    assert_eq!(id.len(), 26, "{accepted:?}");
    assert!(
        accepted
            .iter()
            .any(|l| l == "F_MESSAGE_ID=<journal-1@src.test>"),
        "{accepted:?}"
    );
}

/// The daemon, killed however the test ends (`sh` execs it, so the child is envoi itself).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
