//! RCPT TO (RFC 5321 §4.1.1.3) with the DSN parameters `NOTIFY` and `ORCPT` (RFC 3461 §4.1,
//! §4.2), and relay control.
//!
//! Never an open relay: a recipient is accepted when its domain is one the server receives
//! for, the client is in a trusted network, or the client authenticated; otherwise
//! `554 5.7.1`. The one exception is the bare `<Postmaster>` (RFC 5321 §4.5.1), taken as
//! `postmaster@<hostname>`: the daemon must deliver that locally or list the host name among
//! the receiving domains.

use envoi_types::{Address, Notify, OriginalRecipient, RecipientDsn};

use crate::proto::Param;
use crate::replies::{self, Response};
use crate::session::state::State;
use crate::session::{Session, Step};

/// Adds a recipient to the open transaction. Refusals are a normal part of a big transaction
/// (RFC 5321 §4.5.3.1.10), so only those past `max_refused_recipients` count as errors.
pub(crate) async fn rcpt(session: &mut Session, path: &str, params: &[Param]) -> Step {
    let step = add(session, path, params).await;
    let refused = step.response.as_ref().is_some_and(Response::is_error);
    if refused && !session.state.is_idle() {
        session.refused_recipients = session.refused_recipients.saturating_add(1);
        if session.refused_recipients > session.shared.config.limits.max_refused_recipients {
            session.tally.errors = session.tally.errors.saturating_add(1);
        }
    }
    step
}

async fn add(session: &mut Session, path: &str, params: &[Param]) -> Step {
    let transaction = match &session.state {
        State::Mail(t) | State::Rcpt(t) => t,
        State::Chunking(_) => {
            return Step::reply(replies::bad_sequence("RCPT not allowed after BDAT"))
        }
        _ => return Step::reply(replies::bad_sequence("Need MAIL before RCPT")),
    };
    let (notify, orcpt) = match dsn_params(params) {
        Ok(found) => found,
        Err(response) => return Step::reply(response),
    };
    // RFC 5321 §4.5.1: `<Postmaster>` without a domain must be accepted; it means this
    // host's postmaster, which relay control never refuses.
    let postmaster = path.eq_ignore_ascii_case("postmaster");
    let parsed = if postmaster {
        Address::parse(&format!("postmaster@{}", session.shared.config.hostname))
    } else {
        Address::parse(path)
    };
    let Ok(recipient) = parsed else {
        return Step::reply(replies::bad_mailbox());
    };
    if !transaction.smtputf8 && !recipient.is_ascii() {
        return Step::reply(replies::needs_smtputf8());
    }
    if transaction.recipients.len() >= session.shared.config.limits.max_recipients {
        return Step::reply(replies::too_many_recipients());
    }
    if !postmaster && !may_relay(session, &recipient) {
        return Step::reply(replies::relay_denied());
    }
    if let Err(reply) = session
        .shared
        .validator
        .rcpt(&session.info, &recipient)
        .await
    {
        return Step::reply(Response::reply(&reply));
    }
    let state = std::mem::take(&mut session.state);
    session.state = match state {
        State::Mail(mut t) | State::Rcpt(mut t) => {
            t.dsn.add_recipient(RecipientDsn {
                recipient: recipient.clone(),
                notify,
                orcpt,
            });
            t.recipients.push(recipient);
            State::Rcpt(t)
        }
        other => other,
    };
    Step::reply(replies::recipient_ok())
}

/// `NOTIFY` and `ORCPT`, each at most once and well-formed (`501 5.5.4` otherwise); any
/// other parameter is refused with `555 5.5.4`.
fn dsn_params(params: &[Param]) -> Result<(Option<Notify>, Option<OriginalRecipient>), Response> {
    let (mut notify, mut orcpt) = (None, None);
    for param in params {
        let value = param.value.as_deref();
        match param.keyword.as_str() {
            "NOTIFY" => match value.and_then(Notify::parse) {
                Some(found) if notify.is_none() => notify = Some(found),
                _ => return Err(replies::syntax("NOTIFY=NEVER|SUCCESS,FAILURE,DELAY")),
            },
            "ORCPT" => match value.and_then(OriginalRecipient::parse) {
                Some(found) if orcpt.is_none() => orcpt = Some(found),
                _ => return Err(replies::syntax("ORCPT=addr-type;xtext")),
            },
            keyword => return Err(replies::unknown_param(keyword)),
        }
    }
    Ok((notify, orcpt))
}

fn may_relay(session: &Session, recipient: &Address) -> bool {
    let config = &session.shared.config;
    config.receives_for(recipient.domain())
        || session.info.auth.is_some()
        || config
            .trusted_networks
            .iter()
            .any(|net| net.contains(session.info.peer.ip()))
}
