//! The shared store's server restarts during a run: clients see only `250` or `4xx`, nothing
//! acknowledged is lost, and delivery resumes on its own. Uses a private PostgreSQL server
//! (initdb into a temporary folder), so other tests keep the machine's. Skips, and says so,
//! without PostgreSQL's binaries, `ENVOI_TEST_POSTGRES_URL` (the sign that PostgreSQL tests
//! are wanted) or aiosmtpd.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::private_pg::PrivatePg;
use support::{have_aiosmtpd, message, Daemon, Sink};

/// Sends one message; returns the first reply that is not a success on the way, or the reply
/// to the final dot.
fn try_send(addr: SocketAddr, tag: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    reply();
    let body = message(tag);
    let steps: [&[u8]; 4] = [
        b"EHLO client.test\r\n",
        b"MAIL FROM:<sender@src.test>\r\n",
        b"RCPT TO:<rcpt@dst.test>\r\n",
        b"DATA\r\n",
    ];
    for step in steps {
        stream.write_all(step).unwrap();
        let answer = reply();
        if !(answer.starts_with('2') || answer.starts_with('3')) {
            let _ = stream.write_all(b"QUIT\r\n");
            return answer;
        }
    }
    stream.write_all(&body).unwrap();
    stream.write_all(b".\r\n").unwrap();
    let answer = reply();
    let _ = stream.write_all(b"QUIT\r\n");
    answer
}

#[test]
fn a_database_restart_loses_nothing_acknowledged_and_clients_see_only_250_or_4xx() {
    if std::env::var("ENVOI_TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("SKIP: ENVOI_TEST_POSTGRES_URL is not set");
        return;
    }
    if !have_aiosmtpd() {
        return;
    }
    let Some(server) = PrivatePg::start() else {
        return;
    };
    let sink = Sink::start("accept");
    let relay = format!("[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n", sink.port);
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Daemon> = ["node-a", "node-b"]
        .iter()
        .zip(&dirs)
        .map(|(name, dir)| {
            let storage = format!(
                "kind = \"postgres\"\nurl = \"{}\"\nnode = \"{name}\"\nheartbeat = \"1s\"\n",
                server.url()
            );
            Daemon::start_with_storage(dir.path(), &storage, &relay)
        })
        .collect();

    let done = AtomicBool::new(false);
    let (acknowledged, refused) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let (mut acknowledged, mut refused) = (Vec::new(), 0);
            let mut n = 0;
            while !done.load(Ordering::SeqCst) || n < 300 {
                let tag = format!("outage-{n}");
                let reply = try_send(nodes[n % 2].smtp, &tag);
                if reply.starts_with("250 ") {
                    acknowledged.push(tag);
                } else {
                    assert!(reply.starts_with('4'), "{tag}: a client saw {reply:?}");
                    refused += 1;
                }
                n += 1;
                assert!(n < 20_000, "the sender never stopped");
            }
            (acknowledged, refused)
        });
        std::thread::sleep(Duration::from_millis(500));
        server.restart();
        std::thread::sleep(Duration::from_secs(2));
        done.store(true, Ordering::SeqCst);
        sender.join().unwrap()
    });
    eprintln!(
        "{} acknowledged, {refused} refused with 4xx around the restart",
        acknowledged.len()
    );

    // Everything acknowledged arrives, without a restart of envoi.
    let wanted: HashSet<String> = acknowledged.iter().cloned().collect();
    support::wait_for("every acknowledged message at the sink", || {
        let seen: HashSet<String> = sink
            .messages()
            .iter()
            .filter_map(|(_, bytes)| {
                let text = String::from_utf8_lossy(bytes).into_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
            })
            .collect();
        wanted.is_subset(&seen).then_some(())
    });
    // And new mail is taken again on its own: after a failed write the queue refuses mail at
    // MAIL for a short hold (it cannot know the store healed until a write is tried).
    support::wait_for("new mail accepted again", || {
        let reply = try_send(nodes[0].smtp, "after");
        assert!(
            reply.starts_with("250 ") || reply.starts_with('4'),
            "{reply}"
        );
        if reply.starts_with('4') {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        reply.starts_with("250 ").then_some(())
    });
}
