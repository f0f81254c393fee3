//! The transaction machine against a scripted server: exact exchanges, then properties over
//! generated recipients, capabilities and replies.
//!
//! `Server` is a small SMTP/LMTP server model: it parses what the machine writes (refusing
//! anything that is not a well-formed command, or bytes after it said `421`), answers from a
//! script, and records who it delivered to.

use std::collections::VecDeque;

use envoi_types::{Address, Envelope, Reply, Sender};
use proptest::prelude::*;

use super::*;
use crate::proto::data;

const ADDRESSES: [&str; 6] = [
    "a@d.test",
    "b@d.test",
    "c@d.test",
    "d@d.test",
    "e@d.test",
    "j\u{f6}rg@d.test",
];

fn reply(wire: &str) -> Reply {
    Reply::parse(format!("{wire}\r\n").as_bytes()).unwrap()
}

/// How the scripted server answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Busy,
    Refused,
    /// `552` (RCPT only; elsewhere as `Refused`).
    Full,
    /// `452 4.5.3` (RCPT only; elsewhere as `Busy`).
    TooMany,
    Closing,
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Mail,
    Rcpt,
    Data,
    Final,
    Rset,
}

fn scripted(verb: Verb, answer: Answer) -> Reply {
    use Answer::*;
    reply(match (verb, answer) {
        (_, Closing) => "421 4.3.2 closing",
        (Verb::Mail, Ok) => "250 2.1.0 sender ok",
        (Verb::Rcpt, Ok) => "250 2.1.5 recipient ok",
        (Verb::Data, Ok) => "354 go ahead",
        (Verb::Final | Verb::Rset, Ok) => "250 2.0.0 ok",
        (Verb::Rcpt, Busy) => "450 4.2.1 busy",
        (Verb::Rcpt, Refused) => "550 5.1.1 unknown",
        (Verb::Rcpt, Full) => "552 5.2.2 full",
        (Verb::Rcpt, TooMany) => "452 4.5.3 too many recipients",
        (Verb::Rset, Refused | Full) => "500 5.5.1 what",
        (_, Busy | TooMany) => "451 4.3.0 later",
        (_, Refused | Full) => "554 5.6.0 refused",
    })
}

/// What the server answers, per command.
#[derive(Debug, Clone)]
struct Script {
    mail: Answer,
    /// Per recipient (by envelope position).
    rcpt: Vec<Answer>,
    data: Answer,
    /// SMTP's reply after the data.
    after_data: Answer,
    /// LMTP's replies after the data, per recipient.
    lmtp: Vec<Answer>,
    rset: Answer,
    /// Recipients accepted per transaction before `452 4.5.3`.
    max_rcpts: Option<usize>,
    /// Answer DATA from the script even with no recipient accepted (RFC 2920 §3.1 allows
    /// `354` there), instead of `554`.
    lax_data: bool,
}

/// What the server saw and did.
#[derive(Debug)]
struct Server<'s> {
    script: &'s Script,
    protocol: Protocol,
    recipients: Vec<String>,
    pipelining: bool,
    /// The one MAIL line any transaction may use.
    mail_line: String,
    data: &'s [u8],
    replies: VecDeque<Reply>,
    /// Every reply written, for checking what outcomes quote.
    written: Vec<Reply>,
    closed: bool,
    mail: bool,
    /// Accepted recipients of the open transaction, by envelope position.
    accepted: Vec<usize>,
    in_data: Option<Vec<u8>>,
    delivered: Vec<usize>,
    /// The last command was an RSET the script refused.
    rset_refused: bool,
    commands: usize,
}

impl<'s> Server<'s> {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.closed {
            return Err(format!(
                "{:?} written after 421",
                String::from_utf8_lossy(bytes)
            ));
        }
        if let Some(buffer) = &mut self.in_data {
            buffer.extend_from_slice(bytes);
            if buffer.ends_with(b"\r\n.\r\n") || buffer.as_slice() == b".\r\n" {
                let buffer = self.in_data.take().unwrap_or_default();
                return self.end_of_data(&buffer);
            }
            if !self.data.starts_with(buffer) {
                return Err("message data is not the encoded message".into());
            }
            return Ok(());
        }
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let lines: Vec<&str> = text.split_inclusive("\r\n").collect();
        if !text.ends_with("\r\n")
            || lines
                .iter()
                .any(|l| l[..l.len() - 2].contains(['\r', '\n']))
        {
            return Err(format!("{text:?} is not whole CRLF lines"));
        }
        let most = if self.pipelining { PIPELINE_WINDOW } else { 1 };
        if lines.len() > most {
            return Err(format!("{} commands in one write", lines.len()));
        }
        for line in lines {
            if self.closed {
                break;
            }
            self.command(&line[..line.len() - 2])?;
        }
        Ok(())
    }

    fn answer(&mut self, reply: Reply) {
        self.closed = reply.code == 421;
        self.written.push(reply.clone());
        self.replies.push_back(reply);
    }

    fn command(&mut self, line: &str) -> Result<(), String> {
        self.commands += 1;
        self.rset_refused = false;
        if line.starts_with("MAIL FROM:") {
            if line != self.mail_line {
                return Err(format!("{line:?} is not {:?}", self.mail_line));
            }
            if self.mail {
                return Err("MAIL inside an open transaction".into());
            }
            self.mail = self.script.mail == Answer::Ok;
            self.answer(scripted(Verb::Mail, self.script.mail));
        } else if let Some(rest) = line.strip_prefix("RCPT TO:<") {
            let address = rest.strip_suffix('>').ok_or("RCPT without >")?;
            let index = self
                .recipients
                .iter()
                .position(|r| r == address)
                .ok_or_else(|| format!("RCPT for a stranger {address:?}"))?;
            let planned = self.script.rcpt[index];
            let full = self
                .script
                .max_rcpts
                .is_some_and(|most| self.accepted.len() >= most);
            let reply = if !self.mail {
                reply("503 5.5.1 MAIL first")
            } else if planned == Answer::Ok && full {
                scripted(Verb::Rcpt, Answer::TooMany)
            } else {
                if planned == Answer::Ok {
                    self.accepted.push(index);
                }
                scripted(Verb::Rcpt, planned)
            };
            self.answer(reply);
        } else if line == "DATA" {
            if !self.pipelining && self.accepted.is_empty() {
                return Err("DATA with no recipient accepted, without PIPELINING".into());
            }
            let reply = if !self.mail {
                reply("503 5.5.1 MAIL first")
            } else if self.accepted.is_empty() && !self.script.lax_data {
                reply("554 5.5.1 no valid recipients")
            } else {
                scripted(Verb::Data, self.script.data)
            };
            if reply.code == 354 {
                self.in_data = Some(Vec::new());
            }
            self.answer(reply);
        } else if line == "RSET" {
            let reply = scripted(Verb::Rset, self.script.rset);
            if reply.is_success() {
                self.reset();
            }
            self.rset_refused = !reply.is_success();
            self.answer(reply);
        } else {
            return Err(format!("{line:?} is no command the client sends"));
        }
        Ok(())
    }

    fn end_of_data(&mut self, data: &[u8]) -> Result<(), String> {
        let accepted = std::mem::take(&mut self.accepted);
        self.mail = false;
        if data == b".\r\n" {
            if !accepted.is_empty() {
                return Err("empty data with a recipient accepted".into());
            }
            self.answer(reply("554 5.5.1 no valid recipients"));
            return Ok(());
        }
        if data != self.data {
            return Err("message data is not the encoded message".into());
        }
        if accepted.is_empty() {
            return Err("message data with no recipient accepted".into());
        }
        match self.protocol {
            Protocol::Smtp => {
                let reply = scripted(Verb::Final, self.script.after_data);
                if reply.is_success() {
                    self.delivered.extend(&accepted);
                }
                self.answer(reply);
            }
            Protocol::Lmtp => {
                for index in accepted {
                    if self.closed {
                        break;
                    }
                    let reply = scripted(Verb::Final, self.script.lmtp[index]);
                    if reply.is_success() {
                        self.delivered.push(index);
                    }
                    self.answer(reply);
                }
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.mail = false;
        self.accepted.clear();
    }
}

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
    let mut tx = Transaction::new(
        &envelope,
        &data,
        &case.caps,
        case.protocol,
        case.max_recipients,
    );
    let mut mail_line = format!("MAIL FROM:<{}>", envelope.sender.as_str());
    if case.caps.size.is_some() {
        mail_line += &format!(" SIZE={}", data.len() - 3);
    }
    if case.caps.eight_bit_mime && case.eight_bit {
        mail_line += " BODY=8BITMIME";
    }
    if envelope.needs_smtputf8() {
        mail_line += " SMTPUTF8";
    }
    let mut server = Server {
        script: &case.script,
        protocol: case.protocol,
        recipients: ADDRESSES[..case.recipients]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        pipelining: case.caps.pipelining,
        mail_line,
        data: &data,
        replies: VecDeque::new(),
        written: Vec::new(),
        closed: false,
        mail: false,
        accepted: Vec::new(),
        in_data: None,
        delivered: Vec::new(),
        rset_refused: false,
        commands: 0,
    };
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
    let clean = !server.closed && !server.mail && server.in_data.is_none();
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
