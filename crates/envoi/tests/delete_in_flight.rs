//! End to end on the real binary: `envoi queue delete` while the next hop is still deciding
//! about a recipient. The hop then refuses it, and no bounce may come of the deleted message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use support::{have_aiosmtpd, message, send, wait_for, Daemon, Sink, PATIENCE};

/// A next hop that holds its RCPT reply until released, then refuses the recipient
/// (`550 5.1.1`). It records that it saw RCPT and that the transaction went on after it.
struct SlowRcptHop {
    port: u16,
    rcpt_seen: Arc<AtomicBool>,
    ended: Arc<AtomicBool>,
    release: Sender<()>,
}

impl SlowRcptHop {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rcpt_seen = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (release, released) = channel();
        let (seen, done) = (rcpt_seen.clone(), ended.clone());
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                serve(stream, &seen, &done, &released);
            }
        });
        Self {
            port,
            rcpt_seen,
            ended,
            release,
        }
    }
}

fn serve(stream: TcpStream, seen: &AtomicBool, ended: &AtomicBool, released: &Receiver<()>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 hop.test ESMTP\r\n").unwrap();
    let mut answered_rcpt = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            ended.store(answered_rcpt, Ordering::SeqCst);
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        if answered_rcpt {
            ended.store(true, Ordering::SeqCst);
        }
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 hop.test\r\n",
            "RCPT" => {
                seen.store(true, Ordering::SeqCst);
                let _ = released.recv_timeout(PATIENCE);
                answered_rcpt = true;
                b"550 5.1.1 no such user here\r\n"
            }
            "DATA" => b"554 5.5.1 no valid recipients\r\n",
            "QUIT" => {
                let _ = writer.write_all(b"221 2.0.0 bye\r\n");
                return;
            }
            _ => b"250 2.0.0 ok\r\n",
        };
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

#[test]
fn a_delete_while_the_hop_delays_its_rcpt_reply_sends_no_bounce() {
    if !have_aiosmtpd() {
        return;
    }
    let hop = SlowRcptHop::start();
    let senders = Sink::start("accept");
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n[relay.routes]\n\"src.test\" = [\"smtp://127.0.0.1:{}\"]\n",
            hop.port, senders.port
        ),
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["nobody@dst.test"],
        &message("e2e-delete"),
    );
    assert!(reply.starts_with("250 2.6.0 "), "{reply}");
    let id = reply.split(['<', '>']).nth(1).unwrap().to_owned();

    wait_for("the hop to get RCPT", || {
        hop.rcpt_seen.load(Ordering::SeqCst).then_some(())
    });
    let deleted = daemon.queue_cli(&["delete", &id]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    hop.release.send(()).unwrap();
    wait_for("the attempt to end", || {
        hop.ended.load(Ordering::SeqCst).then_some(())
    });
    // A bounce, if one were stored, would reach the sender's hop at once.
    wait_for("the deleted attempt's end in the log", || {
        (daemon.log_text().contains("deleted-in-flight") || !senders.messages().is_empty())
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        senders.messages().is_empty(),
        "a bounce was sent for a deleted message"
    );
    let listed = daemon.queue_cli(&["list", "--json"]);
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(page["messages"], serde_json::json!([]), "{page}");
}
