//! End to end on the real binary: the per-destination counters on `/metrics` after real
//! deliveries to hops that accept, refuse for good, refuse for now, or are not there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::hop::{Hop, HopScript};
use support::{free_port, http_get, message, send, wait_for, Daemon};

fn series(counter: &str, destination: &str, value: u64) -> String {
    format!("envoi_destination_{counter}_total{{destination=\"{destination}\"}} {value}")
}

#[test]
fn metrics_count_each_destinations_deliveries_deferrals_bounces_and_connection_failures() {
    let ok = Hop::start(HopScript::new(&[], b"250 2.0.0 ok"));
    let bad = Hop::start(HopScript::new(&[], b"550 5.7.1 refused"));
    let later = Hop::start(HopScript::new(&[], b"451 4.3.0 try later"));
    let down = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(
        dir.path(),
        &format!(
            "[queue]\nshutdown_grace = \"1s\"\n[relay]\ntls = \"none\"\n[relay.routes]\n\
             \"ok.test\" = [\"smtp://127.0.0.1:{}\"]\n\"bad.test\" = [\"smtp://127.0.0.1:{}\"]\n\
             \"later.test\" = [\"smtp://127.0.0.1:{}\"]\n\"down.test\" = [\"smtp://127.0.0.1:{down}\"]\n",
            ok.port, bad.port, later.port
        ),
    );
    let mail = [
        ("a@ok.test", 3),
        ("b@bad.test", 2),
        ("c@later.test", 1),
        ("d@down.test", 1),
    ];
    for (rcpt, count) in mail {
        for n in 0..count {
            let reply = send(
                daemon.smtp,
                "s@src.test",
                &[rcpt],
                &message(&format!("{n}")),
            );
            assert!(reply.starts_with("250 "), "{reply}");
        }
    }
    let expected = [
        series("delivered", "ok.test", 3),
        series("bounced", "bad.test", 2),
        series("deferred", "later.test", 1),
        series("deferred", "down.test", 1),
        series("connection_failures", "down.test", 1),
        series("connection_failures", "ok.test", 0),
        series("delivered", "bad.test", 0),
    ];
    let text = wait_for("the counters on /metrics", || {
        let text = http_get(daemon.admin, "/metrics");
        expected
            .iter()
            .all(|line| text.lines().any(|l| l == line))
            .then_some(text)
    });
    assert!(
        text.contains("# TYPE envoi_destination_delivered_total counter"),
        "{text}"
    );
    // Fewer destinations than the top 20 (the two bounces went to src.test): no "(other)".
    assert!(!text.contains("destination=\"(other)\""), "{text}");
    assert_eq!(ok.transactions().len(), 3);
    daemon.terminate();
}
