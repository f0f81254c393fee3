//! The text and JSON log formats share one schema: the real binary delivers, defers and
//! bounces one message in each format, and both logs parse, with one parser per format, into
//! the same records (level, fields) that the same schema checks; field names and values agree
//! between the formats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::hop::{Hop, HopScript};
use support::{http_get, message, send, wait_for, Daemon};

/// One log line, whatever its format: level and fields (the event's and its spans').
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    level: String,
    fields: BTreeMap<String, String>,
}

impl Record {
    fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map_or_else(|| panic!("no {name} in {self:?}"), String::as_str)
    }
}

// ---- the text format ----

/// `TIME LEVEL [span{k=v}:]... [message] k=v k="quoted value" ...`
fn parse_text(line: &str) -> Record {
    let line = line.trim_end();
    let (_time, rest) = line.split_once(' ').unwrap();
    let rest = rest.trim_start();
    let (level, mut rest) = rest.split_once(' ').unwrap();
    let mut fields = BTreeMap::new();
    // Spans: `name{fields}:` before the event's own fields.
    while let Some(open) = rest.find('{').filter(|&i| is_name(&rest[..i])) {
        let close = rest.find("}:").unwrap();
        parse_pairs(&rest[open + 1..close], &mut fields);
        rest = rest[close + 2..].trim_start();
    }
    parse_pairs(rest, &mut fields);
    Record {
        level: level.to_owned(),
        fields,
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `key=value` pairs; leading words without `=` are the message.
fn parse_pairs(mut text: &str, fields: &mut BTreeMap<String, String>) {
    let mut message = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            break;
        }
        let word_end = text.find([' ', '=']).unwrap_or(text.len());
        if !text[word_end..].starts_with('=') {
            message.push(&text[..word_end]);
            text = &text[word_end..];
            continue;
        }
        let key = &text[..word_end];
        text = &text[word_end + 1..];
        let (value, rest) = if let Some(quoted) = text.strip_prefix('"') {
            unquote(quoted)
        } else {
            let end = text.find(' ').unwrap_or(text.len());
            (text[..end].to_owned(), &text[end..])
        };
        fields.insert(key.to_owned(), value);
        text = rest;
    }
    if !message.is_empty() {
        fields.insert("message".to_owned(), message.join(" "));
    }
}

/// A Rust string literal's content up to its closing quote; the text after it.
fn unquote(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &text[i + 1..]),
            '\\' => match chars.next().unwrap().1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars
                        .by_ref()
                        .map(|(_, c)| c)
                        .skip(1)
                        .take_while(|&c| c != '}')
                        .collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    panic!("unterminated quoted value in {text:?}");
}

// ---- the JSON format ----

fn parse_json(line: &str) -> Record {
    let object: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
    let mut fields = BTreeMap::new();
    let mut level = String::new();
    for (key, value) in object {
        match key.as_str() {
            "timestamp" | "target" | "spans" => {}
            "level" => level = value.as_str().unwrap().to_owned(),
            "span" => {
                for (name, value) in value.as_object().unwrap() {
                    if name != "name" {
                        fields.insert(name.clone(), scalar(value));
                    }
                }
            }
            _ => {
                fields.insert(key, scalar(&value));
            }
        }
    }
    Record { level, fields }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---- the schema ----

fn is_id(text: &str) -> bool {
    text.len() == 26
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

fn is_count(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// Seconds with three decimals, e.g. `0.012`.
fn is_seconds(text: &str) -> bool {
    text.split_once('.')
        .is_some_and(|(s, ms)| is_count(s) && ms.len() == 3 && is_count(ms))
}

/// `2026-12-03T18:00:00Z`
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z'
}

/// The fields every record of `event` has, checked; answers the names of those fields.
fn check(record: &Record) -> Vec<&'static str> {
    let event = record.get("event");
    assert_eq!(record.level, "INFO", "{record:?}");
    assert!(is_id(record.get("id")), "{record:?}");
    let names: Vec<&'static str> = match event {
        "accepted" => {
            assert!(is_count(record.get("rcpts")) && is_count(record.get("size")));
            vec!["event", "id", "message_id", "from", "rcpts", "size", "peer"]
        }
        "delivered" | "deferred" | "bounced" => {
            let delay = record.get("delay");
            assert!(is_seconds(delay.strip_suffix('s').unwrap()), "{record:?}");
            let parts: Vec<&str> = record.get("delays").split('/').collect();
            assert_eq!(parts.len(), 4, "{record:?}");
            assert!(parts.iter().all(|p| is_seconds(p)), "{record:?}");
            assert!(is_count(record.get("attempt")));
            let dsn = record.get("dsn");
            let reply = record.get("reply");
            assert!(reply.get(4..).unwrap().starts_with(dsn), "{record:?}");
            let mut names = vec![
                "event", "id", "from", "to", "relay", "delay", "delays", "attempt", "dsn", "reply",
            ];
            if event == "deferred" {
                assert!(is_rfc3339(record.get("next")), "{record:?}");
                names.push("next");
            } else {
                assert!(!record.fields.contains_key("next"), "{record:?}");
            }
            names
        }
        other => panic!("unexpected event {other}"),
    };
    for name in &names {
        record.get(name);
    }
    names
}

// ---- the run ----

/// Runs envoi with `format`, sends one message that is delivered, deferred and bounced, and
/// answers the queue's records for it (accepted, delivered, deferred, bounced), in order.
fn run(format: &str, ok: &Hop, later: &Hop) -> (Vec<Record>, String) {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(
        dir.path(),
        &format!(
            "[relay.routes]\n\"ok.test\" = [\"smtp://127.0.0.1:{ok}\"]\n\
             \"src.test\" = [\"smtp://127.0.0.1:{ok}\"]\n\
             \"defer.test\" = [\"smtp://127.0.0.1:{later}\"]\n\n\
             [log]\nformat = \"{format}\"\n",
            ok = ok.port,
            later = later.port
        ),
    );
    let reply = send(
        daemon.smtp,
        "sender@src.test",
        &["ok@ok.test", "bounce@ok.test", "wait@defer.test"],
        &message("log-format"),
    );
    assert!(reply.starts_with("250 "), "{reply}");
    let parse = if format == "json" {
        parse_json
    } else {
        parse_text
    };
    let wanted = ["accepted", "delivered", "bounced", "deferred"];
    let records = wait_for("every event of the message", || {
        let records: Vec<Record> = daemon
            .log_text()
            .lines()
            .filter(|line| line.contains("event"))
            .map(parse)
            .filter(|r| {
                r.fields
                    .get("from")
                    .is_some_and(|f| f == "<sender@src.test>")
            })
            .filter(|r| wanted.contains(&r.get("event")))
            .collect();
        let seen = |e: &str| records.iter().any(|r| r.get("event") == e);
        wanted.iter().all(|e| seen(e)).then_some(records)
    });
    let metrics = http_get(daemon.admin, "/metrics");
    (records, metrics)
}

#[test]
fn text_and_json_lines_parse_into_the_same_fields() {
    let ok = Hop::start(HopScript::new(&["PIPELINING"], b"250 2.0.0 queued").rejecting("bounce"));
    let later = Hop::start(HopScript::new(&["PIPELINING"], b"451 4.3.0 try later"));
    let (text, metrics) = run("text", &ok, &later);
    let (json, _) = run("json", &ok, &later);

    let by_event = |records: &[Record], event: &str| {
        records
            .iter()
            .find(|r| r.get("event") == event)
            .unwrap()
            .clone()
    };
    for event in ["accepted", "delivered", "bounced", "deferred"] {
        let (t, j) = (by_event(&text, event), by_event(&json, event));
        let (t_names, j_names) = (check(&t), check(&j));
        assert_eq!(t_names, j_names);
        // The same names, no field in one format only.
        assert_eq!(
            t.fields.keys().collect::<Vec<_>>(),
            j.fields.keys().collect::<Vec<_>>(),
            "{event}"
        );
        // Values that do not depend on the run are equal.
        for name in [
            "event", "from", "to", "relay", "dsn", "reply", "attempt", "rcpts", "size",
        ] {
            assert_eq!(t.fields.get(name), j.fields.get(name), "{event} {name}");
        }
    }
    let delivered = by_event(&text, "delivered");
    assert_eq!(delivered.get("to"), "ok@ok.test");
    assert_eq!(delivered.get("reply"), "250 2.0.0 queued");
    assert_eq!(by_event(&text, "bounced").get("dsn"), "5.1.1");
    assert_eq!(
        by_event(&json, "deferred").get("reply"),
        "451 4.3.0 try later"
    );
    assert_eq!(
        by_event(&text, "accepted").get("message_id"),
        "<log-format@src.test>"
    );
    // One SMTP transaction, in the transaction latency histogram.
    assert!(
        metrics
            .lines()
            .any(|l| l == "envoi_smtp_transaction_duration_seconds_count 1"),
        "{metrics}"
    );
}
