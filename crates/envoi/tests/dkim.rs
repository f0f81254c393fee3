//! DKIM signing through the real binary: keys made by `envoi dkim keygen`, mail signed at
//! enqueue, delivered to an aiosmtpd sink and verified by dkimpy (an independent verifier)
//! against the records keygen printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::dkim::{envoi, have_dkimpy, key_table, keygen, signatures, sink_config, verify};
use support::{send, wait_for, Daemon, Sink};

#[test]
fn rsa_and_ed25519_signatures_verify_for_8bit_folded_and_long_headers() {
    if !have_dkimpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rsa_key, rsa_record) = keygen(dir.path(), "src.test", "r2026", "rsa");
    let (ed_key, ed_record) = keygen(dir.path(), "src.test", "e2026", "ed25519");
    assert!(ed_record.starts_with("e2026._domainkey.src.test. IN TXT \"v=DKIM1; k=ed25519; p="));
    assert!(rsa_record.starts_with("r2026._domainkey.src.test. IN TXT \"v=DKIM1; k=rsa; p="));
    let records = format!("{rsa_record}{ed_record}");
    let sink = Sink::start("accept");
    let config = format!(
        "{}{}{}",
        sink_config(sink.port),
        key_table("src.test", "r2026", &rsa_key, "rsa"),
        key_table("SRC.test", "e2026", &ed_key, "ed25519"),
    );
    let daemon = Daemon::start(dir.path(), &config);

    let long_to: Vec<String> = (0..40).map(|i| format!("person{i}@dst.test")).collect();
    let messages: [Vec<u8>; 3] = [
        "From: \"Zoë, sender\" <sender@src.test>\r\nTo: rcpt@dst.test\r\nSubject: 8-bit\r\n\
         Message-ID: <eight@src.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Grüße aus Köln, ça va ? \u{2014} 日本語\r\n\r\n\r\n"
            .into(),
        format!(
            "From: sender@src.test\r\nTo: {}\r\nSubject: a subject\r\n  folded over\r\n\tthree lines\r\n\
             Message-ID: <folded@src.test>\r\nX-Long: {}\r\n\
             List-Unsubscribe: <mailto:unsub@src.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
             \r\nbody   with  spaces   \r\n\r\n",
            long_to.join(",\r\n "),
            "x".repeat(900)
        )
        .into_bytes(),
        // Lower-case header names, a From on its own continuation line, no trailing CRLF in the body.
        "from:\r\n sender@src.test\r\nto: rcpt@dst.test\r\nsubject: plain\r\n\r\nlast line".into(),
    ];
    for message in &messages {
        let mut data = message.clone();
        if !data.ends_with(b"\r\n") {
            data.extend_from_slice(b"\r\n");
        }
        let reply = send(daemon.smtp, "bounces@src.test", &["rcpt@dst.test"], &data);
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let received = sink.wait_for(messages.len());
    for (_, bytes) in &received {
        let (lines, ok) = verify(dir.path(), bytes, &records);
        assert!(ok, "{lines:?}\n{}", String::from_utf8_lossy(bytes));
        assert_eq!(
            lines,
            vec![
                "pass d=src.test s=r2026 a=rsa-sha256",
                "pass d=src.test s=e2026 a=ed25519-sha256"
            ],
            "one signature per key, in key order"
        );
        let first = &signatures(bytes)[0];
        assert!(first.contains("c=relaxed/relaxed"), "{first}");
    }
    // From is oversigned; absent optional headers are not listed; the list ones present are.
    let folded = signatures(&received[1].1)[0].replace(['\r', '\n', '\t', ' '], "");
    assert!(
        folded
            .contains(";h=List-Unsubscribe-Post:List-Unsubscribe:Message-ID:Subject:To:From:From;"),
        "{folded}"
    );
    assert!(!folded.contains("Reply-To"), "{folded}");
    // A body changed on the way no longer verifies: dkimpy is really checking.
    let mut tampered = received[0].1.clone();
    let at = tampered.len() - 5;
    tampered[at] ^= 1;
    let (lines, ok) = verify(dir.path(), &tampered, &records);
    assert!(!ok, "{lines:?}");
}

#[test]
fn mail_already_signed_for_the_domain_is_not_signed_again() {
    if !have_dkimpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = keygen(dir.path(), "src.test", "e1", "ed25519");
    let sink = Sink::start("accept");
    let config = format!(
        "{}{}",
        sink_config(sink.port),
        key_table("src.test", "e1", &key, "ed25519")
    );
    let daemon = Daemon::start(dir.path(), &config);
    let foreign = "DKIM-Signature: v=1; a=rsa-sha256; d=Src.Test; s=other;\r\n\
                   \th=from; bh=AAAA; b=BBBB\r\nFrom: sender@src.test\r\nTo: rcpt@dst.test\r\n\
                   Subject: signed upstream\r\n\r\nhello\r\n";
    let other_domain = "DKIM-Signature: v=1; a=rsa-sha256; d=list.test; s=other;\r\n\
                        \th=from; bh=AAAA; b=BBBB\r\nFrom: sender@src.test\r\nTo: rcpt@dst.test\r\n\
                        Subject: signed by another domain\r\n\r\nhello\r\n";
    for message in [foreign, other_domain] {
        let reply = send(
            daemon.smtp,
            "s@src.test",
            &["rcpt@dst.test"],
            message.as_bytes(),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let received = sink.wait_for(2);
    let upstream = signatures(&received[0].1);
    assert_eq!(upstream.len(), 1, "{upstream:?}");
    assert!(upstream[0].contains("s=other"), "{upstream:?}");
    let added = signatures(&received[1].1);
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added[0].contains("d=src.test; ") && added[0].contains("s=e1"),
        "{added:?}"
    );
    // dkimpy checks ours (index 0) and fails the made-up one.
    let (lines, _) = verify(dir.path(), &received[1].1, &record);
    assert_eq!(
        lines[0], "pass d=src.test s=e1 a=ed25519-sha256",
        "{lines:?}"
    );
    // Mail from a domain without a key goes out unsigned.
    let reply = send(
        daemon.smtp,
        "s@elsewhere.test",
        &["rcpt@dst.test"],
        b"From: a@elsewhere.test\r\nSubject: x\r\n\r\nhi\r\n",
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let received = sink.wait_for(3);
    assert!(signatures(&received[2].1).is_empty());
}

#[test]
fn the_signature_made_at_enqueue_survives_a_restart_and_a_retry() {
    if !have_dkimpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = keygen(dir.path(), "src.test", "r1", "rsa");
    let keys = key_table("src.test", "r1", &key, "rsa");
    // The next hop defers the first attempt: the message waits in the spool for its retry.
    let sink = Sink::start("defer-first");
    let config = format!(
        "{}[queue.backoff]\nkind = \"schedule\"\ndelays = [\"2s\"]\n\n{keys}",
        sink_config(sink.port)
    );
    let mut daemon = Daemon::start(dir.path(), &config);
    let reply = send(
        daemon.smtp,
        "s@src.test",
        &["rcpt@dst.test"],
        &support::message("dkim-retry"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let id = wait_for("the deferred attempt", || {
        let listed = daemon.queue_cli(&["list", "--json"]);
        let page: serde_json::Value = serde_json::from_slice(&listed.stdout).ok()?;
        let first = &page["messages"][0];
        (first["attempts"].as_u64()? >= 1).then(|| first["id"].as_str().unwrap().to_owned())
    });
    let stored = daemon.queue_cli(&["show", &id, "--body"]);
    assert!(stored.status.success());
    let stored_signature = signatures(&stored.stdout);
    assert_eq!(
        stored_signature.len(),
        1,
        "{}",
        String::from_utf8_lossy(&stored.stdout)
    );
    assert!(daemon.terminate().success());
    assert!(sink.messages().is_empty());

    // Restarted on the same spool, envoi retries and the hop accepts.
    let _daemon = Daemon::start(dir.path(), &config);
    let received = sink.wait_for(1);
    assert_eq!(
        signatures(&received[0].1),
        stored_signature,
        "the delivered copy carries the signature stored at enqueue"
    );
    let (lines, ok) = verify(dir.path(), &received[0].1, &record);
    assert!(ok, "{lines:?}");
}

#[test]
fn a_missing_key_file_is_a_configuration_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-key.pem");
    let config = dir.path().join("envoi.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nkind = \"memory\"\n{}",
            key_table("src.test", "s1", &missing, "ed25519")
        ),
    )
    .unwrap();
    let check = envoi(&["config", "check", config.to_str().unwrap()]);
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("dkim.key s1 of src.test"), "{stderr}");

    let serve = Command::new(env!("CARGO_BIN_EXE_envoi"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!serve.status.success(), "serve started without its key");
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");

    // A key of the wrong algorithm is refused the same way.
    let (ed_key, _) = keygen(dir.path(), "src.test", "e1", "ed25519");
    std::fs::write(
        &config,
        format!(
            "[storage]\nkind = \"memory\"\n{}",
            key_table("src.test", "e1", &ed_key, "rsa")
        ),
    )
    .unwrap();
    let check = envoi(&["config", "check", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        !check.status.success() && stderr.contains("not a valid rsa key"),
        "{stderr}"
    );
}

#[test]
fn keygen_writes_an_owner_only_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (path, record) = keygen(dir.path(), "example.org", "sel", "ed25519");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert!(record.starts_with("sel._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p="));
    let again = envoi(&[
        "dkim",
        "keygen",
        "--domain",
        "example.org",
        "--selector",
        "sel",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let bad_selector = envoi(&[
        "dkim",
        "keygen",
        "--domain",
        "example.org",
        "--selector",
        "a b",
        "--out",
        dir.path().join("other.pem").to_str().unwrap(),
    ]);
    assert!(!bad_selector.status.success());
    assert!(!dir.path().join("other.pem").exists());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        pem,
        "the key is untouched"
    );
    // The key file is accepted by the configuration it is meant for.
    let config = dir.path().join("envoi.toml");
    std::fs::write(&config, key_table("example.org", "sel", &path, "ed25519")).unwrap();
    let check = envoi(&["config", "check", config.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
