//! Parsing one command line (without its CRLF) into a [`Command`].
//!
//! The parser checks grammar only: whether an address is acceptable, whether a parameter is
//! supported and whether the command fits the session's state are the verbs' business. Verbs
//! are case-insensitive (RFC 5321 §2.4); `MAIL FROM: <a@b>` with a space is tolerated because
//! common clients send it.

/// An ESMTP parameter of MAIL or RCPT: `KEYWORD[=value]`, keyword upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The keyword, upper-cased.
    pub keyword: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

/// One parsed SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain`.
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `MAIL FROM:<path> params`; the path is the text between the brackets, source route removed.
    Mail {
        /// The reverse path's text (empty for `<>`).
        path: String,
        /// ESMTP parameters.
        params: Vec<Param>,
    },
    /// `RCPT TO:<path> params`.
    Rcpt {
        /// The forward path's text.
        path: String,
        /// ESMTP parameters.
        params: Vec<Param>,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        /// Octets in the chunk that follows the command line.
        size: u64,
        /// True for the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [text]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy,
    /// `HELP [topic]`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954).
    Auth {
        /// The mechanism name, upper-cased.
        mechanism: String,
        /// The initial response, still base64-encoded (`=` for an empty one).
        initial: Option<String>,
    },
}

/// Why a line is not a command the server will run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The line holds NUL or is not UTF-8: `501 5.5.2`.
    #[error("command contains NUL or invalid UTF-8")]
    InvalidBytes,
    /// The verb is unknown: `500 5.5.1`.
    #[error("command not recognized")]
    Unrecognized,
    /// The verb is known but not implemented (EXPN, TURN, ...): `502 5.5.1`.
    #[error("command not implemented")]
    NotImplemented,
    /// The arguments do not follow the verb's syntax: `501 5.5.4` with this usage text.
    #[error("syntax: {0}")]
    Syntax(&'static str),
    /// The path is not `<...>`: `501 5.1.3`.
    #[error("bad address syntax")]
    BadPath,
}

impl Command {
    /// Parses one command line, given without its CRLF.
    ///
    /// # Errors
    /// A [`CommandError`] naming the reply the session gives.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        if line.contains(&0) {
            return Err(CommandError::InvalidBytes);
        }
        let line = std::str::from_utf8(line).map_err(|_| CommandError::InvalidBytes)?;
        let (verb, rest) = match line.find(' ') {
            Some(space) => (&line[..space], &line[space + 1..]),
            None => (line, ""),
        };
        if !verb.is_ascii() {
            return Err(CommandError::Unrecognized);
        }
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => domain_arg(rest, "EHLO hostname").map(Self::Ehlo),
            "HELO" => domain_arg(rest, "HELO hostname").map(Self::Helo),
            "MAIL" => {
                let (path, params) = path_arg(rest, "FROM:", "MAIL FROM:<address>")?;
                Ok(Self::Mail { path, params })
            }
            "RCPT" => {
                let (path, params) = path_arg(rest, "TO:", "RCPT TO:<address>")?;
                Ok(Self::Rcpt { path, params })
            }
            "DATA" => no_arg(rest, "DATA", Self::Data),
            "BDAT" => bdat(rest),
            "RSET" => no_arg(rest, "RSET", Self::Rset),
            "QUIT" => no_arg(rest, "QUIT", Self::Quit),
            "STARTTLS" => no_arg(rest, "STARTTLS", Self::StartTls),
            "NOOP" => Ok(Self::Noop),
            "HELP" => Ok(Self::Help),
            "VRFY" if rest.trim().is_empty() => Err(CommandError::Syntax("VRFY address")),
            "VRFY" => Ok(Self::Vrfy),
            "AUTH" => auth(rest),
            "EXPN" | "TURN" | "ETRN" | "SEND" | "SOML" | "SAML" | "ATRN" => {
                Err(CommandError::NotImplemented)
            }
            _ => Err(CommandError::Unrecognized),
        }
    }
}

fn no_arg(rest: &str, usage: &'static str, command: Command) -> Result<Command, CommandError> {
    if rest.trim().is_empty() {
        Ok(command)
    } else {
        Err(CommandError::Syntax(usage))
    }
}

/// One word of printable, non-space characters: a domain or address literal, checked loosely
/// because RFC 5321 §4.1.4 says a server must not refuse mail over a wrong EHLO name.
fn domain_arg(rest: &str, usage: &'static str) -> Result<String, CommandError> {
    let word = rest.trim();
    if word.is_empty()
        || word
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(CommandError::Syntax(usage));
    }
    Ok(word.to_owned())
}

fn path_arg(
    rest: &str,
    keyword: &str,
    usage: &'static str,
) -> Result<(String, Vec<Param>), CommandError> {
    let Some(head) = rest.get(..keyword.len()) else {
        return Err(CommandError::Syntax(usage));
    };
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(CommandError::Syntax(usage));
    }
    let after = rest[keyword.len()..].trim_start_matches(' ');
    let Some(inner) = after.strip_prefix('<') else {
        return Err(if after.is_empty() {
            CommandError::Syntax(usage)
        } else {
            CommandError::BadPath
        });
    };
    let close = inner.find('>').ok_or(CommandError::BadPath)?;
    let mut path = &inner[..close];
    let tail = &inner[close + 1..];
    if !tail.is_empty() && !tail.starts_with(' ') {
        return Err(CommandError::BadPath);
    }
    // RFC 5321 Appendix C: a source route `@a,@b:` is accepted and ignored. A malformed one
    // stays, and the verb refuses the path as a mailbox (`553 5.1.3`).
    if path.starts_with('@') {
        path = envoi_types::mailbox::strip_source_route(path).unwrap_or(path);
    }
    let params = tail
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(param)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((path.to_owned(), params))
}

fn param(word: &str) -> Result<Param, CommandError> {
    let (keyword, value) = match word.split_once('=') {
        Some((k, v)) => (k, Some(v.to_owned())),
        None => (word, None),
    };
    if keyword.is_empty()
        || !keyword
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(CommandError::Syntax("parameters are KEYWORD[=value]"));
    }
    Ok(Param {
        keyword: keyword.to_ascii_uppercase(),
        value,
    })
}

fn bdat(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "BDAT size [LAST]";
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.len() <= 18 && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or(CommandError::Syntax(USAGE))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax(USAGE)),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Bdat { size, last })
}

fn auth(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "AUTH mechanism [initial-response]";
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let mechanism = words.next().ok_or(CommandError::Syntax(USAGE))?;
    let initial = words.next().map(str::to_owned);
    if words.next().is_some() || !mechanism.is_ascii() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mail_with_params_and_tolerated_space() {
        assert_eq!(
            Command::parse(b"mail from: <a@b.org> SIZE=100 body=8BITMIME"),
            Ok(Command::Mail {
                path: "a@b.org".into(),
                params: vec![
                    Param {
                        keyword: "SIZE".into(),
                        value: Some("100".into())
                    },
                    Param {
                        keyword: "BODY".into(),
                        value: Some("8BITMIME".into())
                    },
                ],
            })
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<>"),
            Ok(Command::Mail {
                path: String::new(),
                params: vec![]
            })
        );
    }

    #[test]
    fn strips_source_route() {
        assert_eq!(
            Command::parse(b"RCPT TO:<@relay.org,@x.org:u@d.org>"),
            Ok(Command::Rcpt {
                path: "u@d.org".into(),
                params: vec![]
            })
        );
    }

    #[test]
    fn path_errors() {
        assert_eq!(
            Command::parse(b"MAIL FROM:a@b.org"),
            Err(CommandError::BadPath)
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<a@b.org"),
            Err(CommandError::BadPath)
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<a@b.org>x"),
            Err(CommandError::BadPath)
        );
        assert!(matches!(
            Command::parse(b"MAIL"),
            Err(CommandError::Syntax(_))
        ));
        assert!(matches!(
            Command::parse(b"MAIL TO:<a@b>"),
            Err(CommandError::Syntax(_))
        ));
    }

    #[test]
    fn invalid_bytes_and_unknown_verbs() {
        assert_eq!(Command::parse(b"NOOP\0"), Err(CommandError::InvalidBytes));
        assert_eq!(
            Command::parse(b"NOOP \xff"),
            Err(CommandError::InvalidBytes)
        );
        assert_eq!(Command::parse(b"FROB"), Err(CommandError::Unrecognized));
        assert_eq!(
            Command::parse(b"EXPN list"),
            Err(CommandError::NotImplemented)
        );
        assert_eq!(
            Command::parse("MAÏL x".as_bytes()),
            Err(CommandError::Unrecognized)
        );
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            Command::parse(b"BDAT 10 last"),
            Ok(Command::Bdat {
                size: 10,
                last: true
            })
        );
        assert_eq!(
            Command::parse(b"BDAT 0"),
            Ok(Command::Bdat {
                size: 0,
                last: false
            })
        );
        assert!(Command::parse(b"BDAT x").is_err());
        assert!(Command::parse(b"BDAT 99999999999999999999").is_err());
        assert_eq!(
            Command::parse(b"AUTH plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            })
        );
        assert_eq!(Command::parse(b"DATA x"), Err(CommandError::Syntax("DATA")));
    }
}
