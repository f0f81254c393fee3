//! One syslog message (RFC 3164, facility mail, tag `envoi[PID]`) per log event, sent to the
//! local syslog socket, with the severity of the event's level.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

type Connection = Logger<LoggerBackend, Formatter3164>;

/// Makes a writer per event; the event's line goes out when the writer is dropped.
pub struct Syslog {
    connection: Arc<Mutex<Connection>>,
}

impl Syslog {
    /// Connects to the syslog daemon's socket (`/dev/log`).
    ///
    /// # Errors
    /// Nothing listens there.
    pub fn connect(socket: &Path) -> anyhow::Result<Self> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_MAIL,
            hostname: None,
            process: "envoi".to_owned(),
            pid: std::process::id(),
        };
        let connection = syslog::unix_custom(formatter, socket)
            .with_context(|| format!("cannot reach syslog at {}", socket.display()))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = Message;

    fn make_writer(&'a self) -> Message {
        self.message(Level::INFO)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Message {
        self.message(*meta.level())
    }
}

impl Syslog {
    fn message(&self, level: Level) -> Message {
        Message {
            connection: self.connection.clone(),
            level,
            line: Vec::new(),
        }
    }
}

/// One event's line, sent when dropped.
pub struct Message {
    connection: Arc<Mutex<Connection>>,
    level: Level,
    line: Vec<u8>,
}

impl Write for Message {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A log line that cannot be delivered has nowhere else to go.
        let _ = match self.level {
            Level::ERROR => connection.err(text),
            Level::WARN => connection.warning(text),
            Level::INFO => connection.info(text),
            Level::DEBUG | Level::TRACE => connection.debug(text),
        };
    }
}
