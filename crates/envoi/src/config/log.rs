//! `[log]`: the line format, the level filter and where lines go.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// The level names a filter directive may use.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"text"` (default) or `"json"`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter, e.g. `"info"` or `"info,envoi_relay=debug"`. Default `info`.
    pub level: Option<String>,
    /// Where lines go: `"stderr"` (default), `"file"` (appended to `path`), `"syslog"`
    /// (facility mail, to `syslog_socket`; journald reads the same socket) or `"journald"`
    /// (the journal's native socket, each field its own journal field).
    #[serde(default)]
    pub output: LogOutput,
    /// The file for `output = "file"`.
    pub path: Option<PathBuf>,
    /// The local syslog socket for `output = "syslog"`. Default `/dev/log`.
    pub syslog_socket: Option<PathBuf>,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogOutput {
    /// Standard error (systemd's journal when run as a service).
    #[default]
    Stderr,
    /// Appended to `[log] path`.
    File,
    /// The local syslog daemon, facility mail.
    Syslog,
    /// systemd's journal, over its native protocol (`/run/systemd/journal/socket`): the
    /// message and every field as journal fields (`F_EVENT`, `F_ID`, ...), `SYSLOG_FACILITY`
    /// mail, `SYSLOG_IDENTIFIER` envoi. `format` does not apply.
    Journald,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogSection {
    /// Refuses a level the filter would not understand as one.
    ///
    /// tracing reads a bare unknown word such as `verbose` as "everything from the target
    /// `verbose`", which silences every line envoi writes; so each directive is either a level
    /// or `target=level`.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.output == LogOutput::File && self.path.is_none() {
            return Err("log.output = \"file\" needs log.path".to_owned());
        }
        let Some(level) = &self.level else {
            return Ok(());
        };
        for directive in level.split(',').map(str::trim) {
            check_directive(directive).map_err(|why| {
                format!(
                    "log.level {level:?}: {why} (expected one of {}, or target=level, \
                     e.g. \"info,envoi_relay=debug\")",
                    LEVELS.join(", ")
                )
            })?;
        }
        EnvFilter::try_new(self.filter())
            .map(drop)
            .map_err(|e| format!("log.level {level:?}: {e}"))
    }
}

impl LogSection {
    /// The filter to install: the configured directives without the spaces tracing would
    /// refuse, or `info`.
    pub fn filter(&self) -> String {
        match &self.level {
            Some(level) => level
                .split(',')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(","),
            None => "info".to_owned(),
        }
    }
}

fn check_directive(directive: &str) -> Result<(), String> {
    if directive.is_empty() {
        return Err("an empty directive".to_owned());
    }
    let (target, level) = match directive.rsplit_once('=') {
        Some((target, level)) => (Some(target.trim()), level.trim()),
        None => (None, directive),
    };
    if target == Some("") {
        return Err(format!("{directive:?} names no target"));
    }
    if !LEVELS.iter().any(|known| known.eq_ignore_ascii_case(level)) {
        return Err(format!("unknown level {level:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(level: &str) -> Result<(), String> {
        LogSection {
            level: Some(level.to_owned()),
            ..LogSection::default()
        }
        .validate()
    }

    #[test]
    fn levels_and_target_directives_are_accepted() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "info,envoi_relay=debug",
            "warn, envoi_queue=trace",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn an_unknown_level_is_refused_by_name() {
        let message = check("verbose").unwrap_err();
        assert!(message.contains("unknown level \"verbose\""), "{message}");
        let message = check("info,envoi_relay=loud").unwrap_err();
        assert!(message.contains("unknown level \"loud\""), "{message}");
        let message = check("info,,debug").unwrap_err();
        assert!(message.contains("empty directive"), "{message}");
        let message = check("=debug").unwrap_err();
        assert!(message.contains("names no target"), "{message}");
    }

    #[test]
    fn a_file_output_needs_a_path() {
        let section = LogSection {
            output: LogOutput::File,
            ..LogSection::default()
        };
        assert_eq!(
            section.validate(),
            Err("log.output = \"file\" needs log.path".to_owned())
        );
    }
}
