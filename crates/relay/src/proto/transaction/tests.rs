//! The transaction machine against a scripted server: exact exchanges, then properties over
//! generated recipients, capabilities and replies.
//!
//! The scripted server is `server::Server`.

use envoi_types::{Address, Envelope, Reply, Sender};
use proptest::prelude::*;

use super::*;
use crate::proto::data;
use server::{reply, scripted, Answer, Script, Server, Verb};

mod server;

const ADDRESSES: [&str; 6] = [
    "a@d.test",
    "b@d.test",
    "c@d.test",
    "d@d.test",
    "e@d.test",
    "j\u{f6}rg@d.test",
];

/// The peer and the message of one generated case.
#[derive(Debug, Clone)]
struct Case {
    recipients: usize,
    protocol: Protocol,
    caps: Capabilities,
    eight_bit: bool,
    max_recipients: usize,
    script: Script,
    /// The action (counted from 0) whose write or read breaks the connection.
    break_at: Option<usize>,
    /// The data is written by the caller ([`Transaction::streamed`]), not handed over.
    streamed: bool,
}

impl Case {
    fn envelope(&self) -> Envelope {
        let body: &[u8] = if self.eight_bit {
            b"Subject: t\r\n\r\nh\xc3\xa9\r\n.dot\r\n"
        } else {
            b"Subject: t\r\n\r\nhello\r\n.dot\r\n"
        };
        Envelope::new(
            Sender::parse("s@src.test").unwrap(),
            ADDRESSES[..self.recipients]
                .iter()
                .map(|a| Address::parse(a).unwrap())
                .collect(),
            body.to_vec(),
        )
    }
}

/// What a run produced.
struct Run {
    outcome: TxOutcome,
    written: Vec<Reply>,
    delivered: Vec<usize>,
    commands: usize,
    clean: bool,
    rset_refused: bool,
}

/// Drives the machine against the server until it is done.
fn run(case: &Case) -> Result<Run, String> {
    let envelope = case.envelope();
    let data = data::encode(envelope.message.as_bytes());
    let size = (data.len() - 3) as u64;
    let mut tx = if case.streamed {
        Transaction::streamed(
            &envelope,
            size,
            &case.caps,
            case.protocol,
            case.max_recipients,
        )
    } else {
        Transaction::new(
            &envelope,
            &data,
            &case.caps,
            case.protocol,
            case.max_recipients,
        )
    };
    let mut mail_line = format!("MAIL FROM:<{}>", envelope.sender.as_str());
    if case.caps.size.is_some() {
        mail_line += &format!(" SIZE={}", data.len() - 3);
    }
    if case.caps.eight_bit_mime && case.eight_bit {
        mail_line += " BODY=8BITMIME";
    }
    if case.caps.smtputf8 && envelope.wants_smtputf8() {
        mail_line += " SMTPUTF8";
    }
    let recipients = ADDRESSES[..case.recipients]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
    let mut server = Server::new(&case.script, case.protocol, recipients, &data);
    server.pipelining = case.caps.pipelining;
    server.mail_line = mail_line;
    let mut actions = 0;
    loop {
        let breaks = case.break_at == Some(actions);
        actions += 1;
        if actions > 10_000 {
            return Err("no end in sight".into());
        }
        match tx.next_action() {
            Action::Send { .. } if breaks => tx.on_broken(Failure::Timeout(Stage::Rcpt)),
            Action::Send { bytes, .. } => server.feed(bytes)?,
            Action::SendMessage(_) if breaks => tx.on_broken(Failure::Timeout(Stage::DataBlock)),
            Action::SendMessage(_) => server.feed(&data)?,
            Action::Read(_) => {
                let reply = server
                    .replies
                    .pop_front()
                    .ok_or("a read that the server will never answer")?;
                let closing = reply.code == 421;
                if breaks {
                    tx.on_broken(Failure::Timeout(Stage::FinalDot));
                } else {
                    tx.on_reply(reply);
                }
                if closing && tx.next_action() != Action::Done {
                    return Err("the machine went on after a 421".into());
                }
            }
            Action::Done => break,
        }
    }
    let clean = server.is_clean();
    Ok(Run {
        outcome: tx.finish(),
        written: server.written,
        delivered: server.delivered,
        commands: server.commands,
        clean,
        rset_refused: server.rset_refused,
    })
}

fn case(recipients: usize, pipelining: bool, script: Script) -> Case {
    Case {
        recipients,
        protocol: Protocol::Smtp,
        caps: Capabilities {
            extended: true,
            pipelining,
            ..Capabilities::default()
        },
        eight_bit: false,
        max_recipients: 100,
        script,
        break_at: None,
        streamed: false,
    }
}

fn script() -> Script {
    Script {
        mail: Answer::Ok,
        rcpt: vec![Answer::Ok; ADDRESSES.len()],
        data: Answer::Ok,
        after_data: Answer::Ok,
        lmtp: vec![Answer::Ok; ADDRESSES.len()],
        rset: Answer::Ok,
        max_rcpts: None,
        lax_data: false,
    }
}

fn codes(outcome: &TxOutcome) -> Vec<String> {
    outcome
        .replies
        .iter()
        .map(|r| r.as_ref().map_or("-".into(), |r| r.to_string()))
        .collect()
}

#[test]
fn pipelined_exchange_writes_one_window_then_the_data() {
    let envelope = case(2, true, script()).envelope();
    let data = data::encode(envelope.message.as_bytes());
    let caps = Capabilities {
        pipelining: true,
        size: Some(0),
        ..Capabilities::default()
    };
    let mut tx = Transaction::new(&envelope, &data, &caps, Protocol::Smtp, 100);
    let window = format!(
        "MAIL FROM:<s@src.test> SIZE={}\r\nRCPT TO:<a@d.test>\r\nRCPT TO:<b@d.test>\r\nDATA\r\n",
        data.len() - 3
    );
    assert_eq!(
        tx.next_action(),
        Action::Send {
            bytes: window.as_bytes(),
            stage: Stage::Mail
        }
    );
    for (stage, wire) in [
        (Stage::Mail, "250 ok"),
        (Stage::Rcpt, "250 ok"),
        (Stage::Rcpt, "550 5.1.1 no"),
        (Stage::Data, "354 go"),
    ] {
        assert_eq!(tx.next_action(), Action::Read(stage));
        tx.on_reply(reply(wire));
    }
    assert_eq!(
        tx.next_action(),
        Action::Send {
            bytes: &data,
            stage: Stage::DataBlock
        }
    );
    assert_eq!(tx.next_action(), Action::Read(Stage::FinalDot));
    tx.on_reply(reply("250 2.0.0 queued"));
    assert_eq!(tx.next_action(), Action::Done);
    let outcome = tx.finish();
    assert_eq!(codes(&outcome), ["250 2.0.0 queued", "550 5.1.1 no"]);
    assert!(outcome.reusable && outcome.failure.is_none());
}

#[test]
fn closing_at_rcpt_settles_the_rest_and_stops() {
    let mut script = script();
    script.rcpt[1] = Answer::Closing;
    let run = run(&case(3, false, script)).unwrap();
    assert_eq!(
        codes(&run.outcome),
        [
            "421 4.3.2 closing",
            "421 4.3.2 closing",
            "421 4.3.2 closing"
        ]
    );
    assert!(!run.outcome.reusable && run.outcome.failure.is_none());
    assert_eq!(run.commands, 3, "MAIL, RCPT, RCPT and nothing after");
}

#[test]
fn too_many_recipients_go_in_a_further_transaction() {
    let mut script = script();
    script.max_rcpts = Some(2);
    let run = run(&case(5, true, script)).unwrap();
    assert!(run
        .outcome
        .replies
        .iter()
        .all(|r| r.as_ref().is_some_and(|r| r.code == 250)));
    assert_eq!(run.delivered, [0, 1, 2, 3, 4]);
    // Three rounds: all five offered (two taken), then no more than were taken: c and d,
    // then e.
    assert_eq!(run.commands, (1 + 5 + 1) + (1 + 2 + 1) + (1 + 1 + 1));
}

#[test]
fn size_over_the_limit_sends_nothing() {
    let mut case = case(2, true, script());
    case.caps.size = Some(5);
    let run = run(&case).unwrap();
    assert_eq!(run.commands, 0);
    assert!(run.outcome.reusable);
    assert!(run.outcome.replies.iter().all(|r| r
        .as_ref()
        .is_some_and(|r| r.enhanced.to_string() == "5.3.4")));
}

fn answers(ok_weight: u32) -> impl Strategy<Value = Answer> {
    prop_oneof![
        ok_weight => Just(Answer::Ok),
        1 => Just(Answer::Busy),
        1 => Just(Answer::Refused),
        1 => Just(Answer::Full),
        1 => Just(Answer::TooMany),
        1 => Just(Answer::Closing),
    ]
}

prop_compose! {
    fn scripts()(
        mail in answers(12),
        rcpt in proptest::collection::vec(answers(4), ADDRESSES.len()),
        data in answers(8),
        after_data in answers(6),
        lmtp in proptest::collection::vec(answers(4), ADDRESSES.len()),
        rset in answers(8),
        max_rcpts in proptest::option::of(1..4usize),
        lax_data in any::<bool>(),
    ) -> Script {
        Script { mail, rcpt, data, after_data, lmtp, rset, max_rcpts, lax_data }
    }
}

prop_compose! {
    fn cases()(
        recipients in 1..=ADDRESSES.len(),
        lmtp in any::<bool>(),
        pipelining in any::<bool>(),
        size in proptest::option::of(prop_oneof![Just(0u64), Just(10), Just(1000)]),
        eight_bit_mime in any::<bool>(),
        smtputf8 in any::<bool>(),
        eight_bit in any::<bool>(),
        max_recipients in 1..5usize,
        script in scripts(),
        break_at in proptest::option::of(0..30usize),
        streamed in any::<bool>(),
    ) -> Case {
        Case {
            recipients,
            protocol: if lmtp { Protocol::Lmtp } else { Protocol::Smtp },
            caps: Capabilities {
                extended: true,
                pipelining,
                size,
                eight_bit_mime,
                smtputf8,
                ..Capabilities::default()
            },
            eight_bit,
            max_recipients,
            script,
            break_at,
            streamed,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn outcomes_agree_with_what_the_server_did(case in cases()) {
        let run = run(&case).map_err(TestCaseError::fail)?;
        let outcome = &run.outcome;
        prop_assert_eq!(outcome.replies.len(), case.recipients);
        prop_assert!(outcome.failure.is_none() || !outcome.reusable);
        let full = scripted(Verb::Rcpt, Answer::Full);
        let settled = [
            Failure::NoSmtpUtf8.to_reply(),
            Failure::TooBig { size: 0, limit: 0 }.to_reply(),
        ];
        for (index, reply) in outcome.replies.iter().enumerate() {
            let delivered = run.delivered.iter().filter(|d| **d == index).count();
            prop_assert!(delivered <= 1, "recipient {} delivered twice", index);
            let Some(reply) = reply else {
                // Only a broken session leaves a recipient without a reply.
                prop_assert!(outcome.failure.is_some());
                continue;
            };
            // Delivered only if the server took the message for it, and the other way
            // round when the session did not break.
            prop_assert_eq!(reply.is_success(), delivered == 1);
            // Every reply is one the server wrote, or a settlement made before anything was
            // sent; a 552 at RCPT is reported as 452.
            prop_assert!(*reply != full);
            let quoted = run.written.contains(reply)
                || *reply == with_code(&full, 452)
                || (run.commands == 0 && settled.contains(reply));
            prop_assert!(quoted, "{} quotes nothing the server said", reply);
        }
        if outcome.failure.is_none() {
            prop_assert!(outcome.replies.iter().all(Option::is_some));
        }
        for index in &run.delivered {
            // Delivered and never told is only possible when the session broke.
            prop_assert!(
                outcome.replies[*index].as_ref().is_some_and(Reply::is_success)
                    || outcome.failure.is_some()
            );
        }
        if outcome.reusable {
            // Left clean for the next message (the last RSET's answer is not looked at).
            prop_assert!(run.clean || run.rset_refused);
        }
    }
}
