//! Independent clients: Python's smtplib and swaks talk to the server as real MTAs/MUAs do.
//! Each test skips, saying so, when its client is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::tls::{cert, settings, Users};
use common::{config, start_with, TestServer, SAFETY};
use envoi_edge::ListenMode;
use tokio::process::Command;

fn available(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: `{program}` is not installed; this real-client test did not run");
    }
    found
}

async fn run(program: &str, args: &[String]) -> (bool, String) {
    let output = tokio::time::timeout(SAFETY, Command::new(program).args(args).output())
        .await
        .expect("client did not finish within the safety net")
        .unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

async fn python(server: &TestServer, script: &str) -> String {
    let args = vec![
        "-c".to_owned(),
        script.to_owned(),
        server.addr.port().to_string(),
    ];
    let (ok, out) = run("python3", &args).await;
    assert!(ok, "python failed:\n{out}");
    out
}

const PY_PLAIN: &str = r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test')
s.ehlo()
assert s.has_extn('pipelining') and s.has_extn('chunking') and s.has_extn('size'), s.esmtp_features
s.mail('a@src.test')
s.rcpt('b@example.org')
code, text = s.data(b'Subject: py\r\n\r\nhello from smtplib\r\n.leading dot\r\n')
print(code, text.decode())
s.quit()
"#;

#[tokio::test]
async fn python_smtplib_plain() {
    if !available("python3") {
        return;
    }
    let server = start_with(config(), ListenMode::Plain, |b| b).await;
    let out = python(&server, PY_PLAIN).await;
    assert!(out.starts_with("250 2.6.0 <"), "{out}");
    let stored = server.handoff.stored();
    assert_eq!(stored.len(), 1);
    assert!(stored[0]
        .message
        .as_bytes()
        .ends_with(b"Subject: py\r\n\r\nhello from smtplib\r\n.leading dot\r\n"));
    assert_eq!(stored[0].client.helo.as_deref(), Some("py.test"));
}

const PY_PIPELINED: &str = r#"
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = s.makefile('rb')
def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.strip())
        if len(line) < 4 or line[3] == ' ':
            return lines[-1]
reply()
s.sendall(b'EHLO py.test\r\n')
reply()
s.sendall(b'MAIL FROM:<a@src.test>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n')
for _ in range(4):
    print(reply())
s.sendall(b'Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n')
print(reply())
print(reply())
"#;

#[tokio::test]
async fn python_pipelined_socket() {
    if !available("python3") {
        return;
    }
    let server = start_with(config(), ListenMode::Plain, |b| b).await;
    let out = python(&server, PY_PIPELINED).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "250 2.1.5 Recipient OK",
            "354 End data with <CR><LF>.<CR><LF>"
        ],
        "{out}"
    );
    assert!(lines[4].starts_with("250 2.6.0 <"), "{out}");
    assert!(lines[5].starts_with("221 2.0.0"), "{out}");
    assert_eq!(server.handoff.stored()[0].recipients.len(), 2);
}

const PY_STARTTLS_AUTH: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test')
s.ehlo()
assert not s.has_extn('auth'), 'AUTH offered before TLS'
print(s.starttls(context=ctx)[0])
s.ehlo()
assert s.has_extn('auth') and not s.has_extn('starttls'), s.esmtp_features
try:
    s.login('alice', 'wrong')
    print('login with a wrong password succeeded')
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code)
print(s.login('alice', 'secret')[0])
s.mail('a@src.test')
s.rcpt('far@elsewhere.test')
code, text = s.data(b'Subject: tls\r\n\r\nover tls\r\n')
print(code, text.decode())
s.quit()
"#;

#[tokio::test]
async fn python_smtplib_starttls_and_auth() {
    if !available("python3") {
        return;
    }
    let cert = cert();
    let mut cfg = config();
    cfg.tls = Some(settings(&cert));
    let server = start_with(cfg, ListenMode::Plain, |b| b.authenticator(Arc::new(Users))).await;
    let out = python(&server, PY_STARTTLS_AUTH).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["220", "535", "235"], "{out}");
    assert!(lines[3].starts_with("250 2.6.0 <"), "{out}");
    let stored = server.handoff.stored();
    assert_eq!(stored[0].client.auth.as_deref(), Some("alice"));
    assert_eq!(stored[0].client.protocol, "ESMTPSA");
}

const PY_AUTH_LOGIN: &str = r#"
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test')
s.ehlo()
s.user, s.password = 'alice', 'secret'
print(s.auth('LOGIN', s.auth_login)[0])
s.quit()
"#;

#[tokio::test]
async fn python_smtplib_auth_login_when_plaintext_allowed() {
    if !available("python3") {
        return;
    }
    let mut cfg = config();
    cfg.auth.allow_plaintext = true;
    let server = start_with(cfg, ListenMode::Plain, |b| b.authenticator(Arc::new(Users))).await;
    assert_eq!(python(&server, PY_AUTH_LOGIN).await.trim(), "235");
}

fn swaks_args(server: &TestServer, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--server".to_owned(),
        format!("127.0.0.1:{}", server.addr.port()),
        "--from".to_owned(),
        "a@src.test".to_owned(),
        "--helo".to_owned(),
        "swaks.test".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test]
async fn swaks_pipelined_delivery_and_relay_refusal() {
    if !available("swaks") {
        return;
    }
    let server = start_with(config(), ListenMode::Plain, |b| b).await;
    let (ok, out) = run(
        "swaks",
        &swaks_args(&server, &["--to", "b@example.org", "--pipeline"]),
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("<-  250 2.6.0 <"), "{out}");
    assert_eq!(server.handoff.stored().len(), 1);
    let (ok, out) = run("swaks", &swaks_args(&server, &["--to", "x@elsewhere.test"])).await;
    assert!(!ok, "relay must be refused: {out}");
    assert!(out.contains("554 5.7.1 Relay access denied"), "{out}");
    assert_eq!(server.handoff.stored().len(), 1);
}

#[tokio::test]
async fn swaks_auth_plain_relays() {
    if !available("swaks") {
        return;
    }
    let mut cfg = config();
    cfg.auth.allow_plaintext = true;
    let server = start_with(cfg, ListenMode::Plain, |b| b.authenticator(Arc::new(Users))).await;
    let args = swaks_args(
        &server,
        &[
            "--to",
            "x@elsewhere.test",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice",
            "--auth-password",
            "secret",
        ],
    );
    let (ok, out) = run("swaks", &args).await;
    assert!(ok, "{out}");
    assert!(out.contains("235 2.7.0"), "{out}");
    assert_eq!(
        server.handoff.stored()[0].client.auth.as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn swaks_starttls() {
    if !available("swaks") {
        return;
    }
    let supported = std::process::Command::new("swaks")
        .arg("--support")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.contains("=== TLS supported")
        })
        .unwrap_or(false);
    if !supported {
        eprintln!("SKIPPED: swaks lacks STARTTLS support (Debian package libnet-ssleay-perl)");
        return;
    }
    let cert = cert();
    let mut cfg = config();
    cfg.tls = Some(settings(&cert));
    let server = start_with(cfg, ListenMode::Plain, |b| b).await;
    let (ok, out) = run(
        "swaks",
        &swaks_args(&server, &["--to", "b@example.org", "--tls"]),
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(server.handoff.stored()[0].client.protocol, "ESMTPS");
}
