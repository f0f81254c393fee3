//! The daemon never stays half alive: when its spool stops for good (here, its writer thread
//! panics while committing a delivery's outcome), `envoi serve` exits non-zero instead of
//! refusing every message with `451` and delivering again what it cannot record.
//! Needs the `failpoints` feature (the spool's `ENVOI_FAILPOINT`).

#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use support::{free_port, have_aiosmtpd, message, send, wait_for, Daemon, Sink};

#[test]
fn a_writer_panic_makes_envoi_exit_non_zero_and_a_restart_finishes_the_work() {
    if !have_aiosmtpd() {
        return;
    }
    let sink = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let relay = format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", sink.port);
    let (smtp, admin) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    let mut daemon = Daemon::start_with_env(
        dir.path(),
        &relay,
        smtp,
        admin,
        &[("ENVOI_FAILPOINT", "commit_attempt.before_commit:panic")],
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("half-1"),
    );
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");

    // Delivered once; recording that panics the writer; the daemon exits non-zero.
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(1), "{status}");
    let log = daemon.log_text();
    assert!(
        log.contains("failpoint commit_attempt.before_commit hit"),
        "{log}"
    );
    assert!(log.contains("spool writer panicked"), "{log}");
    assert!(log.contains("the store stopped"), "{log}");
    assert_eq!(
        sink.messages().len(),
        1,
        "delivered once, never re-sent while up"
    );

    // A restart reopens the spool from its last durable commit: the message is still there
    // (its outcome was never recorded), so it is delivered again, once: the in-flight window.
    let daemon = Daemon::start_on(dir.path(), &relay, smtp, admin);
    let got = sink.wait_for(2);
    assert_eq!(got[0].1, got[1].1);
    wait_for("the queue to empty", || {
        daemon
            .log_text()
            .contains("event=\"delivered\"")
            .then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 2);
}
