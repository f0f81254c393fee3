//! One file per SMTP verb, dispatched from [`Command`].
//!
//! # Layout
//! - `ehlo`: EHLO and HELO, the extension list.
//! - `mail`, `rcpt`: the envelope, parameters, relay control.
//! - `data`, `bdat`: the two ways to send the content; `data` also finishes a message
//!   (loop check, Received header, validator, hand-off).
//! - `rset`, `noop`, `quit`, `vrfy`, `help`: the small ones.
//! - `starttls`, `auth`: the security verbs.

pub(crate) mod auth;
pub(crate) mod bdat;
pub(crate) mod data;
pub(crate) mod ehlo;
pub(crate) mod help;
pub(crate) mod mail;
pub(crate) mod noop;
pub(crate) mod quit;
pub(crate) mod rcpt;
pub(crate) mod rset;
pub(crate) mod starttls;
pub(crate) mod vrfy;

use crate::proto::{Command, CommandError};
use crate::replies::{self, Response};
use crate::session::{Session, Step};

/// Runs one parsed command.
pub(crate) async fn dispatch(session: &mut Session, command: &Command) -> Step {
    match command {
        Command::Ehlo(name) => ehlo::ehlo(session, name.clone()).await,
        Command::Helo(name) => ehlo::helo(session, name.clone()).await,
        Command::Mail { path, params } => mail::mail(session, path, params).await,
        Command::Rcpt { path, params } => rcpt::rcpt(session, path, params).await,
        Command::Data => data::data(session),
        Command::Bdat { size, last } => bdat::bdat(session, *size, *last),
        Command::Rset => rset::rset(session),
        Command::Noop => noop::noop(),
        Command::Quit => quit::quit(session),
        Command::Vrfy => vrfy::vrfy(),
        Command::Help => help::help(),
        Command::StartTls => starttls::starttls(session),
        Command::Auth { mechanism, initial } => {
            auth::auth(session, mechanism, initial.as_deref()).await
        }
    }
}

/// The reply to a line that did not parse.
pub(crate) fn parse_error(error: &CommandError) -> Response {
    match error {
        CommandError::InvalidBytes => replies::invalid_bytes(),
        CommandError::Unrecognized => replies::unrecognized(),
        CommandError::NotImplemented => replies::not_implemented(),
        CommandError::Syntax(usage) => replies::syntax(usage),
        CommandError::BadPath => replies::bad_path(),
    }
}
