//! DATA (RFC 5321 §4.1.1.4) and the end of every message, DATA or BDAT: loop check, Received
//! header, validator, hand-off.
//!
//! The loop reads the body with [`crate::proto::DataReader`] after the 354; [`complete`]
//! turns its result into the final reply. `250` is sent only after the hand-off returned `Ok`.

use bytes::Bytes;
use envoi_types::{ClientInfo, Envelope, Message};
use tracing::{info, warn};

use crate::body::BodyWriter;
use crate::proto::DataProblem;
use crate::received::received_header;
use crate::replies::{self, Response};
use crate::session::state::State;
use crate::session::{Next, Session, Step};

/// Answers 354 when recipients are known and storage can take the message; a storage refusal
/// ends the transaction.
pub(crate) fn data(session: &mut Session) -> Step {
    match session.state {
        State::Rcpt(_) => match session.shared.handoff.accepting() {
            Ok(()) => Step::then(replies::start_data(), Next::ReadData),
            Err(reply) => {
                session.state.reset();
                Step::reply(Response::reply(&reply))
            }
        },
        State::Mail(_) => Step::reply(replies::bad_sequence("Need RCPT before DATA")),
        State::Chunking(_) => Step::reply(replies::bad_sequence("DATA not allowed after BDAT")),
        _ => Step::reply(replies::bad_sequence("Need MAIL before DATA")),
    }
}

/// The reply once a message's content was read (`read`: the reader's verdict and last piece;
/// `writer`: the content before it): refusals for a bad body or a storage failure, else
/// [`finish`]. A refused message's staged content is dropped with `writer`.
pub(crate) async fn complete(
    session: &mut Session,
    read: Result<Bytes, DataProblem>,
    writer: BodyWriter,
) -> Response {
    match read {
        Ok(last) => match writer.finish(last).await {
            Ok(message) => finish(session, message).await,
            Err(error) => {
                session.state.reset();
                warn!(peer = %session.info.peer, %error, "message content not stored");
                Response::reply(&error.reply())
            }
        },
        Err(problem) => {
            drop(writer);
            session.state.reset();
            match problem {
                DataProblem::TooBig => replies::too_big(),
                DataProblem::BareLineEnding => replies::bare_line_ending_in_data(),
                DataProblem::LineTooLong => {
                    replies::data_line_too_long(session.shared.config.limits.max_line_length)
                }
                DataProblem::NotKept => replies::memory_exhausted(),
            }
        }
    }
}

/// Ends the transaction with a complete message: the final reply of DATA or BDAT LAST.
async fn finish(session: &mut Session, message: Message) -> Response {
    let Some(transaction) = session.state.take_transaction() else {
        return replies::bad_sequence("No transaction");
    };
    let limits = &session.shared.config.limits;
    if message.count_headers("received") >= limits.max_received_headers {
        return replies::mail_loop();
    }
    let protocol = session.protocol(transaction.smtputf8);
    let header = received_header(
        &session.info,
        &session.shared.config.hostname,
        &protocol,
        &transaction.recipients,
    );
    let Ok(message) = message.with_header_prepended("Received", &header) else {
        // Only a HELO name with a line break could do this, and the parser refuses those.
        return replies::local_error();
    };
    let mut envelope = Envelope::new(transaction.sender, transaction.recipients, message);
    envelope.dsn = transaction.dsn;
    envelope.client = ClientInfo {
        ip: Some(session.info.peer.ip().to_canonical()),
        helo: session.info.helo.clone(),
        auth: session.info.auth.clone(),
        protocol,
        smtputf8: transaction.smtputf8,
        body: transaction.body,
        tls: session.info.tls_session.clone(),
    };
    envelope.receiver = session.shared.config.hostname.clone();
    if let Err(reply) = session
        .shared
        .validator
        .data(&session.info, &envelope)
        .await
    {
        return Response::reply(&reply);
    }
    let sender = envelope.sender.to_string();
    let recipients = envelope.recipients.len();
    let size = envelope.message.len();
    let declared = Declared::of(&envelope.client);
    match session.shared.handoff.enqueue(envelope).await {
        Ok(ids) => {
            // The queue logs the one `accepted` line per message; this one says how it came.
            info!(event = "received", peer = %session.info.peer, from = %sender, recipients, size, smtputf8 = declared.smtputf8, body = declared.body, tls = %declared.tls, ids = %ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","), "message received over SMTP");
            replies::queued(&ids)
        }
        Err(error) => {
            warn!(peer = %session.info.peer, from = %sender, %error, "message not stored");
            Response::reply(&error.reply())
        }
    }
}

/// What the client declared, as logged with an accepted message.
struct Declared {
    smtputf8: bool,
    /// The `BODY=` keyword, `-` when none was given.
    body: &'static str,
    /// `version cipher`, or `none`.
    tls: String,
}

impl Declared {
    fn of(client: &ClientInfo) -> Self {
        Self {
            smtputf8: client.smtputf8,
            body: client.body.keyword().unwrap_or("-"),
            tls: client.tls.as_ref().map_or_else(
                || "none".to_owned(),
                |t| format!("{} {}", t.version, t.cipher),
            ),
        }
    }
}
