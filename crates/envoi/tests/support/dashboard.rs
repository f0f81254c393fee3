//! The dashboard tests' queue: a daemon whose next hop defers with a reply full of script
//! payloads, seeded over SMTP and through the admin inject endpoint, and the CLI with the token.

use serde_json::{json, Value};

use super::hop::{Hop, HopScript};
use super::http;
use super::queue_cli::json as cli_json;
use super::{message, send, wait_for, Daemon};

/// The admin token of the tests that set one.
pub const TOKEN: &str = "dashboard-test-token";

/// The next hop's reply: it defers, and carries payloads that would run if shown as HTML.
pub const HOSTILE_REPLY: &[u8] =
    b"451 4.4.1 <script>window.pwned=1</script> \"><img src=x onerror=window.pwned=2> javascript:window.pwned=3";
/// Envelope sender, recipients and Subject carrying payloads (quoted local parts may hold
/// `<`, `>` and `=`).
pub const HOSTILE_SENDER: &str = "\"<script>window.pwned=4</script>\"@evil.test";
pub const HOSTILE_RCPT: &str = "\"\\\"><img src=x onerror=window.pwned=5>\"@evil.test";
pub const HOSTILE_RCPT2: &str = "\"javascript:window.pwned=6\"@evil.test";
pub const HOSTILE_SUBJECT: &str =
    "<script>window.pwned=7</script> \"><img src=x onerror=window.pwned=8> javascript:window.pwned=9";

/// A daemon with `admin_keys` in its `[admin]` table whose next hop defers with
/// [`HOSTILE_REPLY`] and retries only after an hour.
pub fn deferring(dir: &std::path::Path, admin_keys: &str) -> (Daemon, Hop) {
    let hop = Hop::start(HopScript::new(&[], HOSTILE_REPLY));
    let daemon = Daemon::start_admin(
        dir,
        admin_keys,
        &format!(
            "[relay]\ntls = \"none\"\nsmarthost = \"smtp://127.0.0.1:{}\"\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"1h\"]\n",
            hop.port
        ),
    );
    (daemon, hop)
}

/// `envoi queue ARGS --json` with the token.
pub fn cli(daemon: &Daemon, args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_envoi"))
        .arg("queue")
        .args(["--admin", &format!("http://{}", daemon.admin)])
        .args(["--token", TOKEN, "--json"])
        .args(args)
        .output()
        .unwrap();
    cli_json(&output)
}

/// The ids `envoi queue list` shows with `args`.
pub fn listed(daemon: &Daemon, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    cli(daemon, &all)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Queues `n` messages to `domain` over SMTP.
pub fn seed(daemon: &Daemon, domain: &str, n: usize) {
    for i in 0..n {
        let rcpt = format!("rcpt{i}@{domain}");
        let reply = send(
            daemon.smtp,
            "sender@src.test",
            &[rcpt.as_str()],
            &message(&format!("{domain}-{i}")),
        );
        assert!(reply.starts_with("250 "), "{reply}");
    }
}

/// Queues the message whose sender, recipients and headers carry script payloads, through
/// the admin inject endpoint (SMTP paths cannot hold `<` or `>`); its id.
pub fn seed_hostile(daemon: &Daemon) -> String {
    let text = format!(
        "From: \"\\\"><img src=x onerror=window.pwned=10>\" <a@evil.test>\r\nTo: b@evil.test\r\nSubject: {HOSTILE_SUBJECT}\r\nMessage-ID: <hostile@evil.test>\r\n\r\n<script>window.pwned=11</script>\r\n"
    );
    let body = json!({
        "sender": HOSTILE_SENDER,
        "recipients": [HOSTILE_RCPT, HOSTILE_RCPT2],
        "message": text,
    })
    .to_string();
    let auth = format!("Bearer {TOKEN}");
    let answer = http::request(
        daemon.admin,
        "POST",
        "/v1/messages",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["ids"][0].as_str().unwrap().to_owned()
}

/// Waits until `n` messages are queued and every one has been deferred once.
pub fn wait_deferred(daemon: &Daemon, n: usize) {
    wait_for(&format!("{n} deferred messages"), || {
        (listed(daemon, &["--state", "deferred"]).len() == n).then_some(())
    });
}
