//! EHLO and HELO (RFC 5321 §4.1.1.1): greet, reset any transaction, list extensions.

use crate::replies::Response;
use crate::session::state::State;
use crate::session::{Session, Step};

/// EHLO: the extension list depends on TLS and AUTH policy.
pub(crate) async fn ehlo(session: &mut Session, name: String) -> Step {
    if let Err(reply) = session.shared.validator.ehlo(&session.info, &name).await {
        return Step::reply(Response::reply(&reply));
    }
    let config = &session.shared.config;
    let mut lines = vec![
        format!("{} greets {}", config.hostname, name),
        "PIPELINING".to_owned(),
        format!("SIZE {}", config.limits.max_message_size),
        "8BITMIME".to_owned(),
        "SMTPUTF8".to_owned(),
        "ENHANCEDSTATUSCODES".to_owned(),
        "CHUNKING".to_owned(),
        "DSN".to_owned(),
    ];
    if session.shared.tls.is_some() && !session.info.tls {
        lines.push("STARTTLS".to_owned());
    }
    if session.auth_offered() && session.info.auth.is_none() {
        lines.push("AUTH PLAIN LOGIN".to_owned());
    }
    lines.push("HELP".to_owned());
    greet(session, name, true);
    Step::reply(Response::plain(250, &lines))
}

/// HELO: no extensions.
pub(crate) async fn helo(session: &mut Session, name: String) -> Step {
    if let Err(reply) = session.shared.validator.ehlo(&session.info, &name).await {
        return Step::reply(Response::reply(&reply));
    }
    let text = session.shared.config.hostname.clone();
    greet(session, name, false);
    Step::reply(Response::plain(250, &[text]))
}

fn greet(session: &mut Session, name: String, esmtp: bool) {
    session.info.helo = Some(name);
    session.info.esmtp = esmtp;
    session.state = State::Greeted;
}
