//! The SMTP edge on the real binary against a slow client, and what an operator sees of a
//! session: its log lines and the refusal counters on `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{http_get, wait_for, Daemon, PATIENCE};

/// Reads one reply line.
fn line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

/// A 3-second command deadline against a client sending one octet a second: each read comes
/// in time, the line never does. The reply names the deadline and the server closes; a
/// client that finished its line would have got `250` instead.
#[test]
fn one_octet_a_second_gets_421_4_4_2_at_the_command_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_smtp(dir.path(), "command_timeout = \"3s\"\n", "");
    let stream = TcpStream::connect(daemon.smtp).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert!(line(&mut reader).starts_with("220 envoi.test "));
    let mut writer = stream;
    let dribbler = std::thread::spawn(move || {
        for octet in b"NOOP one octet a second\r\n" {
            if writer.write_all(&[*octet]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest,
        "421 4.4.2 envoi.test Timeout waiting for client, closing connection\r\n"
    );
    dribbler.join().unwrap();
    wait_for("the disconnect line", || {
        daemon
            .log_text()
            .lines()
            .any(|l| l.contains("event=\"disconnect\"") && l.contains("reason=\"timeout\""))
            .then_some(())
    });
}

/// The body of `GET path` from the admin listener.
#[test]
fn a_session_logs_connect_each_refusal_and_disconnect_and_counts_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_smtp(dir.path(), "receiving_domains = [\"example.org\"]\n", "");
    let stream = TcpStream::connect(daemon.smtp).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    assert!(line(&mut reader).starts_with("220 "));
    // Loopback is trusted by default and may relay: use a recipient that is refused anyway.
    let commands: [&[u8]; 4] = [
        b"HELO client.test\r\n",
        b"MAIL FROM:<a@src.test>\r\n",
        b"RCPT TO:<evil\x1b[31m@example.org>\r\n",
        b"QUIT\r\n",
    ];
    let mut replies = Vec::new();
    for command in commands {
        writer.write_all(command).unwrap();
        replies.push(line(&mut reader));
    }
    assert_eq!(replies[2], "553 5.1.3 Mailbox name not allowed\r\n");
    let log = wait_for("the disconnect line", || {
        let log = daemon.log_text();
        log.contains("event=\"disconnect\"").then_some(log)
    });
    assert!(
        !log.contains('\x1b'),
        "a raw control character reached the log"
    );
    let find = |event: &str| {
        log.lines()
            .find(|l| l.contains(&format!("event=\"{event}\"")))
            .unwrap_or_else(|| panic!("no {event} line in:\n{log}"))
            .to_owned()
    };
    let connect = find("connect");
    assert!(connect.contains("client=unknown[127.0.0.1]"), "{connect}");
    let refused = find("refused");
    for part in [
        "stage=\"rcpt\"",
        "code=553",
        "dsn=\"5.1.3\"",
        "helo=client.test",
        "from=<a@src.test>",
        "to=evil\\x1b[31m@example.org",
        "reason=\"Mailbox name not allowed\"",
    ] {
        assert!(refused.contains(part), "{part} not in {refused}");
    }
    let disconnect = find("disconnect");
    for part in [
        "helo=client.test",
        "commands=4",
        "messages=0",
        "errors=0",
        "reason=\"quit\"",
    ] {
        assert!(disconnect.contains(part), "{part} not in {disconnect}");
    }
    let metrics = http_get(daemon.admin, "/metrics");
    let counter = metrics
        .lines()
        .find(|l| l.starts_with("envoi_smtp_refusals_total{"))
        .unwrap_or_else(|| panic!("no refusal counter in:\n{metrics}"));
    assert!(
        counter.contains("stage=\"rcpt\"")
            && counter.contains("code=\"553\"")
            && counter.ends_with(" 1"),
        "{counter}"
    );
}
