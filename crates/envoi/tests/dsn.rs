//! The DSN extension end to end on the real binary: a client sends with `RET=HDRS`,
//! `ENVID`, `ORCPT`, `NOTIFY=NEVER` and `NOTIFY=SUCCESS` through envoi to a next hop without
//! DSN that refuses two recipients; the reports envoi sends back through that hop are parsed
//! with an independent parser (Python's `email` package).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::hop::{Hop, HopScript, HopTxn};
use support::{Daemon, PATIENCE};

/// Parses a message with Python's `email` package: its type, report type and subject, the
/// content type of every part, the delivery-status blocks as field lists, and the text of
/// a returned `text/rfc822-headers` part.
const PARSER: &str = r#"
import email, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read())
out = {"type": msg.get_content_type(), "report_type": msg.get_param("report-type"),
       "subject": msg["Subject"], "parts": [], "status": [], "headers": None}
for part in msg.walk():
    kind = part.get_content_type()
    out["parts"].append(kind)
    if kind == "message/delivery-status":
        out["status"] = [[[k, " ".join(v.split())] for k, v in block.items()]
                         for block in part.get_payload()]
    elif kind == "text/rfc822-headers":
        out["headers"] = part.get_payload()
print(json.dumps(out))
"#;

fn have_python() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import email"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: python3 is not installed");
    }
    ok
}

fn parse(message: &[u8]) -> Value {
    let mut child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the parser failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The value of `name` in a parsed block.
fn field<'a>(block: &'a Value, name: &str) -> Option<&'a str> {
    block
        .as_array()?
        .iter()
        .find(|pair| pair[0].as_str() == Some(name))
        .and_then(|pair| pair[1].as_str())
}

/// Sends `lines` (MAIL and RCPTs) and a message; every reply must be 2xx or 354.
fn send_lines(addr: SocketAddr, lines: &[&str], message: &[u8]) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = || loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return line;
        }
    };
    assert!(reply().starts_with("220"));
    for line in ["EHLO client.test"].iter().chain(lines).chain(&["DATA"]) {
        out.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let got = reply();
        assert!(
            got.starts_with('2') || got.starts_with("354"),
            "{line}: {got}"
        );
    }
    out.write_all(&[message, b".\r\n"].concat()).unwrap();
    assert!(reply().starts_with("250"));
    let _ = out.write_all(b"QUIT\r\n");
}

/// The report among `txns` whose subject is `subject`, parsed.
fn report(txns: &[HopTxn], subject: &str) -> Value {
    let found: Vec<Value> = txns
        .iter()
        .filter(|t| t.mail == "MAIL FROM:<>")
        .map(|t| parse(&t.data))
        .filter(|p| p["subject"] == subject)
        .collect();
    assert_eq!(found.len(), 1, "one report {subject:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn bounces_honour_ret_envid_orcpt_and_notify_and_success_is_reported_as_relayed() {
    if !have_python() {
        return;
    }
    let hop = Hop::start(HopScript::new(&["PIPELINING"], b"250 2.0.0 ok").rejecting("reject"));
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", hop.port),
    );
    let message = b"From: sender@src.test\r\nSubject: dsn-e2e\r\n\r\nHello body.\r\n";
    send_lines(
        daemon.smtp,
        &[
            "MAIL FROM:<sender@src.test> RET=HDRS ENVID=ENV+2B1",
            "RCPT TO:<reject-a@dst.test> ORCPT=rfc822;Orig-A+2Bx@dst.test",
            "RCPT TO:<reject-b@dst.test> NOTIFY=NEVER",
            "RCPT TO:<ok@dst.test> NOTIFY=SUCCESS",
        ],
        message,
    );
    // The original to ok@, then the bounce and the success report to the sender.
    let txns = hop.wait_for(3);
    let log = daemon.log_text();
    assert!(
        log.contains("event=\"not-bounced\"")
            && log.contains("to=reject-b@dst.test reason=\"the sender's NOTIFY excludes FAILURE\""),
        "{log}"
    );
    for action in ["failed", "relayed"] {
        assert!(
            log.contains(&format!("action=\"{action}\" rcpts=1")),
            "{log}"
        );
    }
    assert_eq!(txns[0].mail, "MAIL FROM:<sender@src.test>");
    assert_eq!(txns[0].rcpts, ["ok@dst.test"]);

    let bounce = report(&txns, "Undelivered Mail Returned to Sender");
    assert_eq!(bounce["type"], "multipart/report");
    assert_eq!(bounce["report_type"], "delivery-status");
    let status = bounce["status"].as_array().unwrap();
    assert_eq!(
        status.len(),
        2,
        "one per-recipient block: NOTIFY=NEVER is left out"
    );
    assert_eq!(field(&status[0], "Original-Envelope-Id"), Some("ENV+1"));
    assert_eq!(field(&status[0], "Reporting-MTA"), Some("dns; envoi.test"));
    let rcpt = &status[1];
    assert_eq!(
        field(rcpt, "Original-Recipient"),
        Some("rfc822; Orig-A+x@dst.test")
    );
    assert_eq!(
        field(rcpt, "Final-Recipient"),
        Some("rfc822; reject-a@dst.test")
    );
    assert_eq!(field(rcpt, "Action"), Some("failed"));
    assert_eq!(field(rcpt, "Status"), Some("5.1.1"));
    // RET=HDRS: the headers come back, the body does not.
    assert!(!bounce["parts"]
        .as_array()
        .unwrap()
        .contains(&"message/rfc822".into()));
    let headers = bounce["headers"].as_str().unwrap();
    assert!(headers.contains("Subject: dsn-e2e"), "{headers}");
    let bounce_bytes = txns.iter().find(|t| t.mail == "MAIL FROM:<>").unwrap();
    assert!(!String::from_utf8_lossy(&bounce_bytes.data).contains("Hello body."));

    let success = report(&txns, "Successful Mail Delivery Report");
    let status = success["status"].as_array().unwrap();
    assert_eq!(status.len(), 2);
    assert_eq!(field(&status[0], "Original-Envelope-Id"), Some("ENV+1"));
    assert_eq!(
        field(&status[1], "Final-Recipient"),
        Some("rfc822; ok@dst.test")
    );
    assert_eq!(field(&status[1], "Action"), Some("relayed"));
    assert_eq!(field(&status[1], "Status"), Some("2.0.0"));
    assert_eq!(field(&status[1], "Remote-MTA"), Some("dns; 127.0.0.1"));
}
