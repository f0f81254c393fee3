//! Driving `envoi queue ...` against a daemon whose next hop defers everything.

use super::hop::{Hop, HopScript};
use super::Daemon;

/// A daemon whose next hop answers every message `451 4.4.1`, so messages stay deferred for
/// an hour, each attempt counted (a hop that refuses connections would count none: the
/// destination is backed off instead). Keep the hop as long as the daemon.
pub fn deferring_daemon(dir: &std::path::Path, extra: &str) -> (Daemon, Hop) {
    let hop = Hop::start(HopScript::new(
        &["PIPELINING"],
        b"451 4.4.1 try again later",
    ));
    let daemon = Daemon::start(
        dir,
        &format!(
            "{extra}\n[relay]\ntls = \"none\"\nsmarthost = \"smtp://127.0.0.1:{}\"\n\n[queue.backoff]\nkind = \"schedule\"\ndelays = [\"1h\"]\n",
            hop.port
        ),
    );
    (daemon, hop)
}

/// How many deferrals of `id` the daemon logged.
pub fn deferrals(daemon: &Daemon, id: &str) -> usize {
    daemon
        .log_text()
        .lines()
        .filter(|line| line.contains("event=\"deferred\"") && line.contains(id))
        .count()
}

/// The command's standard output; fails the test when the command failed.
pub fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The command's standard output as JSON.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).unwrap()
}

/// The ids `envoi queue list` shows.
pub fn queued_ids(daemon: &Daemon) -> Vec<String> {
    let page = json(&daemon.queue_cli(&["list", "--json"]));
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The attempts `envoi queue show` counts for `id`.
pub fn attempts(daemon: &Daemon, id: &str) -> u64 {
    json(&daemon.queue_cli(&["show", id, "--json"]))["attempts"]
        .as_u64()
        .unwrap()
}
