//! The policy file (RFC 8461 §3.2): `version`, `mode`, `mx` patterns and `max_age`, one
//! `key: value` per line, and whether an MX host matches it (§4.1).
//!
//! Sans-IO: the body fetched over HTTPS in, a [`Policy`] out.
//!
//! # Layout
//! - [`Policy`], [`Mode`]: the parsed policy.
//! - [`Policy::parse`]: the text; [`Policy::matches`]: one MX host name.

use std::fmt;
use std::time::Duration;

/// The largest `max_age` a policy may state (RFC 8461 §3.2): about one year.
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// What a sender does with a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS.
    Enforce,
    /// Deliver as without a policy; report what would have failed.
    Testing,
    /// The domain withdrew its policy: behave as without one.
    None,
}

impl Mode {
    /// The mode's name as the policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Testing => "testing",
            Self::None => "none",
        }
    }
}

/// A valid MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// MX patterns, lower case: a host name, or `*.` and a domain (one leftmost label).
    pub mx: Vec<String>,
    /// How long the policy may be cached, at most [`MAX_AGE_LIMIT`] seconds.
    pub max_age: Duration,
}

/// Why a policy text is not a valid policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A required field is missing.
    #[error("policy lacks {0}")]
    Missing(&'static str),
    /// A field appears more than once.
    #[error("policy repeats {0}")]
    Repeated(&'static str),
    /// A field's value is not one the RFC allows.
    #[error("invalid {0} in policy")]
    Invalid(&'static str),
}

impl Policy {
    /// Parses a policy body. Lines end in CRLF or LF; unknown keys are ignored (extensions);
    /// `version` must be `STSv1`; `mx` is required unless the mode is `none`.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the offending field.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "version" => set(&mut version, "version", value)?,
                "mode" => set(&mut mode, "mode", value)?,
                "max_age" => set(&mut max_age, "max_age", value)?,
                "mx" => mx.push(mx_pattern(value)?),
                _ => {}
            }
        }
        if version.ok_or(PolicyError::Missing("version"))? != "STSv1" {
            return Err(PolicyError::Invalid("version"));
        }
        let mode = match mode.ok_or(PolicyError::Missing("mode"))? {
            "enforce" => Mode::Enforce,
            "testing" => Mode::Testing,
            "none" => Mode::None,
            _ => return Err(PolicyError::Invalid("mode")),
        };
        let max_age = max_age.ok_or(PolicyError::Missing("max_age"))?;
        let seconds = (!max_age.is_empty() && max_age.len() <= 10)
            .then(|| max_age.parse::<u64>().ok())
            .flatten()
            .filter(|s| *s <= MAX_AGE_LIMIT)
            .ok_or(PolicyError::Invalid("max_age"))?;
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::Missing("mx"));
        }
        Ok(Self {
            mode,
            mx,
            max_age: Duration::from_secs(seconds),
        })
    }

    /// True when `host` (an MX host name, any case, trailing dot or not) matches one of the
    /// policy's patterns: equal, or `*.domain` with exactly one more label on the left.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

impl fmt::Display for Policy {
    /// The policy as its text (what the cache stores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "version: STSv1\r\nmode: {}\r\n", self.mode.as_str())?;
        for mx in &self.mx {
            write!(f, "mx: {mx}\r\n")?;
        }
        write!(f, "max_age: {}\r\n", self.max_age.as_secs())
    }
}

fn set<'a>(
    slot: &mut Option<&'a str>,
    name: &'static str,
    value: &'a str,
) -> Result<(), PolicyError> {
    if slot.replace(value).is_some() {
        return Err(PolicyError::Repeated(name));
    }
    Ok(())
}

/// An `mx` value, lower case without a trailing dot: a host name, or `*.` and a domain.
fn mx_pattern(value: &str) -> Result<String, PolicyError> {
    let pattern = value.trim_end_matches('.').to_ascii_lowercase();
    let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(pattern).ok_or(PolicyError::Invalid("mx"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
                           mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn the_rfc_example_parses() {
        let policy = Policy::parse(EXAMPLE).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(
            policy.mx,
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        assert_eq!(policy.max_age, Duration::from_secs(604_800));
        assert_eq!(Policy::parse(&policy.to_string()).unwrap(), policy);
    }

    #[test]
    fn lf_line_endings_and_unknown_keys_are_fine() {
        let text = "version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400\nx-ext: 1\n";
        let policy = Policy::parse(text).unwrap();
        assert_eq!(policy.mode, Mode::Testing);
        assert_eq!(policy.mx, ["mx.example.com"]);
    }

    #[test]
    fn invalid_policies_say_why() {
        let without = |key: &str| {
            EXAMPLE
                .lines()
                .filter(|l| !l.starts_with(key))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            Policy::parse(&without("version")),
            Err(PolicyError::Missing("version"))
        );
        assert_eq!(
            Policy::parse(&without("mode")),
            Err(PolicyError::Missing("mode"))
        );
        assert_eq!(
            Policy::parse(&without("max_age")),
            Err(PolicyError::Missing("max_age"))
        );
        assert_eq!(
            Policy::parse(&without("mx")),
            Err(PolicyError::Missing("mx"))
        );
        let none = "version: STSv1\nmode: none\nmax_age: 0\n";
        assert_eq!(Policy::parse(none).unwrap().mode, Mode::None);
        let bad = |from: &str, to: &str| Policy::parse(&EXAMPLE.replace(from, to));
        assert_eq!(bad("STSv1", "STSv2"), Err(PolicyError::Invalid("version")));
        assert_eq!(bad("enforce", "strict"), Err(PolicyError::Invalid("mode")));
        assert_eq!(
            bad("604800", "31557601"),
            Err(PolicyError::Invalid("max_age"))
        );
        assert_eq!(bad("604800", "-1"), Err(PolicyError::Invalid("max_age")));
        assert_eq!(
            bad("604800", "12345678901"),
            Err(PolicyError::Invalid("max_age"))
        );
        assert!(bad("604800", "31557600").is_ok());
        assert_eq!(
            bad("mail.example.com", "a..b"),
            Err(PolicyError::Invalid("mx"))
        );
        assert_eq!(
            Policy::parse(&format!("{EXAMPLE}mode: testing\n")),
            Err(PolicyError::Repeated("mode"))
        );
    }

    #[test]
    fn wildcards_match_exactly_one_leftmost_label() {
        let policy = Policy::parse(EXAMPLE).unwrap();
        assert!(policy.matches("mail.example.com"));
        assert!(policy.matches("MAIL.example.com."));
        assert!(policy.matches("mx1.example.net"));
        assert!(!policy.matches("example.net"), "the wildcard needs a label");
        assert!(!policy.matches("a.b.example.net"), "only one label");
        assert!(!policy.matches("other.example.com"));
        assert!(!policy.matches("mail.example.com.evil.org"));
    }
}
