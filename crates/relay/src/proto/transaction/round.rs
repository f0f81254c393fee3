//! One MAIL…final-dot exchange of a [`super::Transaction`]: its commands by position and what
//! each command reply settles.
//!
//! # Layout
//! - `Cmd`: MAIL, one RCPT, DATA.
//! - `Round`: the batch, who was accepted or deferred, how MAIL and DATA went.

use envoi_types::Reply;

use crate::failure::{with_code, Failure, Stage};

/// One command of a round, by position: MAIL, the batch's RCPTs, DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmd {
    Mail,
    /// Position in the batch.
    Rcpt(usize),
    Data,
}

impl Cmd {
    /// The stage its write and its reply belong to.
    pub(super) fn stage(self) -> Stage {
        match self {
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data => Stage::Data,
        }
    }
}

/// One MAIL…final-dot exchange. Kept across rounds so its vectors are allocated once.
#[derive(Debug, Default)]
pub(super) struct Round {
    /// Indexes into the envelope's recipients.
    pub(super) batch: Vec<usize>,
    pub(super) accepted: Vec<usize>,
    /// Refused as "too many recipients": for a further round.
    pub(super) deferred: Vec<usize>,
    pub(super) mail_ok: bool,
    pub(super) mail_failed: Option<Reply>,
    /// DATA got `354`.
    pub(super) data_go: bool,
}

impl Round {
    /// Starts over with these recipients.
    pub(super) fn start(&mut self, batch: impl Iterator<Item = usize>) {
        self.batch.clear();
        self.batch.extend(batch);
        self.accepted.clear();
        self.deferred.clear();
        self.mail_ok = false;
        self.mail_failed = None;
        self.data_go = false;
    }

    /// MAIL, the RCPTs and DATA.
    pub(super) fn commands(&self) -> usize {
        self.batch.len() + 2
    }

    /// The command at `position` (0 is MAIL).
    pub(super) fn cmd(&self, position: usize) -> Cmd {
        match position {
            0 => Cmd::Mail,
            p if p <= self.batch.len() => Cmd::Rcpt(p - 1),
            _ => Cmd::Data,
        }
    }

    /// Applies the (non-`421`) reply to `cmd`, settling in `replies` whom it settles.
    pub(super) fn on_reply(&mut self, cmd: Cmd, reply: Reply, replies: &mut [Option<Reply>]) {
        match cmd {
            Cmd::Mail if reply.is_success() => self.mail_ok = true,
            Cmd::Mail => self.mail_failed = Some(reply),
            Cmd::Rcpt(p) => {
                let index = self.batch[p];
                if let Some(mail) = &self.mail_failed {
                    replies[index] = Some(mail.clone());
                } else if reply.is_success() {
                    self.accepted.push(index);
                } else {
                    let reply = if reply.code == 552 {
                        with_code(&reply, 452)
                    } else {
                        reply
                    };
                    if too_many_recipients(&reply) && !self.accepted.is_empty() {
                        self.deferred.push(index);
                    } else {
                        replies[index] = Some(reply);
                    }
                }
            }
            Cmd::Data if reply.code == 354 => self.data_go = true,
            Cmd::Data => {
                // A success without 354 sent nothing: it must not read as a delivery.
                let reply = if reply.is_success() {
                    Failure::Peer(reply).to_reply()
                } else {
                    reply
                };
                for index in &self.accepted {
                    replies[*index] = Some(reply.clone());
                }
            }
        }
    }
}

/// True for a reply that means "no more recipients in this transaction".
fn too_many_recipients(reply: &Reply) -> bool {
    reply.code == 452
        && (reply.enhanced.to_string() == "4.5.3"
            || reply
                .text()
                .to_ascii_lowercase()
                .contains("too many recipients"))
}
