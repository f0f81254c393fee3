//! `envoi spool compact` against the real binary: refused while the spool is open, then
//! compacts it and prints the sizes, every message kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::SystemTime;

use envoi_queue::{MessageMeta, NewMessage, Storage};
use envoi_spool::{Spool, SpoolOptions};
use envoi_types::{Address, Envelope, QueueId, Sender};

fn compact(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args(["spool", "compact", "--spool"])
        .arg(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn compact_refuses_an_open_spool_then_compacts_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = SpoolOptions {
        create_dir: true,
        ..SpoolOptions::default()
    };
    let spool = Spool::open(dir.path(), options.clone()).unwrap();
    let envelope = Envelope::new(
        Sender::parse("a@b.org").unwrap(),
        vec![Address::parse("c@d.org").unwrap()],
        b"Subject: kept\r\n\r\nhello\r\n".to_vec(),
    );
    let id = QueueId::new();
    let meta = MessageMeta::new(&envelope, SystemTime::now());
    let message = NewMessage {
        id,
        envelope: envelope.clone(),
        meta,
    };
    spool.write(vec![message]).await.unwrap();

    let refused = compact(dir.path());
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("locked"), "{stderr}");

    drop(spool);
    let done = compact(dir.path());
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let line = format!("{}: ", dir.path().join("spool.redb").display());
    assert!(
        stdout.starts_with(&line) && stdout.contains(" -> "),
        "{stdout}"
    );
    assert_eq!(stdout.matches("allocated").count(), 2, "{stdout}");

    let spool = Spool::open(dir.path(), options).unwrap();
    assert_eq!(spool.get(id).await.unwrap().unwrap().envelope, envelope);
}
