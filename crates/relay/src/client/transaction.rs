//! One message over an open session: the IO loop around [`crate::proto::transaction`].
//!
//! Every rule of the exchange (per-recipient replies, `421`, pipelining windows, further
//! transactions, RSET) lives in the sans-IO [`Transaction`]; this loop only writes the bytes
//! it asks for and reads the replies it waits for, each under its stage's timeout.
//!
//! # Layout
//! - [`deliver`]: the loop; [`TxOutcome`] its result.

use std::time::Duration;

use envoi_types::Envelope;

use crate::client::conn::Connection;
use crate::client::payload::{send_spooled, Payload};
use crate::config::Timeouts;
use crate::failure::{Failure, Stage};
use crate::proto::transaction::{Action, Transaction};

pub use crate::proto::transaction::{TxOutcome, PIPELINE_WINDOW};

/// Delivers `envelope` (already restricted to this next hop's recipients) over `conn`.
/// `payload` is the message data: encoded already, or read from its file while sent.
pub async fn deliver(
    conn: &mut Connection,
    envelope: &Envelope,
    payload: &Payload,
    timeouts: &Timeouts,
    max_recipients: usize,
) -> TxOutcome {
    let (caps, protocol) = (&conn.caps, conn.protocol);
    let mut tx = match payload {
        Payload::Encoded(data) => Transaction::new(envelope, data, caps, protocol, max_recipients),
        Payload::Spooled(message) => {
            let size = message.len() as u64;
            Transaction::streamed(envelope, size, caps, protocol, max_recipients)
        }
    };
    // Each turn does one write or one read; the machine bounds how many it asks for.
    loop {
        match tx.next_action() {
            Action::Send { bytes, stage } => {
                if let Err(failure) = conn.send(bytes, stage, timeout(timeouts, stage)).await {
                    tx.on_broken(failure);
                }
            }
            Action::SendMessage(stage) => {
                let Payload::Spooled(message) = payload else {
                    // The machine asks for this only for a streamed payload.
                    tx.on_broken(Failure::Config("no streamed message to send".into()));
                    continue;
                };
                let sent = send_spooled(conn, message, timeout(timeouts, stage)).await;
                if let Err(failure) = sent {
                    tx.on_broken(failure);
                }
            }
            Action::Read(stage) => match conn.read_reply(stage, timeout(timeouts, stage)).await {
                Ok(reply) => tx.on_reply(reply),
                Err(failure) => tx.on_broken(failure),
            },
            Action::Done => return tx.finish(),
        }
    }
}

/// The timeout of a transaction stage (RSET is a command).
fn timeout(timeouts: &Timeouts, stage: Stage) -> Duration {
    match stage {
        Stage::Mail => timeouts.mail,
        Stage::Rcpt => timeouts.rcpt,
        Stage::Data => timeouts.data,
        Stage::DataBlock => timeouts.data_block,
        Stage::FinalDot => timeouts.final_dot,
        _ => timeouts.command,
    }
}
