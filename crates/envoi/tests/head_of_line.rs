//! End to end on the real binary: a next hop that takes 5 s per reply, with a backlog bigger
//! than every delivery slot, does not hold up mail for another next hop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::hop::{Hop, HopScript};
use support::{message, send, Daemon};

/// A hop that waits 5 s before each reply and counts the transactions it completed.
fn slow_hop(completed: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let completed = completed.clone();
            std::thread::spawn(move || {
                let _ = serve_slowly(stream, &completed);
            });
        }
    });
    port
}

fn serve_slowly(stream: TcpStream, completed: &AtomicUsize) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let reply = |out: &mut TcpStream, text: &[u8]| -> std::io::Result<()> {
        std::thread::sleep(Duration::from_secs(5));
        out.write_all(text)
    };
    reply(&mut out, b"220 slow.test ESMTP\r\n")?;
    let mut in_data = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                reply(&mut out, b"250 2.0.0 queued\r\n")?;
                completed.fetch_add(1, Ordering::SeqCst);
            }
            continue;
        }
        let verb = String::from_utf8_lossy(line.get(..4).unwrap_or(b"")).to_ascii_uppercase();
        match verb.as_str() {
            "DATA" => {
                in_data = true;
                reply(&mut out, b"354 go ahead\r\n")?;
            }
            "QUIT" => return out.write_all(b"221 bye\r\n"),
            "EHLO" | "HELO" => reply(&mut out, b"250 slow.test\r\n")?,
            _ => reply(&mut out, b"250 ok\r\n")?,
        }
    }
}

#[test]
fn a_slow_hop_with_a_backlog_does_not_hold_up_another() {
    let slow_done = Arc::new(AtomicUsize::new(0));
    let slow = slow_hop(slow_done.clone());
    let fast = Hop::start(HopScript::new(&["PIPELINING"], b"250 2.0.0 ok"));
    let dir = tempfile::tempdir().unwrap();
    // Few slots, so that the backlog below is bigger than all of them.
    let mut daemon = Daemon::start(
        dir.path(),
        &format!(
            "[queue]\nmax_deliveries = 8\nmax_per_destination = 4\nshutdown_grace = \"1s\"\n\
             [relay]\ntls = \"none\"\n[relay.routes]\n\"slow.test\" = [\"smtp://127.0.0.1:{slow}\"]\n\
             \"fast.test\" = [\"smtp://127.0.0.1:{}\"]\n",
            fast.port
        ),
    );
    for n in 0..30 {
        let reply = send(
            daemon.smtp,
            "s@src.test",
            &[&format!("r{n}@slow.test")],
            &message("a"),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let reply = send(daemon.smtp, "s@src.test", &["b@fast.test"], &message("b"));
    assert!(reply.starts_with("250 "), "{reply}");
    let delivered = fast.wait_for(1);
    assert_eq!(delivered[0].rcpts, ["b@fast.test"]);
    // Each slow transaction takes at least 30 s (six replies): B went first.
    assert_eq!(
        slow_done.load(Ordering::SeqCst),
        0,
        "B waited behind the slow backlog"
    );
    let listed = daemon.queue_cli(&["destinations", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let slow_row = list["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "slow.test")
        .cloned()
        .unwrap();
    assert_eq!(slow_row["in_flight"], 4, "{list}");
    daemon.terminate();
}
