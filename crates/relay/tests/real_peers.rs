//! Independent peers: Python's aiosmtpd and Postfix's smtp-sink, started as subprocesses.
//! A test whose peer is missing says so and returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::*;
use tokio::process::{Child, Command};

/// A subprocess killed when the test ends, whatever way it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

impl Process {
    async fn stop(mut self) {
        let _ = self.0.kill().await;
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("envoi-relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_aiosmtpd(out: &Path) -> Option<(Process, u16)> {
    let has = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        eprintln!("skipped: python3 with aiosmtpd not installed");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aiosmtpd_peer.py");
    let port = free_port();
    let child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let process = Process(child);
    if !wait_listening(port).await {
        eprintln!("skipped: aiosmtpd did not start");
        return None;
    }
    Some((process, port))
}

fn json_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test]
async fn aiosmtpd_per_recipient_replies_and_exact_content() {
    let out = scratch("aiosmtpd-content");
    let Some((process, port)) = start_aiosmtpd(&out).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    let stored = b"Subject: dots\n\n.leading\n..two\nplain\n";
    let env = envelope(
        &["ok@d.test", "later@d.test", "reject@d.test", "ok2@d.test"],
        stored,
    );
    let out_codes = codes(&attempt(&relay, &env).await);
    assert_eq!(
        out_codes,
        ["250 2.0.0", "450 4.2.1", "550 5.1.1", "250 2.0.0"]
    );
    let files = json_files(&out);
    assert_eq!(files.len(), 1);
    // aiosmtpd undoes the dot-stuffing and keeps the CRLFs it received.
    assert!(
        files[0].contains(r#""rcpt_tos": ["ok@d.test", "ok2@d.test"]"#),
        "{}",
        files[0]
    );
    assert!(
        files[0].contains(r#""content": "Subject: dots\r\n\r\n.leading\r\n..two\r\nplain\r\n""#),
        "{}",
        files[0]
    );
    process.stop().await;
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn aiosmtpd_smtputf8_and_reuse() {
    let out = scratch("aiosmtpd-reuse");
    let Some((process, port)) = start_aiosmtpd(&out).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    for i in 0..10 {
        let rcpt = if i == 0 {
            "j\u{f6}rg@d.test".to_owned()
        } else {
            format!("r{i}@d.test")
        };
        let out_codes = codes(&attempt(&relay, &envelope(&[rcpt.as_str()], MESSAGE)).await);
        assert_eq!(out_codes, ["250 2.0.0"], "message {i}");
    }
    let files = json_files(&out);
    assert_eq!(files.len(), 10);
    assert!(files[0].contains("SMTPUTF8"), "{}", files[0]);
    // One EHLO from the relay (the readiness probe sent none): one connection for ten messages.
    let ehlos = std::fs::read_to_string(out.join("ehlo.log")).unwrap();
    assert_eq!(ehlos.lines().collect::<Vec<_>>(), ["client.test"]);
    process.stop().await;
    let _ = std::fs::remove_dir_all(&out);
}

/// smtp-sink on a free port with extra arguments; dumps go to `dump`.
async fn start_sink(dump: &Path, args: &[&str]) -> Option<(Process, u16)> {
    let sink = Path::new("/usr/sbin/smtp-sink");
    if !sink.exists() {
        eprintln!("skipped: /usr/sbin/smtp-sink not installed");
        return None;
    }
    // smtp-sink drops privileges to the postfix user (required when run as root).
    let _ = std::process::Command::new("chmod")
        .arg("777")
        .arg(dump)
        .status();
    let port = free_port();
    let template = format!("{}/%H%M%S.", dump.display());
    let child = Command::new(sink)
        .args(["-u", "postfix", "-d", &template])
        .args(args)
        .arg(format!("127.0.0.1:{port}"))
        .arg("100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let process = Process(child);
    if !wait_listening(port).await {
        eprintln!("skipped: smtp-sink did not start (no postfix user?)");
        return None;
    }
    Some((process, port))
}

fn dumps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn smtp_sink_receives_two_hundred_recipients_and_the_exact_body() {
    let dump = scratch("sink-body");
    let Some((process, port)) = start_sink(&dump, &[]).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    let rcpts: Vec<String> = (0..200).map(|i| format!("r{i}@d.test")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let stored = b"Subject: sink\n\n.dot line\nlast\n";
    let out = attempt(&relay, &envelope(&refs, stored)).await;
    assert_eq!(codes(&out), vec!["250 2.0.0"; 200]);
    // The dump is written after the reply; wait for it (bounded).
    let mut files = Vec::new();
    for _ in 0..50 {
        files = dumps(&dump);
        if files.len() == 1 && files[0].ends_with("last\n\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].matches("X-Rcpt-Args: <r").count(), 200);
    assert!(
        files[0].contains("X-Mail-Args: <sender@src.test>"),
        "{}",
        files[0]
    );
    // smtp-sink dumps with LF line ends, dot-stuffing undone, and a blank line after.
    assert!(
        files[0].ends_with("Subject: sink\n\n.dot line\nlast\n\n"),
        "{}",
        files[0]
    );
    process.stop().await;
    let _ = std::fs::remove_dir_all(&dump);
}

#[tokio::test]
async fn smtp_sink_hard_rcpt_rejection() {
    let dump = scratch("sink-reject");
    let args = ["-f", "RCPT", "-B", "550 5.1.1 nope"];
    let Some((process, port)) = start_sink(&dump, &args).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["550 5.1.1", "550 5.1.1"]);
    assert_eq!(out[0].reply.text(), "nope");
    process.stop().await;
    let _ = std::fs::remove_dir_all(&dump);
}

#[tokio::test]
async fn smtp_sink_soft_mail_rejection_applies_to_all() {
    let dump = scratch("sink-soft");
    let args = ["-r", "MAIL", "-b", "451 4.3.0 not now"];
    let Some((process, port)) = start_sink(&dump, &args).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test", "b@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.3.0", "451 4.3.0"]);
    process.stop().await;
    let _ = std::fs::remove_dir_all(&dump);
}

#[tokio::test]
async fn smtp_sink_disconnect_after_data_is_4_4_2() {
    let dump = scratch("sink-drop");
    let Some((process, port)) = start_sink(&dump, &["-q", "DATA"]).await else {
        return;
    };
    let relay = relay_to(port, |_| {});
    let out = attempt(&relay, &envelope(&["a@d.test"], MESSAGE)).await;
    assert_eq!(codes(&out), ["451 4.4.2"]);
    process.stop().await;
    let _ = std::fs::remove_dir_all(&dump);
}

#[tokio::test]
async fn smtp_sink_lmtp_mode() {
    let dump = scratch("sink-lmtp");
    let Some((process, port)) = start_sink(&dump, &["-L"]).await else {
        return;
    };
    let mut config =
        envoi_relay::RelayConfig::lmtp(envoi_relay::NextHop::lmtp_tcp("127.0.0.1", port));
    config.helo_name = "client.test".into();
    let relay = envoi_relay::SmtpRelay::new(
        config,
        std::sync::Arc::new(envoi_relay::StaticResolver::new()),
    )
    .unwrap();
    let out = attempt(
        &relay,
        &envelope(&["a@d.test", "b@d.test", "c@d.test"], MESSAGE),
    )
    .await;
    // smtp-sink's LMTP mode answers 2.2.0 for each recipient.
    assert_eq!(codes(&out), vec!["250 2.2.0"; 3]);
    process.stop().await;
    let _ = std::fs::remove_dir_all(&dump);
}
