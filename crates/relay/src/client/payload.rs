//! The message data a transaction sends: encoded once in memory for a message held in memory,
//! or read from its file and encoded piece by piece while it is sent.
//!
//! A spooled message is never whole in memory: one piece of the file ([`PIECE`]) and its
//! encoded form are all the relay holds of it, per session. A file that cannot be read, or
//! is shorter than its message says, breaks the session before the final dot, so the peer
//! never takes a truncated message.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use envoi_types::{Message, SpooledBody};
use tokio::io::AsyncReadExt;

use crate::client::conn::Connection;
use crate::failure::{Failure, Stage};
use crate::proto::data::{self, Encoder};

/// How much of a spooled message is read (and encoded) at a time.
pub const PIECE: usize = 64 * 1024;

/// What a transaction sends as its data.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The encoded DATA payload ([`data::encode`]), shared by every next hop of the message.
    Encoded(Arc<Vec<u8>>),
    /// A message whose body is in a file: each next hop reads and encodes it as it sends.
    Spooled(Message),
}

impl Payload {
    /// The payload for `message`: spooled when its body is in a file, else encoded now.
    pub fn of(message: &Message) -> Self {
        if message.spooled_body().is_some() {
            Self::Spooled(message.clone())
        } else {
            Self::Encoded(Arc::new(data::encode(message.as_bytes())))
        }
    }
}

/// Writes `message` as DATA (final dot included) over `conn`, each piece within `timeout`.
///
/// # Errors
/// A failed write, or [`Failure::BodyUnreadable`] when the file fails; either way the final
/// dot was not sent.
pub async fn send_spooled(
    conn: &mut Connection,
    message: &Message,
    timeout: Duration,
) -> Result<(), Failure> {
    let stage = Stage::DataBlock;
    let mut encoder = Encoder::new();
    let mut out = Vec::with_capacity(PIECE + PIECE / 8);
    encoder.push(message.as_bytes(), &mut out);
    if let Some(rest) = message.spooled_body() {
        let mut file = open(rest).await?;
        let mut piece = vec![0_u8; PIECE];
        let mut left = rest.len();
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(PIECE).min(PIECE);
            let read = file
                .read(&mut piece[..want])
                .await
                .map_err(Failure::BodyUnreadable)?;
            if read == 0 {
                return Err(Failure::BodyUnreadable(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} ends {left} octets early", rest.path().display()),
                )));
            }
            left -= read as u64;
            encoder.push(&piece[..read], &mut out);
            if out.len() >= PIECE {
                conn.send(&out, stage, timeout).await?;
                out.clear();
            }
        }
    }
    encoder.finish(&mut out);
    conn.send(&out, stage, timeout).await
}

async fn open(rest: &SpooledBody) -> Result<tokio::fs::File, Failure> {
    tokio::fs::File::open(rest.path())
        .await
        .map_err(Failure::BodyUnreadable)
}
