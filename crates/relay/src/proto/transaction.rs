//! One message to a set of recipients over an open session, as a sans-IO state machine.
//!
//! The rules it applies:
//! - each RCPT reply counts on its own; `552` at RCPT is read as `452` (RFC 5321 §4.5.3.1.10:
//!   old servers said 552 for "too many recipients");
//! - a failure at MAIL or DATA applies to every recipient of that transaction;
//! - `421` at MAIL, RCPT, DATA or after the data ends the session: every recipient still
//!   pending gets it ([`Transaction::on_reply`] is the one place that says so);
//! - recipients refused with `452` "too many recipients" (`4.5.3`) after at least one was
//!   accepted go in a further transaction on the same connection, and later transactions send
//!   no more than the peer accepted;
//! - a transaction left open on the server (MAIL accepted, no data sent) is reset with RSET
//!   before the next one and at the end; a refused RSET before the next one fails the rest
//!   (`451`, the peer's text kept), the reply to the last one is not looked at;
//! - PIPELINING (RFC 2920) when offered: MAIL, the RCPTs and DATA go in windows of
//!   [`PIPELINE_WINDOW`] commands; otherwise one command at a time;
//! - SIZE is checked before anything is sent; SMTPUTF8 is required only when the message
//!   needs it ([`Envelope::needs_smtputf8`]: non-ASCII addresses, or UTF-8 headers that
//!   arrived with SMTPUTF8; `5.6.7` otherwise) and declared whenever the peer offers it and
//!   the client declared it; `BODY=8BITMIME` is declared when the peer offers it and the
//!   message has 8-bit octets or arrived declared 8-bit ([`Envelope::needs_8bitmime`]);
//! - LMTP reads one reply per accepted recipient after the final dot (RFC 2033 §4.2).
//!
//! Nothing here touches a socket or a clock. [`Transaction::next_action`] says what to do —
//! write these bytes, read one reply, or stop — and the caller does it and reports back with
//! [`Transaction::on_reply`] or [`Transaction::on_broken`]; `crate::client::transaction` is
//! that caller, the tests drive it against a scripted server.
//!
//! # Layout
//! - [`Transaction`]: the machine; [`Action`] what it asks for; [`TxOutcome`] its result.
//! - `Step`: where the machine stands.
//! - `round`: one MAIL…final-dot exchange, its commands and what their replies settle.

use std::collections::VecDeque;

use envoi_types::{Envelope, Reply};

use crate::failure::{with_code, Failure, Stage};
use crate::hop::Protocol;
use crate::proto::caps::Capabilities;
use crate::proto::command::{self, MailParams};
use round::{Cmd, Round};

mod round;

/// Commands written before their replies are read, when the peer offers PIPELINING. Bounded so
/// that a peer that stops reading cannot make both sides block on full socket buffers.
pub const PIPELINE_WINDOW: usize = 100;

/// Message data is written in blocks of this size, each under the data-block timeout.
pub const DATA_BLOCK: usize = 64 * 1024;

const RSET: &[u8] = b"RSET\r\n";
const EMPTY_DATA_END: &[u8] = b".\r\n";

/// What one transaction achieved.
#[derive(Debug)]
pub struct TxOutcome {
    /// One reply per recipient of the envelope, in order; `None` only when `failure` is set
    /// (the caller maps the failure for those).
    pub replies: Vec<Option<Reply>>,
    /// The failure that broke the session, if one did.
    pub failure: Option<Failure>,
    /// Set when envoi refused the message itself before sending anything (SIZE above the
    /// peer's limit, SMTPUTF8 needed and not offered): every reply is this failure's, and
    /// they are envoi's words, not the peer's.
    pub refused_locally: Option<Failure>,
    /// True when the session may carry another message.
    pub reusable: bool,
}

/// What the caller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'t> {
    /// Write all of `bytes` (whole command lines, or a block of message data) within the
    /// stage's timeout. A failed write goes to [`Transaction::on_broken`].
    Send {
        /// What to write.
        bytes: &'t [u8],
        /// The stage the write belongs to.
        stage: Stage,
    },
    /// Write the whole message data (a message kept in a file: the caller reads and encodes
    /// it piece by piece, final dot included), each piece within the stage's timeout. A failed
    /// write or read goes to [`Transaction::on_broken`], and the final dot is then never sent.
    SendMessage(Stage),
    /// Read one reply within the stage's timeout and hand it to [`Transaction::on_reply`] (or
    /// the failure to [`Transaction::on_broken`]).
    Read(Stage),
    /// Nothing more to do: [`Transaction::finish`] gives the outcome.
    Done,
}

/// Where the machine stands. `sent: false` steps write next, `sent: true` ones read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Between rounds: the next round, an RSET, or the end.
    Between,
    /// RSET before the next round; a refusal fails the rest.
    RsetBefore {
        sent: bool,
    },
    /// RSET that leaves the session clean for the next message; only a broken session counts.
    RsetAfter {
        sent: bool,
    },
    /// MAIL, the RCPTs and DATA, a window at a time: commands written, replies read.
    Commands {
        sent: usize,
        read: usize,
    },
    /// Pipelined DATA got `354` with no valid recipient: the empty data's end (RFC 2920 §3.1).
    EmptyDot {
        sent: bool,
    },
    /// Message data from this offset.
    Data {
        offset: usize,
    },
    /// Replies after the final dot read so far (LMTP: one per accepted recipient).
    FinalReplies {
        read: usize,
    },
    Done,
}

/// The client side of one message's delivery over an open session.
#[derive(Debug)]
pub struct Transaction<'a> {
    envelope: &'a Envelope,
    /// The DATA payload, final dot included; never copied. Empty when `streamed`.
    data: &'a [u8],
    /// The caller writes the data itself ([`Action::SendMessage`]).
    streamed: bool,
    protocol: Protocol,
    /// Commands per write: [`PIPELINE_WINDOW`] with PIPELINING, else 1.
    window: usize,
    params: MailParams,
    /// The peer offers DSN: the envelope's DSN parameters go with MAIL and RCPT.
    dsn: bool,
    replies: Vec<Option<Reply>>,
    /// Recipients not yet in a round, in order.
    pending: VecDeque<usize>,
    /// Most recipients per round.
    limit: usize,
    /// Every round settles at least one recipient (deferral needs an accepted one), so one
    /// round per recipient always suffices; the bound only guards against a logic slip.
    rounds_left: usize,
    /// A transaction is open on the server (MAIL accepted, no data sent): RSET first.
    dirty: bool,
    step: Step,
    round: Round,
    /// The pipelined window being written, built in place.
    out: Vec<u8>,
    failure: Option<Failure>,
    refused_locally: Option<Failure>,
    reusable: bool,
}

impl<'a> Transaction<'a> {
    /// A transaction for `envelope` (already restricted to this next hop's recipients) to a
    /// peer with `caps` speaking `protocol`; `data` is the encoded DATA payload
    /// ([`crate::proto::data::encode`]). A message the peer cannot take (SIZE, SMTPUTF8) is
    /// settled at once, with nothing to send.
    pub fn new(
        envelope: &'a Envelope,
        data: &'a [u8],
        caps: &Capabilities,
        protocol: Protocol,
        max_recipients: usize,
    ) -> Self {
        // RFC 1870 §3: the size excludes the terminating dot (dot-stuffing is a harmless
        // overestimate).
        let size = u64::try_from(data.len().saturating_sub(3)).unwrap_or(u64::MAX);
        Self::with_data(
            envelope,
            (data, false, size),
            caps,
            protocol,
            max_recipients,
        )
    }

    /// [`Transaction::new`] for a message the caller streams ([`Action::SendMessage`]):
    /// `size` is the message's size, declared with SIZE.
    pub fn streamed(
        envelope: &'a Envelope,
        size: u64,
        caps: &Capabilities,
        protocol: Protocol,
        max_recipients: usize,
    ) -> Self {
        Self::with_data(envelope, (&[], true, size), caps, protocol, max_recipients)
    }

    fn with_data(
        envelope: &'a Envelope,
        (data, streamed, size): (&'a [u8], bool, u64),
        caps: &Capabilities,
        protocol: Protocol,
        max_recipients: usize,
    ) -> Self {
        let count = envelope.recipients.len();
        let smtputf8 = envelope.needs_smtputf8();
        let mut tx = Self {
            envelope,
            data,
            streamed,
            protocol,
            window: if caps.pipelining { PIPELINE_WINDOW } else { 1 },
            params: MailParams {
                size: caps.size.map(|_| size),
                eight_bit: caps.eight_bit_mime && envelope.needs_8bitmime(),
                smtputf8: caps.smtputf8 && envelope.wants_smtputf8(),
            },
            dsn: caps.dsn,
            replies: vec![None; count],
            pending: (0..count).collect(),
            limit: max_recipients.max(1),
            rounds_left: count.saturating_add(1),
            dirty: false,
            step: Step::Between,
            round: Round::default(),
            out: Vec::new(),
            failure: None,
            refused_locally: None,
            reusable: true,
        };
        match caps.size.filter(|limit| *limit > 0) {
            Some(limit) if size > limit => tx.refuse_locally(Failure::TooBig { size, limit }),
            _ if smtputf8 && !caps.smtputf8 => tx.refuse_locally(Failure::NoSmtpUtf8),
            _ => {}
        }
        tx
    }

    /// What to do next. Call it again after each write, and after each reply or failure
    /// reported; once it says [`Action::Done`] it always does.
    pub fn next_action(&mut self) -> Action<'_> {
        // Each turn returns or moves the step on; the round bound ends the rounds.
        loop {
            match self.step {
                Step::Between => self.between(),
                Step::RsetBefore { sent: false } => {
                    self.step = Step::RsetBefore { sent: true };
                    return send(RSET, Stage::Other);
                }
                Step::RsetAfter { sent: false } => {
                    self.step = Step::RsetAfter { sent: true };
                    return send(RSET, Stage::Other);
                }
                Step::RsetBefore { sent: true } | Step::RsetAfter { sent: true } => {
                    return Action::Read(Stage::Other)
                }
                Step::Commands { sent, read } if read < sent => {
                    return Action::Read(self.round.cmd(read).stage())
                }
                Step::Commands { sent, .. } => {
                    if self.commands_over(sent) {
                        self.after_commands();
                    } else {
                        return self.write_window(sent);
                    }
                }
                Step::EmptyDot { sent: false } => {
                    self.step = Step::EmptyDot { sent: true };
                    return send(EMPTY_DATA_END, Stage::DataBlock);
                }
                Step::EmptyDot { sent: true } => return Action::Read(Stage::FinalDot),
                Step::Data { offset: 0 } if self.streamed => {
                    self.step = Step::FinalReplies { read: 0 };
                    return Action::SendMessage(Stage::DataBlock);
                }
                Step::Data { offset } if offset < self.data.len() => {
                    let end = offset.saturating_add(DATA_BLOCK).min(self.data.len());
                    self.step = Step::Data { offset: end };
                    return send(&self.data[offset..end], Stage::DataBlock);
                }
                Step::Data { .. } => self.step = Step::FinalReplies { read: 0 },
                Step::FinalReplies { read } if read < self.final_replies() => {
                    return Action::Read(Stage::FinalDot)
                }
                Step::FinalReplies { .. } => self.end_round(false),
                Step::Done => return Action::Done,
            }
        }
    }

    /// The reply that [`Action::Read`] asked for.
    pub fn on_reply(&mut self, reply: Reply) {
        match self.step {
            Step::RsetBefore { sent: true } => {
                if reply.is_success() {
                    self.start_round();
                } else {
                    self.on_broken(Failure::Peer(with_code(&reply, 451)));
                }
            }
            Step::RsetAfter { sent: true } => self.step = Step::Done,
            // The peer is closing the channel: the one place a 421 is handled.
            Step::Commands { .. } | Step::EmptyDot { .. } | Step::FinalReplies { .. }
                if reply.code == 421 =>
            {
                self.close(&reply);
            }
            Step::Commands { sent, read } if read < sent => {
                self.step = Step::Commands {
                    sent,
                    read: read + 1,
                };
                let cmd = self.round.cmd(read);
                self.round.on_reply(cmd, reply, &mut self.replies);
            }
            Step::EmptyDot { sent: true } => {
                self.round.data_go = false;
                self.round.mail_ok = false;
                self.after_commands();
            }
            Step::FinalReplies { read } => {
                self.step = Step::FinalReplies { read: read + 1 };
                match self.protocol {
                    Protocol::Smtp => {
                        for index in &self.round.accepted {
                            self.replies[*index] = Some(reply.clone());
                        }
                    }
                    Protocol::Lmtp => {
                        if let Some(index) = self.round.accepted.get(read) {
                            self.replies[*index] = Some(reply);
                        }
                    }
                }
            }
            // No reply was asked for: nothing to apply it to.
            _ => {}
        }
    }

    /// The write or read that the last [`Action`] asked for failed: the session is unusable.
    /// Recipients without a reply keep none; the caller maps `failure` for them.
    pub fn on_broken(&mut self, failure: Failure) {
        if !matches!(self.step, Step::RsetAfter { .. }) {
            // Every recipient already has its reply when only the cleaning RSET broke.
            self.failure = Some(failure);
        }
        self.reusable = false;
        self.step = Step::Done;
    }

    /// The outcome, once [`Transaction::next_action`] said [`Action::Done`] (before that,
    /// what is known so far).
    pub fn finish(self) -> TxOutcome {
        TxOutcome {
            replies: self.replies,
            failure: self.failure,
            refused_locally: self.refused_locally,
            reusable: self.reusable,
        }
    }

    /// Nothing is sent: every recipient gets `failure`'s reply, which envoi made.
    fn refuse_locally(&mut self, failure: Failure) {
        let reply = failure.to_reply();
        for slot in &mut self.replies {
            *slot = Some(reply.clone());
        }
        self.pending.clear();
        self.step = Step::Done;
        self.refused_locally = Some(failure);
    }

    /// The peer closes the session: every recipient without a reply gets its `421`.
    fn close(&mut self, reply: &Reply) {
        for slot in self.replies.iter_mut().filter(|r| r.is_none()) {
            *slot = Some(reply.clone());
        }
        self.reusable = false;
        self.step = Step::Done;
    }

    fn between(&mut self) {
        self.step = if !self.pending.is_empty() && self.rounds_left > 0 {
            if self.dirty {
                Step::RsetBefore { sent: false }
            } else {
                self.start_round();
                return;
            }
        } else if self.dirty {
            Step::RsetAfter { sent: false }
        } else {
            Step::Done
        };
    }

    fn start_round(&mut self) {
        self.rounds_left = self.rounds_left.saturating_sub(1);
        let take = self.limit.min(self.pending.len());
        self.round.start(self.pending.drain(..take));
        self.step = Step::Commands { sent: 0, read: 0 };
    }

    /// True when no further window is written: all sent, MAIL refused, or (one command at a
    /// time) DATA next with no recipient accepted.
    fn commands_over(&self, sent: usize) -> bool {
        sent >= self.round.commands()
            || self.round.mail_failed.is_some()
            || (self.window == 1
                && self.round.cmd(sent) == Cmd::Data
                && self.round.accepted.is_empty())
    }

    /// Builds the next window of commands in `out` and asks for it to be written.
    fn write_window(&mut self, sent: usize) -> Action<'_> {
        let end = sent.saturating_add(self.window).min(self.round.commands());
        self.out.clear();
        self.out.reserve(64 * (end - sent));
        let dsn = self.dsn.then_some(&self.envelope.dsn);
        for position in sent..end {
            match self.round.cmd(position) {
                Cmd::Mail => {
                    command::mail_from(&mut self.out, &self.envelope.sender, self.params, dsn);
                }
                Cmd::Rcpt(p) => command::rcpt_to(
                    &mut self.out,
                    &self.envelope.recipients[self.round.batch[p]],
                    dsn,
                ),
                Cmd::Data => self.out.extend_from_slice(b"DATA\r\n"),
            }
        }
        self.step = Step::Commands {
            sent: end,
            read: sent,
        };
        send(&self.out, self.round.cmd(sent).stage())
    }

    /// Every command reply is in: the empty data's end, the message data, or the round's end.
    fn after_commands(&mut self) {
        let round = &self.round;
        if round.data_go && (round.mail_failed.is_some() || round.accepted.is_empty()) {
            self.step = Step::EmptyDot { sent: false };
        } else if let Some(mail) = &round.mail_failed {
            for index in &round.batch {
                if self.replies[*index].is_none() {
                    self.replies[*index] = Some(mail.clone());
                }
            }
            self.end_round(false);
        } else if !round.data_go {
            // DATA refused (its reply is settled), never sent because no RCPT was accepted,
            // or ended empty: a transaction may still be open on the server.
            self.end_round(round.mail_ok);
        } else {
            self.step = Step::Data { offset: 0 };
        }
    }

    fn final_replies(&self) -> usize {
        match self.protocol {
            Protocol::Smtp => 1,
            Protocol::Lmtp => self.round.accepted.len(),
        }
    }

    fn end_round(&mut self, dirty: bool) {
        let round = &mut self.round;
        if !round.deferred.is_empty() {
            self.limit = (round.batch.len() - round.deferred.len()).max(1);
            for index in round.deferred.drain(..).rev() {
                self.pending.push_front(index);
            }
        }
        self.dirty = dirty;
        self.step = Step::Between;
    }
}

fn send(bytes: &[u8], stage: Stage) -> Action<'_> {
    Action::Send { bytes, stage }
}

#[cfg(test)]
mod tests;
