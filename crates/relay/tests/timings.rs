//! Each outcome says where the relay's time went: opening a session (every host tried) and
//! the transaction over it. The peers here stall on purpose, so each part has a known lower
//! bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use envoi_relay::{NextHop, TlsPolicy};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// How long each stalling peer waits before it answers.
const STALL: Duration = Duration::from_millis(300);

/// A host that accepts, waits [`STALL`], then refuses the session with `421` (so the relay
/// moves on to the next host); returns its port.
async fn slow_refuser() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(STALL).await;
                let _ = socket.write_all(b"421 4.3.2 busy\r\n").await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

fn hop(port: u16) -> NextHop {
    NextHop::smtp("127.0.0.1", port).with_tls(TlsPolicy::None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_reports_its_connection_and_transfer_times() {
    let refuser = slow_refuser().await;
    let peer = Peer::start(Script::default().after_data(|_| {
        std::thread::sleep(STALL);
        vec!["250 2.0.0 queued".to_owned()]
    }))
    .await;
    let relay = relay_to(peer.port(), |c| {
        c.routes
            .add("dest.test", vec![hop(refuser), hop(peer.port())]);
    });
    let out = attempt(&relay, &envelope(&["a@dest.test", "b@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["250 2.0.0", "250 2.0.0"]);
    for outcome in &out {
        let timings = outcome.timings.expect("the relay reports its timings");
        // The first host's stall was spent opening a session; the peer's stall after the
        // dot, in the transaction.
        assert!(timings.connection >= STALL, "{timings:?}");
        assert!(timings.transfer >= STALL, "{timings:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_means_all_of_it_went_on_connecting() {
    let refuser = slow_refuser().await;
    let relay = relay_to(refuser, |_| {});
    let out = attempt(&relay, &envelope(&["a@dest.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["421 4.3.2"]);
    let timings = out[0].timings.expect("the relay reports its timings");
    assert!(timings.connection >= STALL, "{timings:?}");
    assert_eq!(timings.transfer, Duration::ZERO);
}
