//! AUTH PLAIN and LOGIN (RFC 4954, RFC 4616).
//!
//! Offered only with an [`crate::Authenticator`], and only under TLS unless the policy allows
//! plaintext. Multi-step exchanges go through [`AuthExchange`]: the loop reads the next line
//! (up to the AUTH line limit) and calls [`respond`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::credentials::AuthVerdict;
use crate::events;
use crate::replies::{self, Response};
use crate::session::state::{AuthExchange, State};
use crate::session::{Next, Session, Step};

/// Base64 of "Username:" and "Password:", the customary LOGIN prompts.
const USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
const PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// Starts an AUTH exchange.
pub(crate) async fn auth(session: &mut Session, mechanism: &str, initial: Option<&str>) -> Step {
    if session.shared.authenticator.is_none() {
        return Step::reply(replies::not_implemented());
    }
    if !session.auth_offered() {
        return Step::reply(replies::auth_needs_tls());
    }
    if session.info.auth.is_some() {
        return Step::reply(replies::bad_sequence("Already authenticated"));
    }
    match session.state {
        State::Greeted => {}
        State::Connected => return Step::reply(replies::bad_sequence("Send EHLO first")),
        _ => {
            return Step::reply(replies::bad_sequence(
                "AUTH not allowed during a transaction",
            ))
        }
    }
    match (mechanism, initial) {
        ("PLAIN", None) => challenge("", AuthExchange::Plain),
        ("PLAIN", Some(response)) => plain(session, response).await,
        ("LOGIN", None) => challenge(USERNAME_PROMPT, AuthExchange::LoginUser),
        ("LOGIN", Some(user)) => login_user(user),
        _ => Step::reply(replies::auth_unknown_mechanism()),
    }
}

/// Continues an exchange with the client's line.
pub(crate) async fn respond(session: &mut Session, exchange: AuthExchange, line: &[u8]) -> Step {
    let Ok(line) = std::str::from_utf8(line) else {
        return Step::reply(replies::auth_malformed());
    };
    if line == "*" {
        return Step::reply(replies::auth_cancelled());
    }
    match exchange {
        AuthExchange::Plain => plain(session, line).await,
        AuthExchange::LoginUser => login_user(line),
        AuthExchange::LoginPassword { user } => match decode(line) {
            Some(password) => check(session, "LOGIN", ("", &user), &password).await,
            None => Step::reply(replies::auth_malformed()),
        },
    }
}

fn challenge(prompt: &str, exchange: AuthExchange) -> Step {
    Step::then(replies::auth_challenge(prompt), Next::Auth(exchange))
}

fn login_user(line: &str) -> Step {
    match decode(line) {
        Some(user) => challenge(PASSWORD_PROMPT, AuthExchange::LoginPassword { user }),
        None => Step::reply(replies::auth_malformed()),
    }
}

async fn plain(session: &mut Session, response: &str) -> Step {
    let Some(text) = decode(response) else {
        return Step::reply(replies::auth_malformed());
    };
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::reply(replies::auth_malformed());
    };
    check(session, "PLAIN", (authzid, user), password).await
}

/// Asks the authenticator and logs the verdict with the user name (never the password).
async fn check(
    session: &mut Session,
    mechanism: &str,
    (authzid, user): (&str, &str),
    password: &str,
) -> Step {
    let Some(authenticator) = session.shared.authenticator.clone() else {
        return Step::reply(replies::not_implemented());
    };
    let (outcome, step) = match authenticator.check(authzid, user, password).await {
        AuthVerdict::Accepted(identity) => {
            session.info.auth = Some(identity);
            ("accepted", Step::reply(replies::auth_ok()))
        }
        AuthVerdict::Rejected => ("rejected", Step::reply(replies::auth_failed())),
        AuthVerdict::Unavailable => ("unavailable", Step::reply(replies::auth_unavailable())),
    };
    events::auth(mechanism, user, outcome);
    step
}

/// Base64 to UTF-8 text; `=` is the empty response (RFC 4954 §4).
fn decode(text: &str) -> Option<String> {
    if text == "=" {
        return Some(String::new());
    }
    let bytes = STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// The reply to a line that could not even be framed during an exchange.
pub(crate) fn framing_error() -> Response {
    replies::auth_malformed()
}
