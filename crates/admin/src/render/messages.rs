//! The listing as a table, and one message in detail.

use std::fmt::Write as _;
use std::time::SystemTime;

use envoi_queue::MessageState;
use envoi_types::RecipientState;

use super::human;
use super::table::table;
use crate::api::{time, AttemptView, MessagePage, MessageView, RecipientView};

/// The page as a table: id, state, age, failed attempts, next attempt, size, sender, recipients.
pub fn list(page: &MessagePage, now: SystemTime) -> String {
    list_table(page, now, false)
}

/// Like [`list`], with a `REASON` column: the last reply of the first pending recipient (or
/// `on hold`, or `not attempted yet`).
pub fn list_long(page: &MessagePage, now: SystemTime) -> String {
    list_table(page, now, true)
}

fn list_table(page: &MessagePage, now: SystemTime, long: bool) -> String {
    if page.messages.is_empty() {
        return "no messages match\n".to_owned();
    }
    let mut headers = vec!["ID", "STATE", "AGE", "TRIES", "NEXT", "SIZE", "FROM", "TO"];
    if long {
        headers.push("REASON");
    }
    let rows: Vec<Vec<String>> = page
        .messages
        .iter()
        .map(|m| {
            let mut row = list_row(m, now);
            if long {
                row.push(reason(m));
            }
            row
        })
        .collect();
    let mut out = table(&headers, &rows);
    if let Some(next) = page.next {
        let _ = writeln!(out, "(more: --after {next})");
    }
    out
}

/// Why the message is still queued, in one cell.
fn reason(m: &MessageView) -> String {
    let pending = m
        .recipients
        .iter()
        .find(|r| r.state == RecipientState::Pending);
    match pending.and_then(|r| r.last_reply.as_ref()) {
        _ if m.held => "on hold".to_owned(),
        Some(reply) => {
            let text = format!("{} {} {}", reply.code, reply.enhanced, reply.text);
            text.chars().take(70).collect()
        }
        None => "not attempted yet".to_owned(),
    }
}

fn list_row(m: &MessageView, now: SystemTime) -> Vec<String> {
    vec![
        m.id.to_string(),
        state_name(m),
        human::ago(now, m.arrival)
            .trim_end_matches(" ago")
            .to_owned(),
        m.attempts.to_string(),
        next_attempt(m, now),
        human::size(m.size),
        sender(&m.sender),
        recipients_cell(&m.recipients),
    ]
}

fn state_name(m: &MessageView) -> String {
    match m.state {
        MessageState::Active => "active",
        MessageState::Deferred => "deferred",
        MessageState::Held => "held",
    }
    .to_owned()
}

fn next_attempt(m: &MessageView, now: SystemTime) -> String {
    if m.held {
        "on hold".to_owned()
    } else {
        human::until(now, m.next_attempt)
    }
}

fn sender(text: &str) -> String {
    format!("<{text}>")
}

/// The first pending recipient (or the first, when none is pending), then `+N` for the rest.
fn recipients_cell(recipients: &[RecipientView]) -> String {
    let first = recipients
        .iter()
        .find(|r| r.state == RecipientState::Pending)
        .or_else(|| recipients.first());
    match (first, recipients.len()) {
        (None, _) => String::new(),
        (Some(r), 1) => r.recipient.clone(),
        (Some(r), n) => format!("{} +{}", r.recipient, n - 1),
    }
}

/// One message: envelope and schedule as `field: value` lines, a recipient table with each
/// recipient's last reply and remote host, then the header section when present.
pub fn show(m: &MessageView, now: SystemTime) -> String {
    let mut out = String::new();
    let fields = [
        ("id", m.id.to_string()),
        ("state", state_name(m)),
        ("from", sender(&m.sender)),
        (
            "arrived",
            format!(
                "{} ({})",
                time::format(m.arrival),
                human::ago(now, m.arrival)
            ),
        ),
        (
            "size",
            format!("{} ({} octets)", human::size(m.size), m.size),
        ),
        ("attempts", format!("{} failed", m.attempts)),
        (
            "next attempt",
            format!(
                "{} ({})",
                time::format(m.next_attempt),
                next_attempt(m, now)
            ),
        ),
    ];
    for (name, value) in fields {
        let _ = writeln!(out, "{:<13} {value}", format!("{name}:"));
    }
    out.push('\n');
    out.push_str(&recipient_table(&m.recipients));
    if !m.history.is_empty() {
        out.push_str("\nattempts (oldest first):\n");
        out.push_str(&history_table(&m.history));
    }
    if m.delay_warnings_sent > 0 {
        let _ = writeln!(out, "\ndelay warnings sent: {}", m.delay_warnings_sent);
    }
    if let Some(headers) = &m.headers {
        out.push_str("\nheaders:\n");
        for line in headers.lines().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn recipient_table(recipients: &[RecipientView]) -> String {
    let rows: Vec<Vec<String>> = recipients
        .iter()
        .map(|r| {
            vec![
                r.recipient.clone(),
                recipient_state(r.state).to_owned(),
                r.remote_host.clone().unwrap_or_else(|| "-".to_owned()),
                r.tls.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                r.last_reply
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
            ]
        })
        .collect();
    table(
        &["RECIPIENT", "STATUS", "REMOTE HOST", "TLS", "LAST REPLY"],
        &rows,
    )
}

fn history_table(history: &[AttemptView]) -> String {
    let rows: Vec<Vec<String>> = history
        .iter()
        .flat_map(|attempt| {
            attempt.replies.iter().map(|r| {
                vec![
                    time::format(attempt.at),
                    r.recipient.clone(),
                    r.remote_host.clone().unwrap_or_else(|| "-".to_owned()),
                    r.reply.to_string(),
                ]
            })
        })
        .collect();
    table(&["TIME", "RECIPIENT", "REMOTE HOST", "REPLY"], &rows)
}

fn recipient_state(state: RecipientState) -> &'static str {
    match state {
        RecipientState::Pending => "pending",
        RecipientState::Delivered => "delivered",
        RecipientState::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use envoi_types::QueueId;

    use super::*;
    use crate::api::ReplyView;

    fn view(now: SystemTime) -> MessageView {
        MessageView {
            id: "01JDQ3Z0000000000000000000".parse::<QueueId>().unwrap(),
            state: MessageState::Deferred,
            sender: "alice@src.example".into(),
            recipients: vec![
                RecipientView {
                    recipient: "bob@dst.example".into(),
                    state: RecipientState::Delivered,
                    last_reply: None,
                    remote_host: Some("mx.dst.example".into()),
                    tls: Some(envoi_types::TlsReport {
                        policy: envoi_types::AppliedTls::MtaSts,
                        verified: true,
                    }),
                },
                RecipientView {
                    recipient: "carol@dst.example".into(),
                    state: RecipientState::Pending,
                    last_reply: Some(ReplyView {
                        code: 451,
                        enhanced: "4.4.1".into(),
                        text: "busy".into(),
                    }),
                    remote_host: Some("mx.dst.example".into()),
                    tls: None,
                },
            ],
            attempts: 1,
            next_attempt: now + Duration::from_secs(240),
            arrival: now - Duration::from_secs(600),
            size: 2048,
            held: false,
            headers: Some("Subject: hi\r\nFrom: a\r\n".into()),
            history: Vec::new(),
            delay_warnings_sent: 0,
        }
    }

    #[test]
    fn list_shows_pending_recipient_first_and_the_cursor() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let m = view(now);
        let page = MessagePage {
            next: Some(m.id),
            messages: vec![m],
        };
        let text = list(&page, now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(lines[1].contains("deferred"), "{text}");
        assert!(lines[1].contains("in 4m"), "{text}");
        assert!(lines[1].ends_with("carol@dst.example +1"), "{text}");
        assert_eq!(lines[2], "(more: --after 01JDQ3Z0000000000000000000)");
    }

    #[test]
    fn the_long_list_gives_the_reason() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut m = view(now);
        let page = MessagePage {
            next: None,
            messages: vec![m.clone()],
        };
        let text = list_long(&page, now);
        assert!(text.lines().next().unwrap().ends_with("REASON"), "{text}");
        assert!(
            text.lines().nth(1).unwrap().ends_with("+1  451 4.4.1 busy"),
            "{text}"
        );
        m.held = true;
        let page = MessagePage {
            next: None,
            messages: vec![m],
        };
        assert!(list_long(&page, now).trim_end().ends_with("on hold"));
    }

    #[test]
    fn show_has_reply_host_and_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let text = show(&view(now), now);
        assert!(
            text.contains("from:         <alice@src.example>\n"),
            "{text}"
        );
        assert!(text.contains("(10m ago)"), "{text}");
        assert!(
            text.contains("bob@dst.example    delivered  mx.dst.example  mta-sts (verified)  -\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "carol@dst.example  pending    mx.dst.example  -                   451 4.4.1 busy\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("headers:\n  Subject: hi\n  From: a\n"),
            "{text}"
        );
    }

    #[test]
    fn show_lists_the_attempts_oldest_first() {
        use crate::api::AttemptReplyView;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut m = view(now);
        m.headers = None;
        m.delay_warnings_sent = 1;
        m.history = [600, 300]
            .into_iter()
            .map(|ago| AttemptView {
                at: now - Duration::from_secs(ago),
                replies: vec![AttemptReplyView {
                    recipient: "carol@dst.example".into(),
                    remote_host: Some("mx.dst.example".into()),
                    reply: ReplyView {
                        code: 451,
                        enhanced: "4.4.1".into(),
                        text: format!("busy {ago}"),
                    },
                }],
            })
            .collect();
        let text = show(&m, now);
        let first = text.find("451 4.4.1 busy 600").expect("first attempt");
        let second = text.find("451 4.4.1 busy 300").expect("second attempt");
        assert!(first < second, "{text}");
        assert!(text.contains("\nattempts (oldest first):\nTIME"), "{text}");
        assert!(text.ends_with("\ndelay warnings sent: 1\n"), "{text}");
    }

    #[test]
    fn empty_list() {
        let page = MessagePage {
            messages: vec![],
            next: None,
        };
        assert_eq!(list(&page, SystemTime::now()), "no messages match\n");
    }
}
