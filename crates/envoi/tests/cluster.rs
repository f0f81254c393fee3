//! Several nodes, one queue: three `envoi serve` on one PostgreSQL database, relaying to one
//! sink. Every message arrives exactly once; after a `kill -9` of one node, every acknowledged
//! message still arrives, duplicates are at most that node's deliveries in flight, and the
//! others finish its work within 30 s. Needs `ENVOI_TEST_POSTGRES_URL`, `psql` and aiosmtpd;
//! skips (and says so) without them. Each run uses a schema of its own, dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{have_aiosmtpd, message, send, Daemon, Sink};

/// Deliveries one node runs at once: the bound on what a killed node can have in flight.
const IN_FLIGHT: usize = 8;

struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn create(url: &str) -> Option<Self> {
        let name = format!("envoi_cluster_{}", std::process::id());
        let schema = Self {
            url: url.to_owned(),
            name,
        };
        schema
            .psql(&format!(
                "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
                schema.name
            ))
            .then_some(schema)
    }

    fn psql(&self, sql: &str) -> bool {
        let status = Command::new("psql")
            .args([
                self.url.as_str(),
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .status();
        if status.is_err() {
            eprintln!("SKIP: psql is not installed");
        }
        status.is_ok_and(|s| s.success())
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        self.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn test_url() -> Option<String> {
    let url = std::env::var("ENVOI_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIP: ENVOI_TEST_POSTGRES_URL is not set");
    }
    url
}

fn node(dir: &std::path::Path, schema: &Schema, name: &str, sink: &Sink) -> Daemon {
    let storage = format!(
        "kind = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\nnode = \"{name}\"\nheartbeat = \"1s\"\n",
        schema.url, schema.name
    );
    let extra = format!(
        "[queue]\nmax_deliveries = {IN_FLIGHT}\n\n[relay]\nsmarthost = \"smtp://127.0.0.1:{}\"\n",
        sink.port
    );
    Daemon::start_with_storage(dir, &storage, &extra)
}

/// How many times each subject arrived at the sink.
fn arrivals(sink: &Sink) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for (_, bytes) in sink.messages() {
        let text = String::from_utf8_lossy(&bytes);
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned();
        *seen.entry(subject).or_insert(0) += 1;
    }
    seen
}

/// Waits until every tag in `tags` arrived, for at most `limit`; returns how long it took.
fn wait_all(sink: &Sink, tags: &[String], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let seen = arrivals(sink);
        let missing = tags.iter().filter(|t| !seen.contains_key(*t)).count();
        if missing == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{missing} acknowledged messages missing after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends `count` messages tagged `prefix-N` to `nodes` in turn; returns the acknowledged tags.
fn send_round_robin(nodes: &[&Daemon], prefix: &str, count: usize) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for n in 0..count {
        let tag = format!("{prefix}-{n}");
        let reply = send(
            nodes[n % nodes.len()].smtp,
            "sender@src.test",
            &["rcpt@dst.test"],
            &message(&tag),
        );
        assert!(reply.starts_with("250 "), "{tag}: {reply}");
        acknowledged.push(tag);
    }
    acknowledged
}

#[test]
fn three_nodes_deliver_once_and_survive_a_killed_node() {
    let Some(url) = test_url() else { return };
    if !have_aiosmtpd() {
        return;
    }
    let Some(schema) = Schema::create(&url) else {
        eprintln!("SKIP: cannot create a schema on {url}");
        return;
    };
    let sink = Sink::start("accept");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), &schema, "node-a", &sink);
    let b = node(dirs[1].path(), &schema, "node-b", &sink);
    let c = node(dirs[2].path(), &schema, "node-c", &sink);

    // Three senders at once, one per node: 5 000 messages in turn over the three nodes.
    let total = 5000;
    let tags: Vec<String> = std::thread::scope(|scope| {
        let senders: Vec<_> = [&a, &b, &c]
            .into_iter()
            .enumerate()
            .map(|(i, node)| {
                scope.spawn(move || {
                    send_round_robin(
                        &[node],
                        &format!("one-{i}"),
                        total / 3 + usize::from(i < total % 3),
                    )
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    assert_eq!(tags.len(), total);
    wait_all(&sink, &tags, Duration::from_secs(300));
    std::thread::sleep(Duration::from_secs(2));
    let seen = arrivals(&sink);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(seen.len(), total);

    // kill -9 node-c in the middle of a run.
    let mut acknowledged = Vec::new();
    std::thread::scope(|scope| {
        let to_c = scope.spawn(|| {
            let mut sent = Vec::new();
            for n in 0..400 {
                let tag = format!("two-c-{n}");
                let reply = send(
                    c.smtp,
                    "sender@src.test",
                    &["rcpt@dst.test"],
                    &message(&tag),
                );
                if reply.starts_with("250 ") {
                    sent.push(tag);
                }
                if n == 200 {
                    return sent;
                }
            }
            sent
        });
        acknowledged.extend(to_c.join().unwrap());
    });
    c.signal("KILL");
    let killed = Instant::now();
    // node-a and node-b keep taking mail while they take over node-c's.
    let others = std::thread::scope(|scope| {
        let sender = scope.spawn(|| send_round_robin(&[&a, &b], "two-ab", 200));
        let took = wait_all(&sink, &acknowledged, Duration::from_secs(30));
        eprintln!(
            "node-c's {} acknowledged messages all arrived {took:?} after its kill",
            acknowledged.len()
        );
        sender.join().unwrap()
    });
    acknowledged.extend(others);
    wait_all(&sink, &acknowledged, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let seen = arrivals(&sink);
    let duplicates: usize = acknowledged.iter().map(|t| seen[t] - 1).sum();
    assert!(
        duplicates <= IN_FLIGHT,
        "{duplicates} duplicates, more than node-c had in flight"
    );
    eprintln!(
        "after kill -9 at {:?}: all {} acknowledged arrived, {duplicates} duplicates",
        killed.elapsed(),
        acknowledged.len()
    );
    drop(c);
}
