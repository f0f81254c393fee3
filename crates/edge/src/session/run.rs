//! The session loop: reads each command, runs its verb, answers, counts misbehaviour, logs
//! every refusal, and ends the session with the right last word.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use envoi_types::TlsInfo;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::body::BodyWriter;
use crate::events::{self, Refusal, Stage};
use crate::memory::Held;
use crate::proto::{Command, DataReader, LineEvent, LineReader};
use crate::replies::{self, Response};
use crate::session::conn::{Conn, Io, Signals, Stop};
use crate::session::deadline::{later, TransferDeadline};
use crate::session::state::{AuthExchange, State};
use crate::session::{Next, Session, Step};
use crate::shared::Shared;
use crate::validate::SessionInfo;
use crate::{tls, verbs};

/// Runs one session to its end. `client` is the client's address and confirmed name; `tls`
/// the session of an implicit-TLS listener.
pub(crate) async fn run(
    shared: Arc<Shared>,
    io: Io,
    (peer, client_name): (SocketAddr, Option<String>),
    tls: Option<TlsInfo>,
    signals: Signals,
) {
    let started = Instant::now();
    let timeouts = shared.config.timeouts.clone();
    let mut conn = Conn::new(io, timeouts.write, later(started, timeouts.session));
    let mut session = Session {
        shared,
        info: SessionInfo {
            peer,
            client_name,
            helo: None,
            esmtp: false,
            tls: tls.is_some(),
            tls_session: tls,
            auth: None,
        },
        state: State::Connected,
        held: Held::default(),
        chunked: None,
        tally: events::Tally::default(),
        refused_recipients: 0,
        mail_at: None,
    };
    let stop = serve(&mut conn, &mut session, &signals).await;
    let _ = conn.flush().await;
    let _ = tokio::time::timeout(timeouts.write, conn.io.shutdown()).await;
    events::disconnect(
        &session.tally,
        started.elapsed(),
        session.info.helo.as_deref(),
        stop.reason(),
    );
}

/// What a reply is about, for its log line.
struct About<'a> {
    stage: Stage,
    /// The reverse path as `<...>`.
    from: Option<Cow<'a, str>>,
    to: Option<&'a str>,
}

impl<'a> About<'a> {
    /// The replies to `command` (`None`: a line that is not one, or an AUTH continuation
    /// when `in_exchange`), in the transaction of `sender`.
    fn of(command: Option<&'a Command>, in_exchange: bool, sender: Option<&'a str>) -> Self {
        Self {
            stage: match command {
                Some(command) => stage_of(command),
                None if in_exchange => Stage::Auth,
                None => Stage::Command,
            },
            from: match command {
                Some(Command::Mail { path, .. }) => Some(Cow::Owned(format!("<{path}>"))),
                _ => sender.map(Cow::Borrowed),
            },
            to: match command {
                Some(Command::Rcpt { path, .. }) => Some(path.as_str()),
                _ => None,
            },
        }
    }
}

/// The banner, then commands until the session ends; returns why it ended.
async fn serve(conn: &mut Conn, session: &mut Session, signals: &Signals) -> Stop {
    let shared = Arc::clone(&session.shared);
    let limits = &shared.config.limits;
    if let Err(reply) = shared.validator.connect(&session.info).await {
        let about = About {
            stage: Stage::Connect,
            from: None,
            to: None,
        };
        say(conn, session, Response::reply(&reply), &about);
        return Stop::Refused;
    }
    conn.queue(&replies::banner(&shared.config.hostname));
    // The reader allows AUTH-length lines; command lines are checked against the shorter
    // limit once framed.
    let mut lines = LineReader::new(limits.max_auth_line.max(limits.max_command_line));
    let mut exchange: Option<AuthExchange> = None;
    // The reverse path of the open (or just ended) transaction, for log lines.
    let mut sender: Option<String> = None;
    // Every pass consumes client input or ends the session, so the client's input, the
    // deadlines and the error limit bound this loop.
    loop {
        if session.state.is_idle() {
            // No transaction, so no message content: give its memory back, and drop what a
            // BDAT transaction that ended without LAST staged.
            session.held.release();
            session.chunked = None;
            sender = None;
        }
        let waiting = About {
            stage: if exchange.is_some() {
                Stage::Auth
            } else {
                Stage::Command
            },
            from: sender.as_deref().map(Cow::Borrowed),
            to: None,
        };
        let idle = session.state.is_idle() && exchange.is_none();
        if signals.hard.is_cancelled() || (idle && signals.shutdown.is_cancelled()) {
            return end(conn, session, Stop::Shutdown, &waiting);
        }
        let timeout = shared.config.timeouts.command;
        let event = match conn.next_line(&mut lines, timeout, idle, signals).await {
            Ok(event) => event,
            Err(stop) => return end(conn, session, stop, &waiting),
        };
        session.tally.commands = session.tally.commands.saturating_add(1);
        let in_exchange = exchange.is_some();
        let (step, command) = respond(session, event, exchange.take()).await;
        if let (Some(Command::Mail { .. }), State::Mail(t)) = (&command, &session.state) {
            sender = Some(t.sender.to_string());
            session.refused_recipients = 0;
        }
        let about = About::of(command.as_ref(), in_exchange, sender.as_deref());
        if let Some(stop) = next(conn, session, step, &about, &mut exchange, signals).await {
            return stop;
        }
        if session.tally.errors >= limits.max_errors {
            let about = About {
                stage: Stage::Session,
                ..about
            };
            say(
                conn,
                session,
                replies::too_many_errors(&shared.config.hostname),
                &about,
            );
            return Stop::TooManyErrors;
        }
    }
}

/// Runs what the client sent: an AUTH continuation, a command, or the reply to a line that is
/// not one. Returns the verb's step and the command, if it was one.
async fn respond(
    session: &mut Session,
    event: LineEvent,
    exchange: Option<AuthExchange>,
) -> (Step, Option<Command>) {
    let max_command_line = session.shared.config.limits.max_command_line;
    match (event, exchange) {
        (LineEvent::Line(line), Some(pending)) => {
            (verbs::auth::respond(session, pending, &line).await, None)
        }
        (LineEvent::Line(line), None) => match parse(&line, max_command_line) {
            Ok(command) => {
                let step = match over_message_limit(session, &command) {
                    Some(response) => Step::reply(response),
                    None => verbs::dispatch(session, &command).await,
                };
                (step, Some(command))
            }
            Err(response) => (Step::reply(response), None),
        },
        (LineEvent::TooLong, _) => (Step::reply(replies::line_too_long()), None),
        (LineEvent::BareLineEnding, Some(_)) => (Step::reply(verbs::auth::framing_error()), None),
        (LineEvent::BareLineEnding, None) => (Step::reply(replies::bare_line_ending()), None),
    }
}

/// Carries out a verb's step: sends its reply and does what it asks next. `Some` when the
/// session ends.
async fn next(
    conn: &mut Conn,
    session: &mut Session,
    step: Step,
    about: &About<'_>,
    exchange: &mut Option<AuthExchange>,
    signals: &Signals,
) -> Option<Stop> {
    let mut answer = step.response;
    match step.next {
        Next::Continue => {}
        Next::Close => {
            if let Some(response) = answer {
                say(conn, session, response, about);
            }
            return Some(Stop::Quit);
        }
        Next::Auth(pending) => *exchange = Some(pending),
        Next::StartTls => {
            if let Some(response) = answer.take() {
                conn.queue(&response);
            }
            if let Err(stop) = start_tls(conn, session).await {
                return Some(stop);
            }
        }
        Next::ReadData => {
            if let Some(response) = answer.take() {
                conn.queue(&response);
            }
            match read_data(conn, session, signals).await {
                Ok(response) => answer = Some(response),
                Err(stop) => return Some(end(conn, session, stop, about)),
            }
        }
        Next::ReadChunk { size, last, refuse } => {
            match read_chunk(conn, session, (size, last), refuse, signals).await {
                Ok(response) => answer = Some(response),
                Err(stop) => return Some(end(conn, session, stop, about)),
            }
        }
    }
    let response = answer?;
    let closes = response.code == 421;
    say(conn, session, response, about);
    // 421 means the service closes the channel (RFC 5321 §3.8), whoever produced it.
    closes.then_some(Stop::Refused)
}

/// Queues a reply, logging and counting it when it refuses.
fn say(conn: &mut Conn, session: &mut Session, response: Response, about: &About<'_>) {
    if response.is_error() {
        events::refused(&Refusal {
            stage: about.stage,
            response: &response,
            helo: session.info.helo.as_deref(),
            from: about.from.as_deref(),
            to: about.to,
        });
    }
    if response.is_misbehaviour() {
        session.tally.errors = session.tally.errors.saturating_add(1);
    }
    conn.queue(&response);
}

/// The last word of a session that stopped while waiting: the reply its stop calls for.
fn end(conn: &mut Conn, session: &mut Session, stop: Stop, about: &About<'_>) -> Stop {
    let host = &session.shared.config.hostname;
    let response = match stop {
        Stop::Timeout => replies::timeout(host),
        Stop::SessionOver => replies::session_over(host),
        Stop::Shutdown => replies::shutting_down(host),
        Stop::Closed | Stop::Quit | Stop::Refused | Stop::TooManyErrors => return stop,
    };
    say(conn, session, response, about);
    stop
}

/// Sends the 220 already queued, drops buffered input, runs the handshake.
async fn start_tls(conn: &mut Conn, session: &mut Session) -> Result<(), Stop> {
    conn.flush().await?;
    // CVE-2011-0411: nothing sent before the handshake may run after it.
    conn.input.clear();
    let Some(acceptor) = session.shared.tls.clone() else {
        return Err(Stop::Closed);
    };
    let plain = std::mem::replace(&mut conn.io, Box::new(tokio::io::empty()));
    let handshake = session.shared.config.timeouts.tls_handshake;
    match tokio::time::timeout(handshake, acceptor.accept(plain)).await {
        Ok(Ok(stream)) => {
            let negotiated = tls::session_info(stream.get_ref().1);
            events::tls(&negotiated);
            verbs::starttls::after_handshake(session, negotiated);
            conn.io = Box::new(stream);
        }
        _ => {
            events::tls_failed();
            return Err(Stop::Closed);
        }
    }
    Ok(())
}

/// Reads a DATA body after the 354 and gives the final reply.
async fn read_data(
    conn: &mut Conn,
    session: &mut Session,
    signals: &Signals,
) -> Result<Response, Stop> {
    let shared = Arc::clone(&session.shared);
    let (limits, timeouts) = (&shared.config.limits, &shared.config.timeouts);
    let reader = DataReader::new(limits.max_message_size).with_max_line(limits.max_line_length);
    let deadline = TransferDeadline::new(Instant::now(), timeouts.data, timeouts.min_data_rate);
    let budget = (&shared.memory, &mut session.held);
    let mut writer = BodyWriter::new(Arc::clone(&shared.handoff), limits.max_message_size);
    let body = conn
        .read_data(reader, &mut writer, budget, deadline, signals)
        .await?;
    let response = verbs::data::complete(session, body, writer).await;
    finished(session, &response);
    Ok(response)
}

/// Reads a BDAT chunk and gives its reply (the final one on LAST).
async fn read_chunk(
    conn: &mut Conn,
    session: &mut Session,
    (size, last): (u64, bool),
    refuse: Option<Response>,
    signals: &Signals,
) -> Result<Response, Stop> {
    let timeouts = &session.shared.config.timeouts;
    let deadline = TransferDeadline::new(Instant::now(), timeouts.data, timeouts.min_data_rate);
    let keep = refuse.is_none();
    let body = session.chunked.as_mut().filter(|_| keep);
    conn.read_chunk(size, body, deadline, signals).await?;
    let response = match refuse {
        Some(response) => response,
        None => verbs::bdat::chunk(session, size, last).await,
    };
    if (keep && last) || response.code == 552 {
        finished(session, &response);
    }
    Ok(response)
}

/// A message transfer completed with `response`: count it.
fn finished(session: &mut Session, response: &Response) {
    events::message_outcome(response.code);
    if let Some(mail_at) = session.mail_at.take() {
        events::transaction_latency(mail_at.elapsed());
    }
    if response.code == 250 {
        session.tally.messages = session.tally.messages.saturating_add(1);
    }
}

/// The `421` for a MAIL past the session's message limit (bounds a client looping on one
/// connection; the messages already accepted stay accepted).
fn over_message_limit(session: &Session, command: &Command) -> Option<Response> {
    let config = &session.shared.config;
    let over = session.tally.messages >= config.limits.max_messages_per_session;
    (over && matches!(command, Command::Mail { .. }))
        .then(|| replies::too_many_messages(&config.hostname))
}

/// A command line, checked against the command length limit (AUTH lines may be longer).
fn parse(line: &[u8], max_command_line: usize) -> Result<Command, Response> {
    if line.len() + 2 > max_command_line && !is_auth(line) {
        return Err(replies::line_too_long());
    }
    Command::parse(line).map_err(|error| verbs::parse_error(&error))
}

/// True for an `AUTH ...` line, which may be longer than other commands (RFC 4954 §4).
fn is_auth(line: &[u8]) -> bool {
    line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ")
}

/// The stage a command's replies belong to.
fn stage_of(command: &Command) -> Stage {
    match command {
        Command::Ehlo(_) | Command::Helo(_) => Stage::Helo,
        Command::Mail { .. } => Stage::Mail,
        Command::Rcpt { .. } => Stage::Rcpt,
        Command::Data => Stage::Data,
        Command::Bdat { .. } => Stage::Bdat,
        Command::StartTls => Stage::StartTls,
        Command::Auth { .. } => Stage::Auth,
        _ => Stage::Command,
    }
}
