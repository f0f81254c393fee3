//! What a service manager sees: systemd's readiness protocol (`NOTIFY_SOCKET`), and the man
//! pages and completions generated from the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use support::Daemon;

/// The next notification, as its lines.
fn next_notification(socket: &UnixDatagram) -> Vec<String> {
    let mut buffer = [0u8; 4096];
    let len = socket
        .recv(&mut buffer)
        .expect("a notification within 30 s");
    String::from_utf8_lossy(&buffer[..len])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn systemd_hears_ready_once_listening_then_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let path = socket_path.to_str().unwrap().to_owned();
    let smtp = std::net::SocketAddr::from(([127, 0, 0, 1], support::free_port()));
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], support::free_port()));
    let mut daemon =
        Daemon::start_with_env(dir.path(), "", smtp, admin, &[("NOTIFY_SOCKET", &path)]);

    let ready = next_notification(&socket);
    assert_eq!(ready[0], "READY=1", "{ready:?}");
    assert!(ready[1].starts_with("STATUS=SMTP on"), "{ready:?}");
    // Ready means listening: the banner is there at once.
    let stream = TcpStream::connect(daemon.smtp).unwrap();
    let mut banner = String::new();
    BufReader::new(stream).read_line(&mut banner).unwrap();
    assert!(banner.starts_with("220 "), "{banner}");

    daemon.signal("HUP");
    let reloading = next_notification(&socket);
    assert_eq!(reloading[0], "RELOADING=1", "{reloading:?}");
    assert!(reloading[1].starts_with("MONOTONIC_USEC="), "{reloading:?}");
    assert_eq!(next_notification(&socket)[0], "READY=1");

    assert!(daemon.terminate().success());
    assert_eq!(next_notification(&socket), vec!["STOPPING=1".to_owned()]);
}

#[test]
fn man_pages_and_completions_come_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .arg("manpages")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for page in [
        "envoi.1",
        "envoi-serve.1",
        "envoi-queue-list.1",
        "envoi-config-check.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{page}: {text}");
    }
    let list = std::fs::read_to_string(dir.path().join("envoi-queue-list.1")).unwrap();
    assert!(list.contains("\\-\\-min\\-age"), "{list}");

    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(
        script.contains("_envoi()") && script.contains("hash-password"),
        "{script}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// Starts `envoi serve` with `log` as its `[log]` table (and loopback ports); the caller
/// waits for its readiness in the log's destination.
fn serve_logging_to(dir: &std::path::Path, log: &str) -> std::process::Child {
    let config = dir.join("envoi.toml");
    let text = format!(
        "hostname = \"envoi.test\"\n[storage]\npath = \"{}\"\n[admin]\naddress = \"127.0.0.1:{}\"\n\
         [smtp]\nreverse_dns = false\n[[smtp.listener]]\naddress = \"127.0.0.1:{}\"\n[log]\n{log}\n",
        dir.join("spool").display(),
        support::free_port(),
        support::free_port(),
    );
    std::fs::write(&config, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn logs_go_to_syslog_with_facility_mail_or_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = serve_logging_to(
        dir.path(),
        &format!(
            "output = \"syslog\"\nsyslog_socket = \"{}\"",
            socket_path.display()
        ),
    );
    let ready = loop {
        let mut buffer = [0u8; 8192];
        let len = socket.recv(&mut buffer).expect("syslog messages");
        let message = String::from_utf8_lossy(&buffer[..len]).into_owned();
        if message.contains("envoi ready") {
            break message;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // mail.info: facility 2 × 8 + severity 6.
    assert!(ready.starts_with("<22>"), "{ready}");
    assert!(
        ready.contains(&format!("envoi[{}]: ", child.id())),
        "{ready}"
    );

    let file = dir.path().join("envoi.log");
    let mut child = serve_logging_to(
        dir.path(),
        &format!("output = \"file\"\npath = \"{}\"", file.display()),
    );
    support::wait_for("envoi ready in the log file", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|text| text.contains("envoi ready"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn every_known_series_is_on_metrics_before_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "");
    let text = support::http_get(daemon.admin, "/metrics");
    for line in [
        "envoi_smtp_connections_total{outcome=\"over_limit\"} 0",
        "envoi_smtp_messages_total{outcome=\"refused\"} 0",
        "envoi_messages_accepted_total 0",
        "envoi_recipients_bounced_total 0",
        "envoi_queue_oldest_message_age_seconds 0",
        "envoi_smtp_transaction_duration_seconds_count 0",
        "envoi_delivery_delay_seconds_count 0",
        "envoi_attempt_duration_seconds_count 0",
        "envoi_queue_bytes 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("envoi_build_info{version=\""), "{text}");
}
