//! Large transfers that do not end well: a dropped connection at every stage, an aborted or
//! refused transaction, and SIGKILL in the middle of streaming. Nothing acknowledged is lost,
//! and no body is left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::big::{as_received, big_message, body_files, stuffed, Client};
use support::hop::{Hop, HopScript};
use support::{wait_for, Daemon};

const MIB: usize = 1024 * 1024;

/// Relays to `hop`, and waits an hour before any retry.
fn config(hop: &Hop) -> String {
    format!(
        "[relay]\ntls = \"none\"\nsmarthost = \"smtp://127.0.0.1:{}\"\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"1h\"]\n",
        hop.port
    )
}

fn wait_for_no_body(dir: &Path, stage: &str) {
    wait_for(&format!("no body file after {stage}"), || {
        body_files(dir).is_empty().then_some(())
    });
}

/// One way to abandon a large transfer, on a fresh connection.
fn abandon(client: &mut Client, stage: &str, message: &[u8]) {
    match stage {
        "DATA, nothing sent" => {
            client.envelope();
            client.command("DATA", "354");
        }
        "DATA, below the spill size" | "DATA, 3 MiB streamed" | "DATA, all but the dot" => {
            let sent = match stage {
                "DATA, below the spill size" => 100 * 1024,
                "DATA, 3 MiB streamed" => 3 * MIB,
                _ => message.len(),
            };
            client.envelope();
            client.command("DATA", "354");
            client.stream.write_all(&stuffed(&message[..sent])).unwrap();
        }
        "BDAT, inside the first chunk" => {
            client.envelope();
            let command = format!("BDAT {}\r\n", 4 * MIB);
            client.stream.write_all(command.as_bytes()).unwrap();
            client.stream.write_all(&message[..2 * MIB]).unwrap();
        }
        "BDAT, between chunks" => {
            client.envelope();
            for piece in message[..4 * MIB].chunks(2 * MIB) {
                let command = format!("BDAT {}\r\n", piece.len());
                client.stream.write_all(command.as_bytes()).unwrap();
                client.stream.write_all(piece).unwrap();
                client.expect("250");
            }
        }
        "BDAT, then RSET" => {
            abandon(client, "BDAT, between chunks", message);
            client.command("RSET", "250");
        }
        "BDAT, over the size limit" => {
            abandon(client, "BDAT, between chunks", message);
            let over = 22 * MIB;
            let command = format!("BDAT {over} LAST\r\n");
            client.stream.write_all(command.as_bytes()).unwrap();
            client.stream.write_all(&vec![b'x'; over]).unwrap();
            client.expect("552");
        }
        "DATA, over the size limit" => {
            client.envelope();
            client.command("DATA", "354");
            let mut over = stuffed(message);
            over.extend_from_slice(&stuffed(&big_message("extra", 2 * MIB)));
            client.stream.write_all(&over).unwrap();
            client.stream.write_all(b".\r\n").unwrap();
            client.expect("552");
        }
        other => panic!("unknown stage {other}"),
    }
}

#[test]
fn a_connection_dropped_at_every_stage_of_a_large_transfer_leaves_no_body() {
    let hop = Hop::start(HopScript::new(&["PIPELINING"], b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &config(&hop));
    let message = big_message("dropped", 24 * MIB);
    for stage in [
        "DATA, nothing sent",
        "DATA, below the spill size",
        "DATA, 3 MiB streamed",
        "DATA, all but the dot",
        "BDAT, inside the first chunk",
        "BDAT, between chunks",
        "BDAT, then RSET",
        "BDAT, over the size limit",
        "DATA, over the size limit",
    ] {
        let mut client = Client::connect(daemon.smtp);
        abandon(&mut client, stage, &message);
        drop(client);
        wait_for_no_body(dir.path(), stage);
    }

    // A crash in the middle of a transfer leaves its staging file; the next start removes it.
    let mut client = Client::connect(daemon.smtp);
    abandon(&mut client, "DATA, 3 MiB streamed", &message);
    wait_for("a staging file while the transfer runs", || {
        body_files(dir.path())
            .iter()
            .any(|name| name.starts_with("incoming-"))
            .then_some(())
    });
    daemon.kill9();
    drop(client);
    assert!(
        !body_files(dir.path()).is_empty(),
        "the crash left nothing to sweep"
    );
    let daemon = Daemon::start(dir.path(), &config(&hop));
    assert_eq!(body_files(dir.path()), Vec::<String>::new());
    assert!(
        hop.transactions().is_empty(),
        "an abandoned message was delivered"
    );
    assert!(!daemon.log_text().contains("event=\"accepted\""));
}

/// What the clients of every round sent: (tag, size) of each message, and whether it was
/// acknowledged.
type Sent = Arc<Mutex<Vec<(String, usize, bool)>>>;

/// Sends messages of 200 KiB to 2 MiB, over DATA and BDAT in turn, until the daemon dies.
fn send_until_killed(daemon: &Daemon, round: usize, sent: &Sent) -> std::thread::JoinHandle<()> {
    let (addr, sent) = (daemon.smtp, Arc::clone(sent));
    std::thread::spawn(move || {
        let Ok(mut client) = std::panic::catch_unwind(|| Client::connect(addr)) else {
            return;
        };
        for i in 0.. {
            let tag = format!("r{round:02}m{i:03}");
            let size = 200 * 1024 + (round * 7 + i * 13) % 9 * 200 * 1024;
            let message = big_message(&tag, size);
            sent.lock().unwrap().push((tag, size, false));
            let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if i % 2 == 0 {
                    client.data(&message)
                } else {
                    client.bdat(&message, 300 * 1024)
                }
            }));
            match attempt {
                Ok(reply) if reply.starts_with("250 2.6.0") => {
                    sent.lock().unwrap().last_mut().unwrap().2 = true;
                }
                _ => return,
            }
        }
    })
}

#[test]
fn sigkill_while_streaming_keeps_every_acknowledged_message_intact_and_nothing_else() {
    let deferring = Hop::start(HopScript::new(&["PIPELINING"], b"451 4.4.1 later"));
    let dir = tempfile::tempdir().unwrap();
    let sent: Sent = Arc::default();
    for round in 0..20 {
        let mut daemon = Daemon::start(dir.path(), &config(&deferring));
        let client = send_until_killed(&daemon, round, &sent);
        std::thread::sleep(Duration::from_millis(150 + (round as u64 * 53) % 400));
        daemon.kill9();
        client.join().unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    let acknowledged: Vec<&(String, usize, bool)> = sent.iter().filter(|s| s.2).collect();
    assert!(
        acknowledged.len() >= 20,
        "too few messages acknowledged to mean anything"
    );

    let accepting = Hop::start(HopScript::new(&["PIPELINING"], b"250 2.0.0 ok"));
    let daemon = Daemon::start(dir.path(), &config(&accepting));
    assert!(daemon.queue_cli(&["flush"]).status.success());
    accepting.wait_for(acknowledged.len());
    wait_for_no_body(dir.path(), "the queue drained");
    let txns = accepting.transactions();
    let mut delivered: Vec<String> = Vec::new();
    for txn in &txns {
        let got = as_received(&txn.data);
        let subject = got
            .split(|b| *b == b'\n')
            .find_map(|line| line.strip_prefix(b"Subject: "))
            .map(|tag| String::from_utf8_lossy(tag).trim().to_owned())
            .expect("a Subject header");
        let (tag, size, _) = sent
            .iter()
            .find(|(tag, _, _)| *tag == subject)
            .expect("a delivered message that no client sent");
        assert!(got == big_message(tag, *size), "message {tag} damaged");
        delivered.push(tag.clone());
    }
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "a message was delivered twice"
    );
    for (tag, _, _) in &acknowledged {
        assert!(delivered.contains(tag), "acknowledged message {tag} lost");
    }
}
