//! The tokio side of a session: the socket, the buffers, the deadlines and shutdown.
//!
//! Every wait ends at a deadline (`super::deadline`), at the end of the session, or at
//! shutdown, whichever comes first. Input is read in chunks of at most [`READ_CHUNK`] octets into a buffer the sans-IO
//! parsers consume, so memory per session is bounded by the line limit plus one read (and,
//! for a message, by the size limit). Replies are queued and flushed only when the loop is
//! about to wait for input: pipelined commands get their replies in one write
//! (RFC 2920), and a reply always goes out before the server waits.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::body::{BodyWriter, ChunkedBody, TAKE_ABOVE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::memory::{Held, MemoryBudget};
use crate::proto::{DataProblem, DataReader, LineEvent, LineReader};
use crate::replies::Response;
use crate::session::deadline::{CommandDeadline, TransferDeadline};

/// Most octets taken from the socket in one read.
const READ_CHUNK: usize = 8192;

/// A byte stream the session can run over: TCP, or TLS over TCP.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed stream, so STARTTLS can swap the plain stream for a TLS one.
pub(crate) type Io = Box<dyn Stream>;

/// The server's two shutdown signals as a session sees them.
#[derive(Clone)]
pub(crate) struct Signals {
    /// Shutdown started: idle sessions close with 421, open transactions may finish.
    pub shutdown: CancellationToken,
    /// The grace period is over: every session closes with 421 at its next wait.
    pub hard: CancellationToken,
}

/// Why the session stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// End of input or an I/O error: nothing more can be said.
    Closed,
    /// The client said QUIT.
    Quit,
    /// A refusal ended the session: a `421`, or the connect hook's reply.
    Refused,
    /// The client reached the error limit.
    TooManyErrors,
    /// The client was too slow: a command or transfer deadline passed.
    Timeout,
    /// The session reached its longest duration.
    SessionOver,
    /// The server is shutting down.
    Shutdown,
}

impl Stop {
    /// The word the disconnect log line gives for it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Quit => "quit",
            Self::Refused => "refused",
            Self::TooManyErrors => "errors",
            Self::Timeout => "timeout",
            Self::SessionOver => "session-limit",
            Self::Shutdown => "shutdown",
        }
    }
}

/// One client connection's socket and buffers.
pub(crate) struct Conn {
    /// The stream; replaced by its TLS form after STARTTLS.
    pub io: Io,
    /// Octets read and not yet consumed.
    pub input: BytesMut,
    output: Vec<u8>,
    write_timeout: Duration,
    /// When the session must end, whatever it is doing.
    session_end: Instant,
}

impl Conn {
    /// A connection over `io` that must end by `session_end`.
    pub(crate) fn new(io: Io, write_timeout: Duration, session_end: Instant) -> Self {
        Self {
            io,
            input: BytesMut::new(),
            output: Vec::new(),
            write_timeout,
            session_end,
        }
    }

    /// Queues a reply; it goes out before the next wait for input.
    pub(crate) fn queue(&mut self, response: &Response) {
        self.output.extend_from_slice(response.wire.as_bytes());
    }

    /// Writes the queued replies.
    pub(crate) async fn flush(&mut self) -> Result<(), Stop> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.io.write_all(&self.output).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(self.write_timeout, write).await {
            Ok(Ok(())) => {
                self.output.clear();
                Ok(())
            }
            _ => Err(Stop::Closed),
        }
    }

    /// Flushes, then waits for one read of at most [`READ_CHUNK`] octets until `deadline`;
    /// returns how many octets came.
    async fn read_more(
        &mut self,
        deadline: Instant,
        idle: bool,
        signals: &Signals,
    ) -> Result<usize, Stop> {
        self.flush().await?;
        // Straight into the input buffer's spare capacity: a zeroed stack chunk copied into
        // `input` cost 5 % of envoi's instructions in memset alone (bench/relay/README.md,
        // "Profile" item 4). `limit` keeps one read at most READ_CHUNK octets, as before.
        self.input.reserve(READ_CHUNK);
        let mut room = (&mut self.input).limit(READ_CHUNK);
        tokio::select! {
            read = self.io.read_buf(&mut room) => match read {
                Ok(0) | Err(_) => Err(Stop::Closed),
                Ok(n) => Ok(n),
            },
            () = tokio::time::sleep_until(deadline) => Err(Stop::Timeout),
            () = tokio::time::sleep_until(self.session_end) => Err(Stop::SessionOver),
            () = signals.shutdown.cancelled(), if idle => Err(Stop::Shutdown),
            () = signals.hard.cancelled() => Err(Stop::Shutdown),
        }
    }

    /// The next line event, reading as needed: the wait for its first octet and the line
    /// from there to its end are each bounded by `timeout`.
    pub(crate) async fn next_line(
        &mut self,
        lines: &mut LineReader,
        timeout: Duration,
        idle: bool,
        signals: &Signals,
    ) -> Result<LineEvent, Stop> {
        let begun = !self.input.is_empty() || lines.is_discarding();
        let mut deadline = CommandDeadline::new(Instant::now(), timeout, begun);
        // Each pass either returns or reads at least one octet; input ends the loop.
        loop {
            if let Some(event) = lines.next(&mut self.input) {
                return Ok(event);
            }
            self.read_more(deadline.at(), idle, signals).await?;
            deadline.received(Instant::now());
        }
    }

    /// A DATA body, up to and including `<CRLF>.<CRLF>`; what follows stays buffered. The
    /// content goes to `writer` as it comes, in pieces of about [`TAKE_ABOVE`]; the reader's
    /// verdict and its last piece are returned. Room for what is held in memory is reserved
    /// from `budget` before it is kept; without room the reader stops keeping and the message
    /// is refused at its end.
    pub(crate) async fn read_data(
        &mut self,
        mut reader: DataReader,
        writer: &mut BodyWriter,
        budget: (&MemoryBudget, &mut Held),
        mut deadline: TransferDeadline,
        signals: &Signals,
    ) -> Result<Result<Bytes, DataProblem>, Stop> {
        let (budget, held) = budget;
        let mut keeping = true;
        loop {
            let wanted = writer.buffered() + reader.kept() + self.input.len();
            if keeping && !budget.reserve(held, wanted) {
                keeping = false;
                reader.stop_keeping();
                held.release();
            }
            let (used, done) = reader.feed(&self.input);
            self.input.advance(used);
            if done {
                return Ok(reader.finish());
            }
            if keeping && reader.kept() > TAKE_ABOVE {
                writer.push(reader.take_kept()).await;
            }
            let octets = self.read_more(deadline.at(), false, signals).await?;
            deadline.received(octets, Instant::now());
        }
    }

    /// Exactly `size` octets of a BDAT chunk, checked and handed to `body` as they come;
    /// discarded when there is none (a refused chunk: the caller has checked the size
    /// against the limit).
    pub(crate) async fn read_chunk(
        &mut self,
        size: u64,
        mut body: Option<&mut ChunkedBody>,
        mut deadline: TransferDeadline,
        signals: &Signals,
    ) -> Result<(), Stop> {
        let mut remaining = size;
        loop {
            let take = remaining.min(self.input.len() as u64) as usize;
            let part = self.input.split_to(take);
            if let Some(body) = body.as_mut() {
                body.check.feed(&part);
                body.writer.push(part.freeze()).await;
            }
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            let octets = self.read_more(deadline.at(), false, signals).await?;
            deadline.received(octets, Instant::now());
        }
    }
}
