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
use crate::config::Timeouts;
use crate::failure::Stage;
use crate::proto::transaction::{Action, Transaction};

pub use crate::proto::transaction::{TxOutcome, PIPELINE_WINDOW};

/// Delivers `envelope` (already restricted to this next hop's recipients) over `conn`.
/// `data` is the encoded DATA payload ([`crate::proto::data::encode`]).
pub async fn deliver(
    conn: &mut Connection,
    envelope: &Envelope,
    data: &[u8],
    timeouts: &Timeouts,
    max_recipients: usize,
) -> TxOutcome {
    let mut tx = Transaction::new(envelope, data, &conn.caps, conn.protocol, max_recipients);
    // Each turn does one write or one read; the machine bounds how many it asks for.
    loop {
        match tx.next_action() {
            Action::Send { bytes, stage } => {
                if let Err(failure) = conn.send(bytes, stage, timeout(timeouts, stage)).await {
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
