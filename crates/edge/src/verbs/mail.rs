//! MAIL FROM (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
//! AUTH (RFC 4954 §5) and DSN (RFC 3461 §4.3, §4.4: `RET`, `ENVID`) parameters.

use envoi_types::{dsn, BodyType, DsnRequest, Ret, Sender};

use crate::proto::Param;
use crate::replies::{self, Response};
use crate::session::state::{State, Transaction};
use crate::session::{Session, Step};

/// Opens a transaction when the sender and parameters are acceptable.
pub(crate) async fn mail(session: &mut Session, path: &str, params: &[Param]) -> Step {
    match session.state {
        State::Greeted => {}
        State::Connected => return Step::reply(replies::bad_sequence("Send EHLO/HELO first")),
        _ => return Step::reply(replies::bad_sequence("Nested MAIL command")),
    }
    let mut smtputf8 = false;
    let mut body = BodyType::Undeclared;
    let mut dsn = DsnRequest::default();
    for param in params {
        match (param.keyword.as_str(), param.value.as_deref()) {
            ("SIZE", Some(value)) => {
                let Some(size) = parse_size(value) else {
                    return Step::reply(replies::syntax("SIZE=octets"));
                };
                if size > session.shared.config.limits.max_message_size as u64 {
                    return Step::reply(replies::too_big());
                }
            }
            ("BODY", Some(value)) if value.eq_ignore_ascii_case("7BIT") => {
                body = BodyType::SevenBit;
            }
            ("BODY", Some(value)) if value.eq_ignore_ascii_case("8BITMIME") => {
                body = BodyType::EightBitMime;
            }
            ("SMTPUTF8", None) => smtputf8 = true,
            // RFC 3461 §4.3, §4.4: each at most once, with a well-formed value.
            ("RET", value) => match value.and_then(Ret::parse) {
                Some(ret) if dsn.ret.is_none() => dsn.ret = Some(ret),
                _ => return Step::reply(replies::syntax("RET=FULL|HDRS")),
            },
            ("ENVID", value) => match value.and_then(dsn::parse_envid) {
                Some(envid) if dsn.envid.is_none() => dsn.envid = Some(envid),
                _ => return Step::reply(replies::syntax("ENVID=xtext")),
            },
            // RFC 4954 §5: the AUTH parameter is accepted and not trusted.
            ("AUTH", Some(_)) if session.auth_offered() => {}
            (keyword, _) => return Step::reply(replies::unknown_param(keyword)),
        }
    }
    let sender = match Sender::parse(path) {
        Ok(sender) => sender,
        Err(_) => return Step::reply(replies::bad_mailbox()),
    };
    if !smtputf8 && !path.is_ascii() {
        return Step::reply(replies::needs_smtputf8());
    }
    // Refused before any body is sent when storage cannot take mail now.
    if let Err(reply) = session.shared.handoff.accepting() {
        return Step::reply(Response::reply(&reply));
    }
    if let Err(reply) = session.shared.validator.mail(&session.info, &sender).await {
        return Step::reply(Response::reply(&reply));
    }
    let mut transaction = Transaction::new(sender, smtputf8);
    transaction.body = body;
    transaction.dsn = dsn;
    session.state = State::Mail(transaction);
    session.mail_at = Some(tokio::time::Instant::now());
    Step::reply(replies::sender_ok())
}

fn parse_size(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A number too large for u64 is certainly over any limit.
    Some(value.parse().unwrap_or(u64::MAX))
}
