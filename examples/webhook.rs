//! A custom [`Relay`]: each message is POSTed to an HTTP webhook instead of an SMTP server.
//! The queue (here on the memory store) still does the rest: retries, expiry, bounces.
//!
//! `cargo run -p envoi-examples --example webhook -- http://127.0.0.1:8080/mail` queues one
//! message, waits up to 10 s for its delivery, and stops.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use envoi_queue::{Delivery, MemoryStore, Outcome, Queue, Relay, RelayError};
use envoi_types::{Address, Envelope, Reply, Sender};

/// POSTs the raw message; the envelope travels in `X-Envoi-Sender` and `X-Envoi-Recipients`.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    /// A relay that POSTs to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.into(),
        }
    }
}

#[async_trait]
impl Relay for Webhook {
    async fn attempt(&self, envelope: &Envelope, _attempt: u32) -> Result<Delivery, RelayError> {
        let recipients: Vec<&str> = envelope.recipients.iter().map(Address::as_str).collect();
        let sent = self
            .client
            .post(&self.url)
            .header("X-Envoi-Sender", envelope.sender.as_str())
            .header("X-Envoi-Recipients", recipients.join(","))
            .body(envelope.message.bytes())
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        // The queue decides from the SMTP class: 2xx delivered, 4xx retried, 5xx bounced.
        let reply = match sent.map(|response| response.status()) {
            Ok(status) if status.is_success() => Reply::with_default_code(250, "Posted"),
            Ok(status) if status.is_client_error() && status.as_u16() != 429 => {
                Reply::with_default_code(554, &format!("Webhook refused: {status}"))
            }
            Ok(status) => Reply::with_default_code(451, &format!("Webhook failed: {status}")),
            Err(error) => Reply::with_default_code(451, &format!("Webhook unreachable: {error}")),
        };
        Ok(Delivery::Whole(Outcome::new(reply, Some(self.url.clone()))))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/mail".into());
    let queue = Queue::builder(Arc::new(MemoryStore::new()), Arc::new(Webhook::new(url)))
        .start()
        .await?;

    let message: &[u8] = b"From: you@example.org\r\nSubject: hello\r\n\r\nHello, webhook.\r\n";
    let sender = Sender::parse("you@example.org")?;
    let recipients = vec![Address::parse("friend@example.net")?];
    let ids = queue
        .enqueue(Envelope::new(sender, recipients, message))
        .await?;
    for id in &ids {
        println!("queued {id}");
    }

    for _ in 0..100 {
        if queue.is_empty() {
            println!("delivered");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !queue.is_empty() {
        println!("not delivered yet; a real program would keep the queue running");
    }
    queue.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
