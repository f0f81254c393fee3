//! The exact bytes of a bounce (golden file) and a MIME parse of it.
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after a deliberate change.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use envoi_queue::bounce::{Action, BounceContext, BounceFactory, DsnBounce, Failure};
use envoi_queue::ReplyOrigin;
use envoi_types::{Address, EnhancedCode, Envelope, Message, QueueId, Reply, Sender};
use mail_parser::{MessageParser, MimeHeaders};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn original(body: &[u8]) -> Envelope {
    let mut env = Envelope::new(
        Sender::parse("alice@src.test").unwrap(),
        vec![
            Address::parse("bob@dst.test").unwrap(),
            Address::parse("carol@dst.test").unwrap(),
        ],
        Message::new(body.to_vec()),
    );
    env.arrival = at(1_795_882_000);
    env
}

fn failures() -> Vec<Failure> {
    let reply = Reply::new(
        550,
        EnhancedCode::new(5, 1, 1),
        "<bob@dst.test>: no such user",
    );
    ["bob@dst.test", "carol@dst.test"]
        .into_iter()
        .map(|r| Failure {
            recipient: Address::parse(r).unwrap(),
            action: Action::Failed,
            reply: reply.clone(),
            remote_host: Some("mx1.dst.test[192.0.2.1]:25".into()),
            origin: ReplyOrigin::Remote,
        })
        .collect()
}

fn render(original: &Envelope, headers_only_above: usize) -> Envelope {
    let factory = DsnBounce {
        reporting_mta: "mx.envoi.test".into(),
        headers_only_above,
    };
    factory.bounce(BounceContext {
        original,
        original_id: QueueId::from_bytes([1; 16]),
        bounce_id: QueueId::from_bytes([2; 16]),
        failures: &failures(),
        now: at(1_795_882_674),
        will_retry_until: None,
    })
}

fn check_golden(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, bytes).unwrap();
    }
    let expected = std::fs::read(&path).unwrap();
    assert_eq!(
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&expected),
        "bounce differs from {name}"
    );
}

const BODY: &[u8] = b"From: alice@src.test\r\nTo: bob@dst.test\r\nSubject: lunch\r\n\r\nnoon?\r\n";

#[test]
fn bounce_bytes_match_golden_file() {
    let bounce = render(&original(BODY), 1024);
    assert!(bounce.sender.is_null());
    assert_eq!(
        bounce.recipients,
        vec![Address::parse("alice@src.test").unwrap()]
    );
    check_golden("bounce.eml", bounce.message.as_bytes());
}

#[test]
fn large_original_returns_headers_only() {
    let mut big = BODY.to_vec();
    big.extend(std::iter::repeat_n(b'x', 4096));
    let bounce = render(&original(&big), 1024);
    check_golden("bounce-headers-only.eml", bounce.message.as_bytes());
    let text = String::from_utf8_lossy(bounce.message.as_bytes()).into_owned();
    assert!(text.contains("Content-Type: text/rfc822-headers"));
    assert!(!text.contains("xxxx"));
}

#[test]
fn mime_parse_finds_one_block_per_failed_recipient() {
    let bounce = render(&original(BODY), 1024);
    let parsed = MessageParser::default()
        .parse(bounce.message.as_bytes())
        .expect("bounce parses as MIME");
    let ct = parsed.content_type().expect("content type");
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("report"));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert!(parsed.message_id().is_some());
    assert!(parsed.date().is_some());

    let status = parsed
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "message" && c.subtype() == Some("delivery-status"))
        })
        .expect("a message/delivery-status part");
    let text = String::from_utf8_lossy(status.contents()).into_owned();
    let blocks: Vec<&str> = text
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(
        blocks.len(),
        3,
        "per-message block + one per recipient: {text:?}"
    );
    assert!(blocks[0].contains("Reporting-MTA: dns; mx.envoi.test"));
    assert!(blocks[0].contains("Arrival-Date: "));
    for (block, rcpt) in blocks[1..].iter().zip(["bob@dst.test", "carol@dst.test"]) {
        assert!(
            block.contains(&format!("Final-Recipient: rfc822; {rcpt}")),
            "{block}"
        );
        assert!(block.contains("Action: failed"));
        assert!(block.contains("Status: 5.1.1"));
        assert!(block.contains("Remote-MTA: dns; mx1.dst.test"));
        assert!(block.contains("Diagnostic-Code: smtp; 550 5.1.1"));
    }
    let returned = parsed
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "message" && c.subtype() == Some("rfc822"))
        })
        .expect("the original as message/rfc822");
    assert!(
        String::from_utf8_lossy(returned.contents()).contains("Subject: lunch")
            || returned.message().is_some()
    );
}
