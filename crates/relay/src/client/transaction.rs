//! One message over an open session to a set of recipients, with the per-recipient rules.
//!
//! - each RCPT reply counts on its own; `552` at RCPT is read as `452` (RFC 5321 §4.5.3.1.10:
//!   old servers said 552 for "too many recipients");
//! - a failure at MAIL or DATA applies to every recipient of that transaction;
//! - `421` anywhere ends the session: every recipient still pending gets it;
//! - recipients refused with `452` "too many recipients" (`4.5.3`) after at least one was
//!   accepted go in a further transaction on the same connection, and later transactions send
//!   no more than the peer accepted;
//! - PIPELINING (RFC 2920) when offered: MAIL, the RCPTs and DATA go in windows of
//!   [`PIPELINE_WINDOW`] commands; otherwise one command at a time;
//! - SIZE is checked before anything is sent, SMTPUTF8 is required when the message needs it
//!   (`5.6.7` otherwise), `BODY=8BITMIME` is declared when the peer offers it;
//! - LMTP reads one reply per accepted recipient after the final dot (RFC 2033 §4.2).
//!
//! # Layout
//! - [`deliver`]: the loop over transactions; [`TxOutcome`] its result.
//! - `transaction`: one MAIL…final-dot exchange.

use std::collections::VecDeque;

use envoi_types::{Envelope, Reply};

use crate::client::conn::Connection;
use crate::config::{Protocol, Timeouts};
use crate::failure::{with_code, Failure, Stage};
use crate::proto::command::{self, MailParams};

/// Commands written before their replies are read, when the peer offers PIPELINING. Bounded so
/// that a peer that stops reading cannot make both sides block on full socket buffers.
pub const PIPELINE_WINDOW: usize = 100;

/// Message data is written in blocks of this size, each under the data-block timeout.
const DATA_BLOCK: usize = 64 * 1024;

/// What one [`deliver`] call achieved.
#[derive(Debug)]
pub struct TxOutcome {
    /// One reply per recipient of the envelope, in order; `None` only when `failure` is set
    /// (the caller maps the failure for those).
    pub replies: Vec<Option<Reply>>,
    /// The failure that broke the session, if one did.
    pub failure: Option<Failure>,
    /// True when the session may carry another message.
    pub reusable: bool,
}

/// How one transaction ended, when the connection survived it.
struct RoundEnd {
    /// A `421` that closes the session.
    closing: Option<Reply>,
    /// A transaction is still open on the server (MAIL accepted, no data sent): RSET first.
    dirty: bool,
}

/// Delivers `envelope` (already restricted to this next hop's recipients) over `conn`.
/// `data` is the encoded DATA payload ([`crate::proto::data::encode`]).
pub async fn deliver(
    conn: &mut Connection,
    envelope: &Envelope,
    data: &[u8],
    timeouts: &Timeouts,
    max_recipients: usize,
) -> TxOutcome {
    let count = envelope.recipients.len();
    let mut replies: Vec<Option<Reply>> = vec![None; count];
    // RFC 1870 §3: the size excludes the terminating dot (dot-stuffing is a harmless overestimate).
    let size = u64::try_from(data.len().saturating_sub(3)).unwrap_or(u64::MAX);
    if let Some(limit) = conn.caps.size.filter(|limit| *limit > 0) {
        if size > limit {
            return settled_all(count, &Failure::TooBig { size, limit });
        }
    }
    let smtputf8 = envelope.needs_smtputf8();
    if smtputf8 && !conn.caps.smtputf8 {
        return settled_all(count, &Failure::NoSmtpUtf8);
    }
    let params = MailParams {
        size: conn.caps.size.map(|_| size),
        eight_bit: conn.caps.eight_bit_mime && envelope.message.has_8bit(),
        smtputf8,
    };
    let mut pending: VecDeque<usize> = (0..count).collect();
    let mut limit = max_recipients.max(1);
    let mut dirty = false;
    // Every round settles at least one recipient (deferral needs an accepted one), so `count`
    // rounds always suffice; the bound only guards against a logic slip.
    for _ in 0..=count {
        if pending.is_empty() {
            break;
        }
        if dirty {
            match conn
                .command(b"RSET\r\n", Stage::Other, timeouts.command)
                .await
            {
                Ok(reply) if reply.is_success() => {}
                Ok(reply) => return fail_rest(replies, Failure::Peer(with_code(&reply, 451))),
                Err(failure) => return fail_rest(replies, failure),
            }
        }
        let take = limit.min(pending.len());
        let batch: Vec<usize> = pending.drain(..take).collect();
        let mut deferred = Vec::new();
        let round = transaction(
            conn,
            envelope,
            &batch,
            data,
            params,
            timeouts,
            &mut replies,
            &mut deferred,
        )
        .await;
        let end = match round {
            Ok(end) => end,
            Err(failure) => return fail_rest(replies, failure),
        };
        if let Some(closing) = end.closing {
            for reply in replies.iter_mut().filter(|r| r.is_none()) {
                *reply = Some(closing.clone());
            }
            return TxOutcome {
                replies,
                failure: None,
                reusable: false,
            };
        }
        if !deferred.is_empty() {
            limit = (batch.len() - deferred.len()).max(1);
            for index in deferred.into_iter().rev() {
                pending.push_front(index);
            }
        }
        dirty = end.dirty;
    }
    if dirty {
        // Leave the session clean for the next message.
        if conn
            .command(b"RSET\r\n", Stage::Other, timeouts.command)
            .await
            .is_err()
        {
            return TxOutcome {
                replies,
                failure: None,
                reusable: false,
            };
        }
    }
    TxOutcome {
        replies,
        failure: None,
        reusable: true,
    }
}

fn settled_all(count: usize, failure: &Failure) -> TxOutcome {
    TxOutcome {
        replies: vec![Some(failure.to_reply()); count],
        failure: None,
        reusable: true,
    }
}

fn fail_rest(replies: Vec<Option<Reply>>, failure: Failure) -> TxOutcome {
    TxOutcome {
        replies,
        failure: Some(failure),
        reusable: false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Mail,
    /// Position in the batch.
    Rcpt(usize),
    Data,
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

/// One MAIL…final-dot exchange for `batch` (indexes into the envelope's recipients).
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
async fn transaction(
    conn: &mut Connection,
    envelope: &Envelope,
    batch: &[usize],
    data: &[u8],
    params: MailParams,
    timeouts: &Timeouts,
    replies: &mut [Option<Reply>],
    deferred: &mut Vec<usize>,
) -> Result<RoundEnd, Failure> {
    let cmds: Vec<Cmd> = std::iter::once(Cmd::Mail)
        .chain((0..batch.len()).map(Cmd::Rcpt))
        .chain(std::iter::once(Cmd::Data))
        .collect();
    let window = if conn.caps.pipelining {
        PIPELINE_WINDOW
    } else {
        1
    };
    let mut mail_failed: Option<Reply> = None;
    let mut mail_ok = false;
    let mut accepted: Vec<usize> = Vec::new();
    let mut data_go = false;
    for chunk in cmds.chunks(window) {
        if mail_failed.is_some() || (chunk[0] == Cmd::Data && accepted.is_empty() && window == 1) {
            break;
        }
        let mut bytes = Vec::with_capacity(64 * chunk.len());
        for cmd in chunk {
            match cmd {
                Cmd::Mail => command::mail_from(&mut bytes, &envelope.sender, params),
                Cmd::Rcpt(p) => command::rcpt_to(&mut bytes, &envelope.recipients[batch[*p]]),
                Cmd::Data => bytes.extend_from_slice(b"DATA\r\n"),
            }
        }
        let (stage, timeout) = stage_of(chunk[0], timeouts);
        conn.send(&bytes, stage, timeout).await?;
        for cmd in chunk {
            let (stage, timeout) = stage_of(*cmd, timeouts);
            let reply = conn.read_reply(stage, timeout).await?;
            if reply.code == 421 {
                return Ok(RoundEnd {
                    closing: Some(reply),
                    dirty: false,
                });
            }
            match *cmd {
                Cmd::Mail if reply.is_success() => mail_ok = true,
                Cmd::Mail => mail_failed = Some(reply),
                Cmd::Rcpt(p) => {
                    let index = batch[p];
                    if let Some(mail) = &mail_failed {
                        replies[index] = Some(mail.clone());
                    } else if reply.is_success() {
                        accepted.push(index);
                    } else {
                        let reply = if reply.code == 552 {
                            with_code(&reply, 452)
                        } else {
                            reply
                        };
                        if too_many_recipients(&reply) && !accepted.is_empty() {
                            deferred.push(index);
                        } else {
                            replies[index] = Some(reply);
                        }
                    }
                }
                Cmd::Data if reply.code == 354 => data_go = true,
                Cmd::Data => {
                    for index in &accepted {
                        replies[*index] = Some(reply.clone());
                    }
                }
            }
        }
    }
    if data_go && (mail_failed.is_some() || accepted.is_empty()) {
        // Pipelined DATA got 354 with no valid recipient: end the empty data (RFC 2920 §3.1).
        conn.send(b".\r\n", Stage::DataBlock, timeouts.data_block)
            .await?;
        let reply = conn.read_reply(Stage::FinalDot, timeouts.final_dot).await?;
        if reply.code == 421 {
            return Ok(RoundEnd {
                closing: Some(reply),
                dirty: false,
            });
        }
        data_go = false;
        mail_ok = false;
    }
    if let Some(mail) = mail_failed {
        for index in batch {
            if replies[*index].is_none() {
                replies[*index] = Some(mail.clone());
            }
        }
        return Ok(RoundEnd {
            closing: None,
            dirty: false,
        });
    }
    if !data_go {
        // DATA refused (its reply is settled above), never sent because no RCPT was accepted,
        // or ended empty above: a transaction may still be open on the server.
        return Ok(RoundEnd {
            closing: None,
            dirty: mail_ok,
        });
    }
    for block in data.chunks(DATA_BLOCK) {
        conn.send(block, Stage::DataBlock, timeouts.data_block)
            .await?;
    }
    match conn.protocol {
        Protocol::Smtp => {
            let reply = conn.read_reply(Stage::FinalDot, timeouts.final_dot).await?;
            if reply.code == 421 {
                return Ok(RoundEnd {
                    closing: Some(reply),
                    dirty: false,
                });
            }
            for index in &accepted {
                replies[*index] = Some(reply.clone());
            }
        }
        Protocol::Lmtp => {
            for index in &accepted {
                let reply = conn.read_reply(Stage::FinalDot, timeouts.final_dot).await?;
                if reply.code == 421 {
                    return Ok(RoundEnd {
                        closing: Some(reply),
                        dirty: false,
                    });
                }
                replies[*index] = Some(reply);
            }
        }
    }
    Ok(RoundEnd {
        closing: None,
        dirty: false,
    })
}

fn stage_of(cmd: Cmd, timeouts: &Timeouts) -> (Stage, std::time::Duration) {
    match cmd {
        Cmd::Mail => (Stage::Mail, timeouts.mail),
        Cmd::Rcpt(_) => (Stage::Rcpt, timeouts.rcpt),
        Cmd::Data => (Stage::Data, timeouts.data),
    }
}
