//! An SMTP edge on 127.0.0.1:2525, a durable queue on the spool in `./example-spool`, and a
//! relay that hands everything to one smarthost (first argument, default 127.0.0.1:2526),
//! retrying after 60 s, 5 min, 25 min, ~2 h and ~10 h, then bouncing.
//!
//! `cargo run -p envoi-examples --example smarthost -- 127.0.0.1:2526`; Ctrl-C stops it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use envoi_edge::{EdgeConfig, ListenMode, Server};
use envoi_queue::Queue;
use envoi_relay::{NextHop, RelayConfig, SmtpRelay, StaticResolver};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::Envelope;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init(); // a line per delivery event
    let smarthost: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2526".into())
        .parse()?;

    // Store: the spool; `open` blocks, which is fine at start-up.
    let options = SpoolOptions {
        create_dir: true,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(Path::new("example-spool"), options)?;

    // Relay: everything to the smarthost (an IP address, so no DNS is needed).
    let hop = NextHop::smtp(smarthost.ip().to_string(), smarthost.port());
    let relay = SmtpRelay::new(RelayConfig::smarthost(hop), Arc::new(StaticResolver::new()))?;

    // Queue: the seed's backoff, 12 × 5^n seconds after the n-th failure, five retries.
    let queue = Queue::builder(Arc::new(spool), Arc::new(relay))
        .backoff(|_: &Envelope, n| (n <= 5).then(|| Duration::from_secs(12 * 5u64.pow(n))))
        .start()
        .await?;

    // Edge: accepts mail from loopback clients for anywhere, answers 250 once it is stored.
    let mut config = EdgeConfig::new("mx.example.org");
    config.trusted_networks = vec!["127.0.0.0/8".parse()?];
    let server = Server::builder(config, Arc::new(queue.clone())).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;

    let shutdown = CancellationToken::new();
    let on_ctrl_c = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_ctrl_c.cancel();
    });
    server.serve(listener, ListenMode::Plain, shutdown).await?;
    queue.shutdown(Duration::from_secs(10)).await; // what is not delivered stays in the spool
    Ok(())
}
