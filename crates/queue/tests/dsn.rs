//! The delivery status notifications the queue sends (RFC 3464, RFC 6533): one per message per
//! attempt listing every recipient that failed in it, the remote host by name, and no `smtp`
//! diagnostic for a failure envoi made itself. Memory store, scripted relays, paused time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failed assertion

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use envoi_queue::testkit::suite::{run_for, send};
use envoi_queue::testkit::ScriptedRelay;
use envoi_queue::{Delivery, MemoryStore, Outcome, Queue, Relay, RelayError, Schedule};
use envoi_types::{Envelope, Reply};
use mail_parser::{MessageParser, MimeHeaders};

/// One DSN, parsed: the report type and the status part's field blocks (per-message first),
/// each field unfolded.
struct Dsn {
    report_type: String,
    status_type: String,
    blocks: Vec<Vec<(String, String)>>,
}

impl Dsn {
    fn parse(bounce: &Envelope) -> Self {
        let parsed = MessageParser::default()
            .parse(bounce.message.as_bytes())
            .expect("the bounce parses as MIME");
        let ct = parsed.content_type().expect("a content type");
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        let report_type = ct.attribute("report-type").unwrap().to_owned();
        let status = parsed
            .parts
            .iter()
            .find(|p| {
                p.content_type().is_some_and(|c| {
                    c.ctype() == "message"
                        && c.subtype().is_some_and(|s| s.ends_with("delivery-status"))
                })
            })
            .expect("a delivery-status part");
        let ct = status.content_type().unwrap();
        let status_type = format!("{}/{}", ct.ctype(), ct.subtype().unwrap());
        let text = String::from_utf8(status.contents().to_vec()).expect("UTF-8 status");
        let blocks = text
            .split("\r\n\r\n")
            .filter(|b| !b.trim().is_empty())
            .map(fields)
            .collect();
        Self {
            report_type,
            status_type,
            blocks,
        }
    }

    /// The per-recipient blocks.
    fn recipients(&self) -> &[Vec<(String, String)>] {
        &self.blocks[1..]
    }
}

/// `Name: value` fields of one block, continuation lines joined with a space.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            let last = out.last_mut().expect("a continuation follows a field");
            last.1.push(' ');
            last.1.push_str(line.trim_start());
        } else {
            let (name, value) = line.split_once(": ").expect("a field");
            out.push((name.to_owned(), value.to_owned()));
        }
    }
    out
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn names(block: &[(String, String)]) -> Vec<&str> {
    block.iter().map(|(n, _)| n.as_str()).collect()
}

async fn queue_with(relay: Arc<dyn Relay>) -> Queue {
    Queue::builder(Arc::new(MemoryStore::new()), relay)
        .backoff(Schedule {
            delays: vec![Duration::from_secs(1000)],
        })
        .max_lifetime(Duration::from_secs(3600))
        .node("envoi.test")
        .start()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_bounce_per_attempt_lists_every_recipient_that_failed_in_it() {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "550 5.1.1 no such user");
    relay.always("b@dst.test", "552 5.2.2 mailbox full");
    relay.then("c@dst.test", &["451 4.2.0 later", "554 5.7.1 refused"]);
    let queue = queue_with(relay.clone()).await;
    send(
        &queue,
        "s@src.test",
        &["a@dst.test", "b@dst.test", "c@dst.test", "d@dst.test"],
    )
    .await;
    run_for(Duration::from_secs(5000)).await;

    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 2, "one bounce per attempt that had failures");
    let first = Dsn::parse(&bounces[0]);
    assert_eq!(first.report_type, "delivery-status");
    assert_eq!(first.status_type, "message/delivery-status");
    assert_eq!(
        names(&first.blocks[0]),
        // RFC 3464 §2.2: extension fields come after the standard ones.
        ["Reporting-MTA", "Arrival-Date", "X-Envoi-Queue-ID"]
    );
    assert_eq!(
        field(&first.blocks[0], "Reporting-MTA"),
        Some("dns; envoi.test")
    );
    let listed: Vec<_> = first
        .recipients()
        .iter()
        .map(|b| field(b, "Final-Recipient").unwrap())
        .collect();
    assert_eq!(listed, ["rfc822; a@dst.test", "rfc822; b@dst.test"]);
    let b = &first.recipients()[1];
    assert_eq!(
        names(b),
        [
            "Final-Recipient",
            "Action",
            "Status",
            "Remote-MTA",
            "Diagnostic-Code",
            "Last-Attempt-Date"
        ]
    );
    assert_eq!(field(b, "Action"), Some("failed"));
    assert_eq!(field(b, "Status"), Some("5.2.2"));
    assert_eq!(field(b, "Remote-MTA"), Some("dns; mx.test"));
    assert_eq!(
        field(b, "Diagnostic-Code"),
        Some("smtp; 552 5.2.2 mailbox full")
    );

    let second = Dsn::parse(&bounces[1]);
    let listed: Vec<_> = second
        .recipients()
        .iter()
        .map(|b| field(b, "Final-Recipient").unwrap())
        .collect();
    assert_eq!(listed, ["rfc822; c@dst.test"]);
}

/// Answers every recipient but the original sender with a reply the relay made itself (no
/// remote host answered), as a DNS failure does; records what it was given.
struct LocalFailure {
    reply: &'static str,
    calls: Mutex<Vec<Envelope>>,
}

#[async_trait]
impl Relay for LocalFailure {
    async fn attempt(&self, envelope: &Envelope, _attempt: u32) -> Result<Delivery, RelayError> {
        self.calls.lock().unwrap().push(envelope.clone());
        let reply = Reply::parse(format!("{}\r\n", self.reply).as_bytes()).unwrap();
        let outcomes = envelope
            .recipients
            .iter()
            .map(|r| match r.as_str() {
                "s@src.test" => Outcome::new(Reply::parse(b"250 2.0.0 ok\r\n").unwrap(), None),
                _ => Outcome::local(reply.clone(), None),
            })
            .collect();
        Ok(Delivery::PerRecipient(outcomes))
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_envoi_made_has_no_remote_mta_and_no_smtp_diagnostic() {
    let relay = Arc::new(LocalFailure {
        reply: "550 5.1.2 Recipient domain not found",
        calls: Mutex::new(Vec::new()),
    });
    let queue = queue_with(relay.clone()).await;
    send(&queue, "s@src.test", &["a@gone.test"]).await;
    run_for(Duration::from_secs(10)).await;
    let calls = relay.calls.lock().unwrap().clone();
    let bounces: Vec<&Envelope> = calls.iter().filter(|e| e.sender.is_null()).collect();
    assert_eq!(bounces.len(), 1);
    let dsn = Dsn::parse(bounces[0]);
    let block = &dsn.recipients()[0];
    assert_eq!(field(block, "Status"), Some("5.1.2"));
    assert_eq!(field(block, "Remote-MTA"), None);
    assert_eq!(
        field(block, "Diagnostic-Code"),
        Some("X-Envoi; 550 5.1.2 Recipient domain not found")
    );
}

#[tokio::test(start_paused = true)]
async fn expiry_after_a_remote_deferral_names_no_remote_mta() {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.3.0 try later");
    let queue = queue_with(relay.clone()).await;
    let id = send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(10)).await;
    assert_eq!(relay.calls_for("a@dst.test").len(), 1);
    queue.hold(id).await.unwrap();
    run_for(Duration::from_secs(4000)).await;

    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let dsn = Dsn::parse(&bounces[0]);
    let block = &dsn.recipients()[0];
    assert_eq!(field(block, "Status"), Some("4.4.7"));
    assert_eq!(field(block, "Remote-MTA"), None);
    let diagnostic = field(block, "Diagnostic-Code").unwrap();
    assert!(
        diagnostic.starts_with("X-Envoi; 450 4.4.7 Message expired"),
        "{diagnostic}"
    );
}

#[tokio::test(start_paused = true)]
async fn giving_up_after_remote_deferrals_keeps_the_host_but_is_not_an_smtp_diagnostic() {
    let relay = ScriptedRelay::new();
    relay.always("a@dst.test", "451 4.3.0 try later");
    let queue = queue_with(relay.clone()).await;
    send(&queue, "s@src.test", &["a@dst.test"]).await;
    run_for(Duration::from_secs(4000)).await;

    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let dsn = Dsn::parse(&bounces[0]);
    let block = &dsn.recipients()[0];
    assert_eq!(field(block, "Status"), Some("4.3.0"));
    assert_eq!(field(block, "Remote-MTA"), Some("dns; mx.test"));
    assert_eq!(
        field(block, "Diagnostic-Code"),
        Some("X-Envoi; 451 4.3.0 try later (Too many retries)")
    );
}

#[tokio::test(start_paused = true)]
async fn a_utf8_recipient_makes_a_global_delivery_status() {
    let relay = ScriptedRelay::new();
    relay.always("jörg@dst.test", "550 5.1.1 no such user");
    relay.always("a@dst.test", "550 5.1.1 no such user");
    let queue = queue_with(relay.clone()).await;
    send(&queue, "s@src.test", &["jörg@dst.test", "a@dst.test"]).await;
    run_for(Duration::from_secs(10)).await;

    let bounces = relay.bounces_to("s@src.test");
    assert_eq!(bounces.len(), 1);
    let dsn = Dsn::parse(&bounces[0]);
    assert_eq!(dsn.report_type, "global-delivery-status");
    assert_eq!(dsn.status_type, "message/global-delivery-status");
    let listed: Vec<_> = dsn
        .recipients()
        .iter()
        .map(|b| field(b, "Final-Recipient").unwrap())
        .collect();
    assert_eq!(listed, ["utf-8; jörg@dst.test", "rfc822; a@dst.test"]);
}
