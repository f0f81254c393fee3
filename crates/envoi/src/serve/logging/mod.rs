//! Log output: one line per event, text or JSON, to standard error, a file or syslog; or one
//! journal entry per event, its fields as journal fields.
//!
//! # Layout
//! - this file: the subscriber, its filter and its output.
//! - `fields`: the text format's `key=value` fields, quoted where a value has spaces.
//! - `syslog`: one syslog message per event, severity from the event's level.

mod fields;
mod syslog;

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogOutput, LogSection};

/// Installs the global subscriber. `RUST_LOG` overrides the configured filter (which
/// `envoi config check` has validated).
///
/// # Errors
/// The log file cannot be opened for appending, or the syslog socket cannot be reached.
pub fn init(section: &LogSection) -> anyhow::Result<()> {
    match section.output {
        LogOutput::Stderr => {
            let ansi = std::io::stderr().is_terminal();
            install(section, std::io::stderr, ansi, true);
        }
        LogOutput::File => {
            let path = section.path.as_deref().unwrap_or(Path::new("envoi.log"));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the log file {}", path.display()))?;
            install(section, Mutex::new(file), false, true);
        }
        LogOutput::Syslog => {
            let socket = section
                .syslog_socket
                .as_deref()
                .unwrap_or(Path::new("/dev/log"));
            // syslog stamps each message itself.
            install(section, syslog::Syslog::connect(socket)?, false, false);
        }
        LogOutput::Journald => install_journald(section)?,
    }
    Ok(())
}

/// The journal's own layer: structured entries, not lines.
fn install_journald(section: &LogSection) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let journald = tracing_journald::layer()
        .context("cannot reach the journal at /run/systemd/journal/socket")?
        .with_syslog_identifier("envoi".to_owned())
        // Facility mail (2), as the syslog output uses.
        .with_custom_fields([("SYSLOG_FACILITY", "2")]);
    // A second init (tests calling main twice) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter(section))
        .with(journald)
        .try_init();
    Ok(())
}

/// `RUST_LOG` if set, else the configured filter.
fn filter(section: &LogSection) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(section.filter()))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

fn install<W>(section: &LogSection, writer: W, ansi: bool, time: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(section))
        .with_writer(writer)
        .with_target(false)
        .with_ansi(ansi);
    // A second init (tests calling main twice) is harmless: keep the first subscriber.
    let _ = match (section.format, time) {
        (LogFormat::Text, true) => builder.fmt_fields(fields::QuotedFields).try_init(),
        (LogFormat::Text, false) => builder
            .fmt_fields(fields::QuotedFields)
            .without_time()
            .try_init(),
        (LogFormat::Json, true) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Json, false) => builder.json().flatten_event(true).without_time().try_init(),
    };
}
