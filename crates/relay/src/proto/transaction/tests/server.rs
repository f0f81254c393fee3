//! The scripted server the transaction machine is driven against: a small SMTP/LMTP server
//! model that parses what the machine writes (refusing anything that is not a well-formed
//! command, or bytes after it said `421`), answers from a [`Script`], and records whom it
//! delivered to.

use std::collections::VecDeque;

use envoi_types::Reply;

use crate::hop::Protocol;
use crate::proto::transaction::PIPELINE_WINDOW;

pub(super) fn reply(wire: &str) -> Reply {
    Reply::parse(format!("{wire}\r\n").as_bytes()).unwrap()
}

/// How the scripted server answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
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
pub(super) enum Verb {
    Mail,
    Rcpt,
    Data,
    Final,
    Rset,
}

pub(super) fn scripted(verb: Verb, answer: Answer) -> Reply {
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
pub(super) struct Script {
    pub(super) mail: Answer,
    /// Per recipient (by envelope position).
    pub(super) rcpt: Vec<Answer>,
    pub(super) data: Answer,
    /// SMTP's reply after the data.
    pub(super) after_data: Answer,
    /// LMTP's replies after the data, per recipient.
    pub(super) lmtp: Vec<Answer>,
    pub(super) rset: Answer,
    /// Recipients accepted per transaction before `452 4.5.3`.
    pub(super) max_rcpts: Option<usize>,
    /// Answer DATA from the script even with no recipient accepted (RFC 2920 §3.1 allows
    /// `354` there), instead of `554`.
    pub(super) lax_data: bool,
}

/// What the server saw and did.
#[derive(Debug)]
pub(super) struct Server<'s> {
    script: &'s Script,
    protocol: Protocol,
    recipients: Vec<String>,
    pub(super) pipelining: bool,
    /// The one MAIL line any transaction may use.
    pub(super) mail_line: String,
    data: &'s [u8],
    pub(super) replies: VecDeque<Reply>,
    /// Every reply written, for checking what outcomes quote.
    pub(super) written: Vec<Reply>,
    closed: bool,
    mail: bool,
    /// Accepted recipients of the open transaction, by envelope position.
    accepted: Vec<usize>,
    in_data: Option<Vec<u8>>,
    pub(super) delivered: Vec<usize>,
    /// The last command was an RSET the script refused.
    pub(super) rset_refused: bool,
    pub(super) commands: usize,
}

impl<'s> Server<'s> {
    /// A server with nothing seen yet, expecting `data` as the message, without PIPELINING and
    /// with a null sender until told otherwise.
    pub(super) fn new(
        script: &'s Script,
        protocol: Protocol,
        recipients: Vec<String>,
        data: &'s [u8],
    ) -> Self {
        Self {
            script,
            protocol,
            recipients,
            pipelining: false,
            mail_line: "MAIL FROM:<>".to_owned(),
            data,
            replies: VecDeque::new(),
            written: Vec::new(),
            closed: false,
            mail: false,
            accepted: Vec::new(),
            in_data: None,
            delivered: Vec::new(),
            rset_refused: false,
            commands: 0,
        }
    }

    /// Open, with no transaction going on: ready for the next message.
    pub(super) fn is_clean(&self) -> bool {
        !self.closed && !self.mail && self.in_data.is_none()
    }

    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
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

    pub(super) fn answer(&mut self, reply: Reply) {
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
