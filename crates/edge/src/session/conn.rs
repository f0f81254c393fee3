//! The tokio side of a session: owns the socket, the buffers, the timeouts and shutdown.
//!
//! Input is read in chunks of at most [`READ_CHUNK`] octets into a buffer the sans-IO
//! parsers consume, so memory per session is bounded by the line limit plus one read (and,
//! for a message, by the size limit). Replies are queued and flushed only when the loop is
//! about to wait for input: pipelined commands get their replies in one write
//! (RFC 2920), and a reply always goes out before the server waits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use envoi_types::TlsInfo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::events;
use crate::memory::{Held, MemoryBudget};
use crate::proto::{Command, DataProblem, DataReader, LineEvent, LineReader};
use crate::replies::{self, Response};
use crate::session::state::State;
use crate::session::{Next, Session, Step};
use crate::shared::Shared;
use crate::tls;
use crate::validate::SessionInfo;
use crate::verbs;

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

/// Why the loop stopped waiting for input.
#[derive(Debug)]
enum Stop {
    /// End of input or an I/O error: nothing more can be said.
    Closed,
    /// The client was silent too long.
    Timeout,
    /// The server is shutting down.
    Shutdown,
}

struct Conn {
    io: Io,
    input: BytesMut,
    output: Vec<u8>,
    write_timeout: Duration,
}

impl Conn {
    fn queue(&mut self, response: &Response) {
        self.output.extend_from_slice(response.wire.as_bytes());
    }

    async fn flush(&mut self) -> Result<(), Stop> {
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

    /// Flushes, then waits for one read of at most [`READ_CHUNK`] octets.
    async fn read_more(
        &mut self,
        timeout: Duration,
        idle: bool,
        signals: &Signals,
    ) -> Result<(), Stop> {
        self.flush().await?;
        // Straight into the input buffer's spare capacity: a zeroed stack chunk copied into
        // `input` cost 5 % of envoi's instructions in memset alone (bench/relay/README.md,
        // "Profile" item 4). `limit` keeps one read at most READ_CHUNK octets, as before.
        self.input.reserve(READ_CHUNK);
        let mut room = (&mut self.input).limit(READ_CHUNK);
        tokio::select! {
            read = self.io.read_buf(&mut room) => match read {
                Ok(0) | Err(_) => Err(Stop::Closed),
                Ok(_) => Ok(()),
            },
            () = tokio::time::sleep(timeout) => Err(Stop::Timeout),
            () = signals.shutdown.cancelled(), if idle => Err(Stop::Shutdown),
            () = signals.hard.cancelled() => Err(Stop::Shutdown),
        }
    }

    /// The next line event, reading as needed.
    async fn next_line(
        &mut self,
        lines: &mut LineReader,
        timeout: Duration,
        idle: bool,
        signals: &Signals,
    ) -> Result<LineEvent, Stop> {
        // Each pass either returns or reads at least one octet; input ends the loop.
        loop {
            if let Some(event) = lines.next(&mut self.input) {
                return Ok(event);
            }
            self.read_more(timeout, idle, signals).await?;
        }
    }

    /// A DATA body, up to and including `<CRLF>.<CRLF>`; what follows stays buffered.
    /// Room for the content is reserved from `budget` before it is kept; without room the
    /// reader stops keeping and the message is refused at its end.
    async fn read_data(
        &mut self,
        limit: usize,
        budget: (&MemoryBudget, &mut Held),
        timeout: Duration,
        signals: &Signals,
    ) -> Result<Result<Bytes, DataProblem>, Stop> {
        let (budget, held) = budget;
        let mut reader = DataReader::new(limit);
        let mut keeping = true;
        loop {
            let wanted = (reader.kept() + self.input.len()).min(limit);
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
            self.read_more(timeout, false, signals).await?;
        }
    }

    /// Exactly `size` octets of a BDAT chunk; kept only when `keep` (the caller has checked
    /// the size against the limit).
    async fn read_chunk(
        &mut self,
        size: u64,
        keep: bool,
        timeout: Duration,
        signals: &Signals,
    ) -> Result<Bytes, Stop> {
        let mut remaining = size;
        let mut kept = BytesMut::new();
        loop {
            let take = remaining.min(self.input.len() as u64) as usize;
            let part = self.input.split_to(take);
            if keep {
                kept.extend_from_slice(&part);
            }
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(kept.freeze());
            }
            self.read_more(timeout, false, signals).await?;
        }
    }
}

/// Runs one session to its end. `tls` is the session of an implicit-TLS listener.
pub(crate) async fn run(
    shared: Arc<Shared>,
    io: Io,
    peer: SocketAddr,
    tls: Option<TlsInfo>,
    signals: Signals,
) {
    let config = &shared.config;
    let hostname = config.hostname.clone();
    let limits = config.limits.clone();
    let timeouts = config.timeouts.clone();
    let mut conn = Conn {
        io,
        input: BytesMut::new(),
        output: Vec::new(),
        write_timeout: timeouts.write,
    };
    let mut session = Session {
        shared: Arc::clone(&shared),
        info: SessionInfo {
            peer,
            helo: None,
            esmtp: false,
            tls: tls.is_some(),
            tls_session: tls,
            auth: None,
        },
        state: State::Connected,
        held: Held::default(),
    };
    if let Err(reply) = shared.validator.connect(&session.info).await {
        conn.queue(&Response::reply(&reply));
        let _ = conn.flush().await;
        return;
    }
    conn.queue(&replies::banner(&hostname));
    // The reader allows AUTH-length lines; command lines are checked against the shorter
    // limit once framed.
    let mut lines = LineReader::new(limits.max_auth_line.max(limits.max_command_line));
    let mut errors = 0usize;
    let mut exchange = None;
    // Every pass consumes client input or ends the session, so the client's input, the
    // timeouts and the error limit bound this loop.
    let stop = loop {
        if session.state.is_idle() {
            // No transaction, so no message content: give its memory back.
            session.held.release();
        }
        let idle = session.state.is_idle() && exchange.is_none();
        if signals.hard.is_cancelled() || (idle && signals.shutdown.is_cancelled()) {
            break Stop::Shutdown;
        }
        let event = match conn
            .next_line(&mut lines, timeouts.command, idle, &signals)
            .await
        {
            Ok(event) => event,
            Err(stop) => break stop,
        };
        let step = match (event, exchange.take()) {
            (LineEvent::Line(line), Some(pending)) => {
                verbs::auth::respond(&mut session, pending, &line).await
            }
            (LineEvent::Line(line), None) => {
                if line.len() + 2 > limits.max_command_line && !is_auth(&line) {
                    Step::reply(replies::line_too_long())
                } else {
                    match Command::parse(&line) {
                        Ok(command) => verbs::dispatch(&mut session, command).await,
                        Err(error) => Step::reply(verbs::parse_error(&error)),
                    }
                }
            }
            (LineEvent::TooLong, _) => Step::reply(replies::line_too_long()),
            (LineEvent::BareLineEnding, Some(_)) => Step::reply(verbs::auth::framing_error()),
            (LineEvent::BareLineEnding, None) => Step::reply(replies::bare_line_ending()),
        };
        let mut answer = step.response;
        match step.next {
            Next::Continue => {}
            Next::Close => {
                if let Some(response) = &answer {
                    conn.queue(response);
                }
                break Stop::Closed;
            }
            Next::Auth(pending) => exchange = Some(pending),
            Next::StartTls => {
                if let Some(response) = answer.take() {
                    conn.queue(&response);
                }
                if conn.flush().await.is_err() {
                    break Stop::Closed;
                }
                // CVE-2011-0411: nothing sent before the handshake may run after it.
                conn.input.clear();
                let Some(acceptor) = shared.tls.clone() else {
                    break Stop::Closed;
                };
                let plain = std::mem::replace(&mut conn.io, Box::new(tokio::io::empty()));
                match tokio::time::timeout(timeouts.tls_handshake, acceptor.accept(plain)).await {
                    Ok(Ok(stream)) => {
                        let negotiated = tls::session_info(stream.get_ref().1);
                        verbs::starttls::after_handshake(&mut session, negotiated);
                        conn.io = Box::new(stream);
                    }
                    _ => {
                        debug!(%peer, "STARTTLS handshake failed");
                        break Stop::Closed;
                    }
                }
            }
            Next::ReadData => {
                if let Some(response) = answer.take() {
                    conn.queue(&response);
                }
                let budget = (&shared.memory, &mut session.held);
                let body = match conn
                    .read_data(limits.max_message_size, budget, timeouts.data, &signals)
                    .await
                {
                    Ok(body) => body,
                    Err(stop) => break stop,
                };
                let response = verbs::data::complete(&mut session, body).await;
                events::message_outcome(response.code);
                answer = Some(response);
            }
            Next::ReadChunk { size, last, refuse } => {
                let keep = refuse.is_none();
                let bytes = match conn.read_chunk(size, keep, timeouts.data, &signals).await {
                    Ok(bytes) => bytes,
                    Err(stop) => break stop,
                };
                let response = match refuse {
                    Some(response) => response,
                    None => verbs::bdat::chunk(&mut session, bytes, last).await,
                };
                if (keep && last) || response.code == 552 {
                    events::message_outcome(response.code);
                }
                answer = Some(response);
            }
        }
        if let Some(response) = answer {
            if response.is_error() {
                errors += 1;
            }
            conn.queue(&response);
            // 421 means the service closes the channel (RFC 5321 §3.8), whoever produced it.
            if response.code == 421 {
                break Stop::Closed;
            }
        }
        if errors >= limits.max_errors {
            conn.queue(&replies::too_many_errors(&hostname));
            break Stop::Closed;
        }
    };
    match stop {
        Stop::Timeout => conn.queue(&replies::timeout(&hostname)),
        Stop::Shutdown => conn.queue(&replies::shutting_down(&hostname)),
        Stop::Closed => {}
    }
    let _ = conn.flush().await;
    let _ = tokio::time::timeout(timeouts.write, conn.io.shutdown()).await;
}

/// True for an `AUTH ...` line, which may be longer than other commands (RFC 4954 §4).
fn is_auth(line: &[u8]) -> bool {
    line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ")
}
