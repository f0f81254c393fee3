//! MTA-STS (RFC 8461) through the real binary: dnsmasq publishes the `_mta-sts` TXT records
//! and MX hosts, an HTTPS server with a test CA serves the policies, an aiosmtpd sink offering
//! STARTTLS with a certificate of that CA is every MX host that resolves to 127.0.0.1.
//!
//! Domains: `sts.test` (MX `mx1.sts.test`, policy `enforce` for `*.sts.test`), `bad.test` (MX
//! `mx.bad.test`, policy `enforce` for `mx1.sts.test` only: no MX matches), `tst.test` (MX
//! `mx.tst.test`, the same policy in `testing` mode), `nocert.test` (MX `mx.nocert.test`,
//! matching its `enforce` policy, but the sink's certificate does not name it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::mta_sts::{have_dnsmasq, Dns, Pki, PolicyServer};
use support::queue_cli::{json, queued_ids, stdout};
use support::{have_aiosmtpd, http_get, message, send, wait_for, Daemon, Sink};

/// Every peer of one test.
struct World {
    dir: tempfile::TempDir,
    _dns: Dns,
    https: PolicyServer,
    sink: Sink,
    config: String,
}

fn policy(mode: &str, mx: &str, max_age: u64) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: {max_age}\r\n")
}

/// The peers, with `sts.test`'s policy allowing `max_age` seconds of caching; `None` (the
/// test skips) without dnsmasq or aiosmtpd.
fn world(sts_max_age: u64) -> Option<World> {
    if !have_dnsmasq() || !have_aiosmtpd() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(
        dir.path(),
        &[
            "mta-sts.sts.test",
            "mta-sts.bad.test",
            "mta-sts.tst.test",
            "mta-sts.nocert.test",
            "mx1.sts.test",
            "mx.bad.test",
            "mx.tst.test",
        ],
    );
    let mut records = Vec::new();
    for domain in ["sts", "bad", "tst", "nocert"] {
        records.push(format!("--txt-record=_mta-sts.{domain}.test,v=STSv1; id=1"));
        records.push(format!("--host-record=mta-sts.{domain}.test,127.0.0.1"));
    }
    for (domain, mx, ip) in [
        ("sts.test", "mx1.sts.test", "127.0.0.1"),
        ("bad.test", "mx.bad.test", "127.0.0.1"),
        ("tst.test", "mx.tst.test", "127.0.0.1"),
        ("nocert.test", "mx.nocert.test", "127.0.0.1"),
    ] {
        records.push(format!("--mx-host={domain},{mx},10"));
        records.push(format!("--host-record={mx},{ip}"));
    }
    let dns = Dns::start(&records);
    let https = PolicyServer::start(
        &pki,
        &[
            (
                "mta-sts.sts.test",
                &policy("enforce", "*.sts.test", sts_max_age),
            ),
            (
                "mta-sts.bad.test",
                &policy("enforce", "mx1.sts.test", 86400),
            ),
            (
                "mta-sts.tst.test",
                &policy("testing", "mx1.sts.test", 86400),
            ),
            (
                "mta-sts.nocert.test",
                &policy("enforce", "mx.nocert.test", 86400),
            ),
        ],
    );
    let sink = Sink::start_tls("accept", &pki.cert, &pki.key);
    let config = format!(
        "[relay]\ndns = [\"127.0.0.1:{}\"]\nmx_port = {}\nca_files = [\"{}\"]\n\n\
         [relay.mta_sts]\nhttps_port = {}\nfetch_timeout = \"20s\"\n",
        dns.port,
        sink.port,
        pki.ca.display(),
        https.port,
    );
    Some(World {
        dir,
        _dns: dns,
        https,
        sink,
        config,
    })
}

/// The `/metrics` line of the MTA-STS failure counter for these labels, once it is there.
fn failure_count(daemon: &Daemon, domain: &str, mode: &str, reason: &str) -> String {
    let labels = [
        format!("domain=\"{domain}\""),
        format!("mode=\"{mode}\""),
        format!("reason=\"{reason}\""),
    ];
    wait_for("the MTA-STS failure counter", || {
        http_get(daemon.admin, "/metrics")
            .lines()
            .find(|l| {
                l.starts_with("envoi_mta_sts_failures_total{")
                    && labels.iter().all(|label| l.contains(label.as_str()))
            })
            .map(str::to_owned)
    })
}

#[test]
fn enforce_delivers_over_verified_tls_only_to_matching_mx_hosts_and_defers_the_rest() {
    let Some(world) = world(86400) else { return };
    let daemon = Daemon::start(world.dir.path(), &world.config);
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["ok@sts.test", "x@bad.test", "z@nocert.test"],
        &message("enforce"),
    );
    assert!(reply.starts_with("250 "), "{reply}");

    let received = world.sink.wait_for(1);
    assert_eq!(
        received[0].0["rcpt_tos"],
        serde_json::json!(["ok@sts.test"])
    );
    assert_eq!(received[0].0["tls"], true, "delivered inside STARTTLS");

    let id = wait_for("the message to stay queued", || {
        queued_ids(&daemon).into_iter().next()
    });
    let shown = wait_for(
        "the bad.test and nocert.test recipients to be deferred",
        || {
            let shown = json(&daemon.queue_cli(&["show", &id, "--json"]));
            let replied = |i: usize| !shown["recipients"][i]["last_reply"].is_null();
            (replied(1) && replied(2)).then_some(shown)
        },
    );
    let ok = &shown["recipients"][0];
    assert_eq!(ok["state"], "delivered");
    assert_eq!(
        ok["tls"],
        serde_json::json!({"policy": "mta-sts", "verified": true})
    );
    let bad = &shown["recipients"][1];
    assert_eq!(bad["state"], "pending");
    assert_eq!(bad["last_reply"]["enhanced"], "4.7.5");
    assert_eq!(bad["last_reply"]["code"], 451);
    assert_eq!(bad["tls"], serde_json::Value::Null, "no session carried it");
    // The certificate does not verify for the MX host: 4.7.5, never clear text.
    let nocert = &shown["recipients"][2];
    assert_eq!(nocert["state"], "pending");
    assert_eq!(nocert["last_reply"]["code"], 454);
    assert_eq!(nocert["last_reply"]["enhanced"], "4.7.5");
    assert!(shown["attempts"].as_u64().unwrap() >= 1, "{shown}");

    let text = stdout(&daemon.queue_cli(&["show", &id]));
    let ok_row = text.lines().find(|l| l.starts_with("ok@sts.test")).unwrap();
    assert!(ok_row.contains("mta-sts (verified)"), "{text}");
    let bad_row = text.lines().find(|l| l.starts_with("x@bad.test")).unwrap();
    assert!(bad_row.contains("451 4.7.5"), "{text}");
    assert_eq!(
        world.sink.messages().len(),
        1,
        "nothing went to mx.bad.test or mx.nocert.test"
    );

    let line = failure_count(&daemon, "bad.test", "enforce", "mx-mismatch");
    assert!(!line.ends_with(" 0"), "{line}");
    let line = failure_count(&daemon, "nocert.test", "enforce", "tls-failure");
    assert!(!line.ends_with(" 0"), "{line}");
}

#[test]
fn testing_mode_delivers_and_counts_what_would_have_failed() {
    let Some(world) = world(86400) else { return };
    let daemon = Daemon::start(world.dir.path(), &world.config);
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["y@tst.test"],
        &message("testing"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let received = world.sink.wait_for(1);
    assert_eq!(received[0].0["rcpt_tos"], serde_json::json!(["y@tst.test"]));
    let line = failure_count(&daemon, "tst.test", "testing", "mx-mismatch");
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        daemon.log_text().contains("MTA-STS policy failure"),
        "the failure is logged"
    );
}

#[test]
fn an_expired_policy_is_fetched_again() {
    // max_age 0: the policy expires as soon as it is fetched.
    let Some(world) = world(0) else { return };
    let daemon = Daemon::start(world.dir.path(), &world.config);
    for (n, tag) in [(1, "first"), (2, "second")] {
        let reply = send(
            daemon.smtp,
            "sender@src.test",
            &["ok@sts.test"],
            &message(tag),
        );
        assert!(reply.starts_with("250 "), "{reply}");
        let received = world.sink.wait_for(n);
        assert_eq!(received[n - 1].0["tls"], true);
    }
    assert_eq!(world.https.requests(), 2, "one fetch per delivery");
}

#[test]
fn a_cached_policy_survives_a_restart() {
    let Some(world) = world(86400) else { return };
    let mut daemon = Daemon::start(world.dir.path(), &world.config);
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["ok@sts.test"],
        &message("before"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    world.sink.wait_for(1);
    assert_eq!(world.https.requests(), 1);
    let cached = world.dir.path().join("spool/mta-sts/sts.test.policy");
    let text = std::fs::read_to_string(&cached).unwrap();
    assert!(text.starts_with("envoi-mta-sts 1\nid: 1\n"), "{text}");
    assert!(text.contains("mx: *.sts.test"), "{text}");
    daemon.terminate();
    drop(daemon);

    // A policy the server would now give is not asked for: the cached one is fresh.
    world.https.publish(
        "mta-sts.sts.test",
        &policy("enforce", "nothing.test", 86400),
    );
    let daemon = Daemon::start(world.dir.path(), &world.config);
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["ok@sts.test"],
        &message("after"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let received = world.sink.wait_for(2);
    assert_eq!(received[1].0["tls"], true);
    assert_eq!(world.https.requests(), 1, "no fetch after the restart");
}
