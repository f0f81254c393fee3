//! DKIM keys are re-read on reload: a new key signs from then on; a missing one refuses the
//! reload and the running keys go on signing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::dkim::{have_dkimpy, key_table, keygen, signatures, sink_config, verify};
use support::{send, Daemon, Sink};

#[test]
fn a_reload_adds_a_key_and_a_missing_key_refuses_the_reload() {
    if !have_dkimpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (old_key, old_record) = keygen(dir.path(), "src.test", "old", "ed25519");
    let (new_key, new_record) = keygen(dir.path(), "src.test", "new", "rsa");
    let sink = Sink::start("accept");
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "{}{}",
            sink_config(sink.port),
            key_table("src.test", "old", &old_key, "ed25519")
        ),
    );
    let send_one = |tag: &str| {
        let reply = send(
            daemon.smtp,
            "s@src.test",
            &["rcpt@dst.test"],
            &support::message(tag),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    };
    send_one("before");
    assert_eq!(signatures(&sink.wait_for(1)[0].1).len(), 1);

    let running = std::fs::read_to_string(&daemon.config).unwrap();
    let rotated = format!("{running}{}", key_table("src.test", "new", &new_key, "rsa"));
    std::fs::write(&daemon.config, &rotated).unwrap();
    let output = daemon.reload_cli();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && said.contains("dkim"), "{said}");
    send_one("rotated");
    let received = sink.wait_for(2);
    let (lines, ok) = verify(
        dir.path(),
        &received[1].1,
        &format!("{old_record}{new_record}"),
    );
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines,
        vec![
            "pass d=src.test s=old a=ed25519-sha256",
            "pass d=src.test s=new a=rsa-sha256"
        ]
    );

    let missing = dir.path().join("gone.pem");
    let broken = format!(
        "{rotated}{}",
        key_table("src.test", "gone", &missing, "ed25519")
    );
    std::fs::write(&daemon.config, broken).unwrap();
    let output = daemon.reload_cli();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success()
            && said.starts_with("reload refused")
            && said.contains(missing.to_str().unwrap()),
        "{said}"
    );
    send_one("after-refusal");
    assert_eq!(
        signatures(&sink.wait_for(3)[2].1).len(),
        2,
        "the running keys still sign"
    );
}
