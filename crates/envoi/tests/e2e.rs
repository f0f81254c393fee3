//! End to end on the real binary: a source sends through envoi to aiosmtpd sinks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use support::{have_aiosmtpd, message, send, wait_for, Daemon, Sink};

fn unstuffed(wire: &[u8]) -> Vec<u8> {
    String::from_utf8(wire.to_vec())
        .unwrap()
        .replace("\r\n..", "\r\n.")
        .into_bytes()
}

#[test]
fn delivered_bytes_are_the_sent_bytes_plus_one_received_header() {
    if !have_aiosmtpd() {
        return;
    }
    let sink = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", sink.port),
    );
    let sent = message("e2e-1");
    let reply = send(daemon.smtp, "sender@src.test", &["rcpt@dst.test"], &sent);
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");

    let got = sink.wait_for(1);
    let (envelope, bytes) = &got[0];
    assert_eq!(envelope["mail_from"], "sender@src.test");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["rcpt@dst.test"]));
    let text = String::from_utf8(bytes.clone()).unwrap();
    let (first, rest) = text.split_once("\r\n").unwrap();
    assert!(first.starts_with("Received: from client.test"), "{first}");
    // A folded Received header continues on lines starting with white space.
    let after_received: String = rest
        .split_inclusive("\r\n")
        .skip_while(|line| line.starts_with([' ', '\t']))
        .collect();
    assert_eq!(after_received.as_bytes(), unstuffed(&sent).as_slice());
    assert_eq!(text.matches("Received:").count(), 1);
    wait_for("the queue to empty", || {
        daemon
            .log_text()
            .contains("event=\"delivered\"")
            .then_some(())
    });
}

#[test]
fn a_deferral_is_logged_then_the_retry_delivers() {
    if !have_aiosmtpd() {
        return;
    }
    let sink = Sink::start("defer-first");
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"4s\"]\n",
            sink.port
        ),
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("e2e-2"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    wait_for("a deferral", || {
        daemon.log_text().contains("deferred").then_some(())
    });
    // The deferral is logged just before its outcome is committed: wait for the store.
    let page = wait_for("the deferral in the queue", || {
        let listed = daemon.queue_cli(&["list", "--json"]);
        assert!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        (page["messages"][0]["attempts"] == 1).then_some(page)
    });
    let messages = page["messages"].as_array().expect("messages array");
    assert_eq!(messages.len(), 1, "{page}");

    sink.wait_for(1);
    // The sink stores the message before it answers 250; envoi logs after the 250.
    let log = wait_for("the delivery in the log", || {
        let log = daemon.log_text();
        log.contains("event=\"delivered\"").then_some(log)
    });
    let deferred = log.find("deferred").unwrap();
    let delivered = log
        .find("event=\"delivered\"")
        .or_else(|| log.find("delivered"))
        .unwrap();
    assert!(deferred < delivered, "log order: {log}");
    assert!(
        log.contains("4.3.0"),
        "the deferral's enhanced code is logged"
    );
}

#[test]
fn a_rejected_message_bounces_to_the_sender_domain() {
    if !have_aiosmtpd() {
        return;
    }
    let rejecting = Sink::start("reject");
    let senders = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n[relay.routes]\n\"src.test\" = [\"smtp://127.0.0.1:{}\"]\n",
            rejecting.port, senders.port
        ),
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["nobody@dst.test"],
        &message("e2e-3"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let got = senders.wait_for(1);
    let (envelope, bytes) = &got[0];
    assert_eq!(envelope["mail_from"], "<>", "a bounce has the null sender");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["sender@src.test"]));
    let text = String::from_utf8_lossy(bytes);
    assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status"));
    assert!(text.contains("Final-Recipient: rfc822; nobody@dst.test"));
    assert!(text.contains("Action: failed"));
    assert!(text.contains("Status: 5.1.1"));
    assert!(text.contains("Remote-MTA: dns; 127.0.0.1\r\n"), "{text}");
    assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1"));
    assert!(text.contains("Subject: e2e-3"), "the original is returned");
    assert!(rejecting.messages().is_empty());
}

#[test]
fn sigterm_under_load_loses_no_accepted_message() {
    if !have_aiosmtpd() {
        return;
    }
    let sink = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let relay = format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", sink.port);
    let mut daemon = Daemon::start(dir.path(), &relay);
    let (smtp, admin) = (daemon.smtp, daemon.admin);

    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..40 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let tag = format!("load-{t}-{i}");
                    let result = std::panic::catch_unwind(|| {
                        send(smtp, "sender@src.test", &["rcpt@dst.test"], &message(&tag))
                    });
                    match result {
                        Ok(reply) if reply.starts_with("250") => {
                            accepted.lock().unwrap().insert(tag);
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    wait_for("some accepted messages", || {
        (accepted.lock().unwrap().len() >= 30).then_some(())
    });
    let status = daemon.terminate();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    assert!(status.success(), "envoi exited with {status}");
    let log = daemon.log_text();
    assert!(log.contains("envoi stopped"), "no clean stop in the log");
    drop(daemon);

    let _daemon = Daemon::start_on(dir.path(), &relay, smtp, admin);
    let accepted = accepted.lock().unwrap().clone();
    wait_for("every accepted message at the sink", || {
        let delivered: HashSet<String> = sink
            .messages()
            .iter()
            .filter_map(|(_, bytes)| {
                let text = String::from_utf8_lossy(bytes).into_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
            })
            .collect();
        accepted.is_subset(&delivered).then_some(())
    });
}

#[test]
fn sighup_and_envoi_reload_replace_the_relay_and_say_what_needs_a_restart() {
    if !have_aiosmtpd() {
        return;
    }
    let first = Sink::start("accept");
    let second = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", first.port),
    );
    assert!(send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("before")
    )
    .starts_with("250 "));
    first.wait_for(1);

    let config = std::fs::read_to_string(&daemon.config).unwrap();
    let config = config
        .replace(&first.port.to_string(), &second.port.to_string())
        .replace(
            "reverse_dns = false",
            "reverse_dns = false\nmax_recipients = 7",
        );
    std::fs::write(&daemon.config, config).unwrap();
    daemon.signal("HUP");
    wait_for("the reload", || {
        daemon
            .log_text()
            .contains("configuration reloaded")
            .then_some(())
    });
    let log = daemon.log_text();
    assert!(
        log.contains("applied=relay.smarthost needs_restart=smtp.max_recipients"),
        "{log}"
    );
    // The same reload from the CLI: the listener change still waits for a restart.
    let output = daemon.reload_cli();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "changed, needs a restart: smtp.max_recipients\n"
    );

    assert!(send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("after")
    )
    .starts_with("250 "));
    let got = second.wait_for(1);
    assert!(String::from_utf8_lossy(&got[0].1).contains("Subject: after"));
    assert_eq!(
        first.messages().len(),
        1,
        "the old next hop got mail after the reload"
    );

    std::fs::write(&daemon.config, "[relay]\nsmarthost = \"nonsense\"\n").unwrap();
    let output = daemon.reload_cli();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("reload refused, the running configuration is kept: ")
            && said.contains("relay.smarthost: unknown scheme"),
        "{said}"
    );
    daemon.signal("HUP");
    wait_for("the refused reload", || {
        daemon.log_text().contains("reload refused").then_some(())
    });
    assert!(send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("still")
    )
    .starts_with("250 "));
    second.wait_for(2);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let closed = support::free_port();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[log]\nformat = \"json\"\n\n[relay]\nsmarthost = \"smtp://127.0.0.1:{closed}\"\n"
        ),
    );
    assert!(send(
        daemon.smtp,
        "sender@src.test",
        &["rcpt@dst.test"],
        &message("json")
    )
    .starts_with("250 "));
    let deferred = wait_for("a deferred event", || {
        daemon
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "deferred")
    });
    assert_eq!(deferred["from"], "<sender@src.test>");
    assert_eq!(deferred["to"], "rcpt@dst.test");
    assert_eq!(deferred["dsn"], "4.4.1");
    assert_eq!(deferred["attempt"], 1);
    assert!(deferred["id"].as_str().is_some_and(|id| id.len() == 26));
    for line in daemon.log_text().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}
